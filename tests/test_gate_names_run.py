"""The gate-names field cases through a real ``plog run`` (issue 16, item 6): a real git
repository, the field case's Jobs API as the service, real k6.

Before: the gate on ``GET /jobs/{id}`` (the spec says ``{jobId}``) was left out of
the script and the run said NO VERDICT, exit 0. Right: it judges ``GET
/jobs/{jobId}``, whose p95 (about 10 ms) breaks the 1 ms gate: FAIL, exit 1. A
gate on an operation the spec lacks stops the run before anything is deployed:
exit 2 with plog.yml:LINE:COL and a did-you-mean.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from testing.repos import commit_files

CASES = Path(__file__).parent / "data" / "field-cases" / "gate-names"


def _repo(new_repo: Callable[..., Path], plog_yml: str) -> Path:
    repo = new_repo("jobs")
    commit_files(
        repo,
        {
            "app.py": (CASES / "app.py").read_text(encoding="utf-8"),
            "openapi.yaml": (CASES / "openapi.yaml").read_text(encoding="utf-8"),
            "plog.yml": (CASES / plog_yml).read_text(encoding="utf-8"),
        },
        "jobs api",
    )
    return repo


def _run(repo: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "plog_ci", "run", "--repo", str(repo)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_gate_on_a_renamed_parameter_judges_the_specs_operation(
    new_repo: Callable[..., Path],
) -> None:
    repo = _repo(new_repo, "plog.renamed-param.yml")
    result = _run(repo)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert result.stdout.startswith("FAIL"), out
    assert "gate p95 < 1ms [GET /jobs/{jobId}] failed on GET /jobs/{jobId}: p95 = " in " ".join(
        result.stdout.split()
    )
    assert "no requests measured" not in out


def test_gate_on_an_unknown_operation_stops_the_run_before_any_load(
    new_repo: Callable[..., Path],
) -> None:
    repo = _repo(new_repo, "plog.unknown-operation.yml")
    result = _run(repo)  # nothing is deployed nor loaded
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, out
    assert (
        "plog.yml:10:43: gates[0].operation: 'GET /jobs/{id}:cancel' is not an operation of "
        "openapi.yaml (hint: did you mean 'POST /jobs/{jobId}:cancel' or 'GET /jobs/{jobId}'?)"
    ) in out
    assert not (repo / "plog-reports").exists()
