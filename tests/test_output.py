"""What commands print reaches the reader as written: no emoji codes, no wrapping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from testing.paths import ROOT


def test_a_place_at_line_100_is_printed_as_written(tmp_path: Path) -> None:
    paths = "".join(
        f"  /p{i}:\n    get:\n      responses: {{'200': {{description: ok}}}}\n" for i in range(31)
    )
    far = "/".join(["far"] * 30)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"
        + paths
        + f"  /bad:\n    get:\n      responses:\n        '200': {{$ref: '../../{far}.yaml'}}\n",
        encoding="utf-8",
    )
    assert spec.read_text(encoding="utf-8").splitlines()[99].startswith("        '200'")
    done = subprocess.run(
        [sys.executable, "-m", "plog_ci", "gen", str(spec), "-o", str(tmp_path / "x.js")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert f"spec.yaml:100:23: $ref '../../{far}.yaml'" in line  # one line, no emoji
    assert "\U0001f4af" not in done.stderr
