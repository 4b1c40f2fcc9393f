"""``plog run`` says what it cannot send, per operation, as ``plog gen`` does (issue 16),
in the terminal and in the report (issue 17)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.repos import commit_files, plog_run

SPEC = """\
openapi: 3.0.3
info: {title: mixed, version: "1"}
paths:
  /health:
    get:
      responses: {"200": {description: ok}}
  /pets:
    get:
      responses: {"200": {description: ok}}
  /uploads:
    post:
      requestBody:
        required: true
        content:
          application/vnd.plog.unknown: {schema: {type: string}}
      responses: {"201": {description: ok}}
"""

PLOG_YML = """\
version: 1
service:
  run: python app.py --port {port}
  health: /health
openapi: openapi.yaml
load:
  rate: 5
  duration: 2s
  operations: ["GET /pets", "POST /uploads"]
compare:
  mode: "off"
"""


def test_plog_run_warns_about_an_operation_it_cannot_send(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("mixed")
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    commit_files(repo, {"app.py": app, "openapi.yaml": SPEC, "plog.yml": PLOG_YML}, "mixed")
    done = plog_run(repo, plog_home)
    out = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    assert done.returncode in (0, 1), out
    assert "POST /uploads: not loaded" in out, out
    # The report keeps them: a reader of the report alone sees why an operation is missing.
    report = Path(done.stdout.split("report: ")[-1].strip()).read_text(encoding="utf-8")
    warnings = report.split("## Warnings", 1)[1].split("\n## ", 1)[0].replace("\\", "")
    assert "- POST /uploads: not loaded" in warnings, warnings
