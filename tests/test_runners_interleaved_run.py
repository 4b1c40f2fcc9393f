"""``load.runners: 2`` with a base beside the head through the whole ``plog run``
(issue 21): the interleaved comparison runs as two k6 execution segments (their
argv read through a PLOG_K6 wrapper) and gives the verdict one k6 gives on a large
slowdown, fixed length and adaptive (stopping early stops both runners)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.repos import commit_files, plog_run

# Latencies of real load decide these tests: alone among load tests (tests/conftest.py).
pytestmark = pytest.mark.timing

PLOG_YML = """\
version: 1
service:
  run: python app.py --port {{port}}
  health: /health
openapi: openapi.yaml
load:
  rate: 30
  duration: {duration}
  runners: 2
  operations: ["GET /pets", "GET /pets/{{petId}}"]
gates:
  - error_rate < 1%
  - p95 <= +20%
compare:
  mode: interleaved
  blocks: {blocks}
{extra}"""


def _run(
    new_repo: Callable[..., Path], home: Path, tmp_path: Path, yml: str
) -> tuple[int, str, list[list[str]]]:
    """``plog run`` of a base and a head 40 ms slower on GET /pets; exit code, output and
    report, and each k6 process's argv."""
    from bench.verdict_quality import slowed_app

    k6 = need_k6()
    log = tmp_path / "k6-argv.log"
    wrapper = tmp_path / "k6-wrapper"
    wrapper.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\nexec {shlex.quote(k6)} "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    repo = new_repo("runners-ab")
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    files: dict[str, str | bytes] = {
        "app.py": app,
        "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8"),
        "plog.yml": yml,
    }
    commit_files(repo, files, "base")
    # +40 ms: far beyond what a busy neighbour adds to a base block p95 of a few ms
    commit_files(repo, {"app.py": slowed_app(app, 10.0, 4.0)}, "head")
    done = plog_run(repo, home, {"PLOG_K6": str(wrapper)}, timeout=180)
    output = done.stdout + done.stderr
    run_id = int(re.findall(r"run(\d+)\.md", done.stdout)[-1])
    report = next(home.rglob(f"*run{run_id}.md"), None) or next(repo.rglob(f"*run{run_id}.md"))
    lines = log.read_text(encoding="utf-8").splitlines()
    argv = [line.split() for line in lines if line.startswith("run ")]  # not 'k6 version'
    return done.returncode, output + report.read_text(encoding="utf-8"), argv


def _segments(argv: list[list[str]]) -> list[str]:
    return sorted(a[a.index("--execution-segment") + 1] for a in argv if "run" in a)


@pytest.mark.slow
def test_interleaved_with_two_runners_fails_a_large_slowdown(
    new_repo: Callable[..., Path], plog_home: Path, tmp_path: Path
) -> None:
    yml = PLOG_YML.format(duration="10s", blocks=10, extra="")  # 8 pairs cannot reach 0.01/2
    code, text, argv = _run(new_repo, plog_home, tmp_path, yml)
    assert _segments(argv) == ["0:1/2", "1/2:1"], argv  # one interleaved script, 2 segments
    assert all("--no-thresholds" in a for a in argv), argv
    assert code != 0, text
    assert "10 interleaved rounds" in text, text
    assert re.search(r"p95 <= \+20%.*GET /pets\b", text, re.S), text


@pytest.mark.slow
def test_adaptive_with_two_runners_decides_early_and_stops_both(
    new_repo: Callable[..., Path], plog_home: Path, tmp_path: Path
) -> None:
    extra = "  length: adaptive\n  max_duration: 32s\n"
    yml = PLOG_YML.format(duration="16s", blocks=16, extra=extra)
    code, text, argv = _run(new_repo, plog_home, tmp_path, yml)
    assert _segments(argv) == ["0:1/2", "1/2:1"], argv
    assert code != 0, text
    found = re.search(
        r"(?:decided|stopped) after (\d+) s(?: on a regression)?: "
        r"GET /pets \+\d+% \[\+\d+%, \+\d+%\]",
        text,
    )
    assert found is not None, text
    assert 8 <= int(found[1]) < 16
    assert "aborted" not in text.lower() and "stopped the test early" not in text
