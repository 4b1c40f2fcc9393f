"""The plog command as a user runs it: exit codes and output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
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


def test_validate_warns_when_adaptive_has_no_relative_gate_to_follow(tmp_path: Path) -> None:
    (tmp_path / "openapi.yaml").write_bytes((EXAMPLE / "openapi.yaml").read_bytes())
    yml = (EXAMPLE / "plog.yml").read_text(encoding="utf-8")
    only_absolute = yml.replace("  - p95 <= +20%", "  - rps >= 1").replace(
        "report:", "compare:\n  length: adaptive\nreport:"
    )
    (tmp_path / "plog.yml").write_text(only_absolute, encoding="utf-8")
    result = plog("validate", str(tmp_path / "plog.yml"))
    assert result.returncode == 0, result.stderr
    assert (
        f"{tmp_path / 'plog.yml'}:19:11: compare.length: warning: compare.length adaptive: "
        "no relative gate on p50, p95, p99 or rps" in result.stderr
    )
    assert "e.g. 'p95 <= +10%', or set length: fixed" in result.stderr
    with_gate = yml.replace("report:", "compare:\n  length: adaptive\nreport:")
    (tmp_path / "plog.yml").write_text(with_gate, encoding="utf-8")
    result = plog("validate", str(tmp_path / "plog.yml"))
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr


def test_validate_checks_the_helm_chart_and_values_files_in_the_tree(tmp_path: Path) -> None:
    # They used to fail only at deploy, after the image was built and pushed.
    (tmp_path / "openapi.yaml").write_bytes((EXAMPLE / "openapi.yaml").read_bytes())
    yml = (
        (EXAMPLE / "plog.yml")
        .read_text(encoding="utf-8")
        .replace(
            "report:",
            "deploy:\n  target: helm\n  registry: {url: registry.example.com, repository: a/b}\n"
            "  helm:\n    chart: deploy/chart\n    values_files: [deploy/values-ci.yaml]\nreport:",
        )
    )
    (tmp_path / "plog.yml").write_text(yml, encoding="utf-8")
    result = plog("validate", str(tmp_path / "plog.yml"))
    assert result.returncode == 2
    assert "deploy.helm.chart: 'deploy/chart' has no Chart.yaml" in result.stderr
    chart = tmp_path / "deploy" / "chart"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: svc\nversion: 0.1.0\n")
    result = plog("validate", str(tmp_path / "plog.yml"))
    assert result.returncode == 2
    assert "deploy.helm.values_files[0]: 'deploy/values-ci.yaml' is not a file" in result.stderr
    (tmp_path / "deploy" / "values-ci.yaml").write_text("- not a map\n")
    result = plog("validate", str(tmp_path / "plog.yml"))
    assert result.returncode == 2 and "is not a map of values" in result.stderr
    (tmp_path / "deploy" / "values-ci.yaml").write_text("replicaCount: 2\n")
    result = plog("validate", str(tmp_path / "plog.yml"))
    assert result.returncode == 0, result.stderr


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
    # It ends with the dashboard of its runs: the command, as printed, serves them.
    home = tmp_path / "demo" / "plog-home"
    tail = result.stdout[result.stdout.index("the dashboard of these runs:") :].splitlines()
    assert tail[1].strip() == f"plog serve --no-webhook --home {home}"
    assert [t.strip() for t in tail[2:4]] == [
        "http://127.0.0.1:8787/runs/1",
        "http://127.0.0.1:8787/runs/2",
    ]
    argv = [*tail[1].split()[1:], "--port", "0"]  # any free port: 8787 may be taken here
    served = subprocess.Popen(
        [sys.executable, "-m", "plog_ci", *argv], stdout=subprocess.PIPE, text=True
    )
    try:
        assert served.stdout is not None
        first = served.stdout.readline()  # "plog serve: listening on http://127.0.0.1:PORT"
        base = first.split()[-1]
        page = httpx.get(f"{base}/runs/2", timeout=10)
        assert page.status_code == 200 and "GET /pets/{petId}" in page.text
        assert "gate-failed" in page.text  # the failed gate, highlighted
        assert httpx.post(f"{base}/webhook", content=b"{}", timeout=10).status_code == 503
    finally:
        served.terminate()
        served.wait(timeout=10)


# -- usage errors: numeric options (issue 16, item 7) -------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rate", "-5"), "Invalid value for '--rate': -5.0 is not in the range x>0."),
        (("--rate", "0"), "Invalid value for '--rate': 0.0 is not in the range x>0."),
        (("--rate", "nan"), "Invalid value for '--rate': 'nan' is not a finite number."),
        (("--rate", "inf"), "Invalid value for '--rate': 'inf' is not a finite number."),
        (("--vus", "0"), "Invalid value for '--vus': 0 is not in the range x>=1."),
        (("--parallelism", "-1"), "Invalid value for '--parallelism': -1 is not in the range"),
        (("--duration", "0s"), "Invalid value for --duration: '0s' is no time at all"),
    ],
)
def test_gen_refuses_numbers_that_are_no_rate_or_count(args: tuple[str, ...], message: str) -> None:
    result = plog("gen", str(EXAMPLE / "openapi.yaml"), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert result.stdout == ""


# -- crashes exit 3 with the trace, never 1 (issue 16, item 7) ------------------------

SECRET = "s3cr3t-in-a-crash-4f9a"
ENV_SECRET = "env-held-token-77c1e2"


def _crash(*args: object, **kwargs: object) -> None:
    raise RuntimeError(f"boom while holding {SECRET} and {ENV_SECRET}")


def _main(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    from plog_ci import cli

    monkeypatch.setattr(sys, "argv", ["plog", *argv])
    monkeypatch.setattr("signal.signal", lambda *a: None)  # keep pytest's SIGTERM handler
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["gen", str(EXAMPLE / "openapi.yaml")], "plog_ci.openapi.load.load_spec_file"),
        (["validate", str(EXAMPLE / "plog.yml")], "plog_ci.config.load_config"),
        (
            ["diff", str(EXAMPLE / "openapi.yaml"), str(EXAMPLE / "openapi.yaml")],
            "plog_ci.openapi.diff.diff_specs",
        ),
        (["history", "--format", "json"], "plog_ci.commands.history.open_existing_store"),
    ],
    ids=["gen", "validate", "diff", "history"],
)
def test_a_crash_in_a_command_exits_3_with_the_trace_and_no_secret(
    argv: list[str],
    target: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from plog_ci.redaction import register_secret

    register_secret(SECRET)
    monkeypatch.setenv("PLOG_TEST_API_TOKEN", ENV_SECRET)
    monkeypatch.setattr(target, _crash)
    assert _main(argv, monkeypatch) == 3
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "in _crash" in err and "RuntimeError: boom while holding *** and ***" in err
    assert "error: internal error: RuntimeError" in err
    assert SECRET not in err and ENV_SECRET not in err


def test_a_crash_in_plog_run_exits_3_with_the_trace(
    petstore_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from plog_ci.redaction import register_secret

    register_secret(SECRET)
    monkeypatch.setattr("plog_ci.pipeline.make_plan", _crash)
    assert _main(["run", "--repo", str(petstore_repo)], monkeypatch) == 3
    captured = capsys.readouterr()
    assert "Traceback (most recent call last):" in captured.err
    assert SECRET not in captured.err + captured.out
    assert "internal error: RuntimeError" in captured.out + captured.err


def test_a_crash_exits_3_from_a_real_process(tmp_path: Path) -> None:
    # The same path through the installed entry point, in a process of its own.
    code = (
        "import sys, plog_ci.openapi.load as l\n"
        "def crash(*a, **k): raise KeyError('no such thing')\n"
        "l.load_spec_file = crash\n"
        "from plog_ci.cli import main\n"
        f"sys.argv = ['plog', 'gen', {str(EXAMPLE / 'openapi.yaml')!r}]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 3, result.stderr
    assert "KeyError: 'no such thing'" in result.stderr
    assert "hint: this is a bug in PLog" in result.stderr
