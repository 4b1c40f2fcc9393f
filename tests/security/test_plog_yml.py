"""Hostile plog.yml files, as a pusher would write them (issue 15, kind 4 and its
"also tighten" items on caps and allow-lists).

Each one goes through the real ``plog validate`` (a subprocess), which runs the
same validation as ``plog run`` and the pre-receive hook: exit 2, and the
problem at ``plog.yml:LINE:COL: key: message (hint: ...)``. Then ``plog run``
and the pipeline: a ``report.dir`` that leaves the repository, in the text of
plog.yml or through a committed symlink, writes nothing outside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from plog_ci.pipeline import RunRequest, run
from testing.repos import FAST_PLOG_YML, commit_files

HEAD = "version: 1\nservice: {run: ./serve}\n"
SPEC = "openapi: openapi.yaml\n"

# (case, plog.yml after the service, the hostile token as written, key, message)
CASES: list[tuple[str, str, str, str, str]] = [
    # report.dir: where the worker writes the report.
    (
        "report_dir_dotdot",
        SPEC + "report: {dir: ../../../../tmp/x}\n",
        "../../../../tmp/x",
        "report.dir",
        "leaves the repository",
    ),
    (
        "report_dir_absolute",
        SPEC + "report: {dir: /tmp/x}\n",
        "/tmp/x",
        "report.dir",
        "is an absolute path",
    ),
    (
        "report_dir_inner_dotdot",
        SPEC + "report: {dir: plog-reports/../../x}\n",
        "plog-reports/../../x",
        "report.dir",
        "leaves the repository",
    ),
    (
        "report_dir_backslash",
        SPEC + "report: {dir: '..\\..\\x'}\n",
        "'..\\..\\x'",
        "report.dir",
        "leaves the repository",
    ),
    (
        "report_dir_home",
        SPEC + "report: {dir: ~/reports}\n",
        "~/reports",
        "report.dir",
        "names a home directory",
    ),
    (
        "report_dir_drive",
        SPEC + "report: {dir: 'C:\\temp'}\n",
        "'C:\\temp'",
        "report.dir",
        "is an absolute path",
    ),
    (
        "report_dir_git",
        SPEC + "report: {dir: .git/hooks}\n",
        ".git/hooks",
        "report.dir",
        "is inside .git",
    ),
    (
        "report_dir_nul",
        SPEC + 'report: {dir: "reports\\0x"}\n',
        '"reports\\0x"',
        "report.dir",
        "contains a NUL byte",
    ),
    ("report_dir_empty", SPEC + "report: {dir: ''}\n", "''", "report.dir", "is empty"),
    # The other paths: the spec, the service's directory, data files.
    (
        "openapi_dotdot",
        'openapi: "../../outside.yaml"\n',
        '"../../outside.yaml"',
        "openapi",
        "leaves the repository",
    ),
    (
        "openapi_absolute",
        "openapi: /etc/passwd\n",
        "/etc/passwd",
        "openapi",
        "is an absolute path",
    ),
    (
        "openapi_path_dotdot",
        "openapi: {path: ../spec.yaml}\n",
        "../spec.yaml",
        "openapi.path",
        "leaves the repository",
    ),
    (
        "data_absolute",
        SPEC + 'load:\n  overrides:\n    "GET /a": {data: /etc/shadow}\n',
        "/etc/shadow",
        "load.overrides.GET /a.data",
        "is an absolute path",
    ),
    (
        "data_dotdot",
        SPEC + 'load:\n  overrides:\n    "GET /a": {data: ../secrets.csv}\n',
        "../secrets.csv",
        "load.overrides.GET /a.data",
        "leaves the repository",
    ),
    # Allow-lists: never this machine, link-local or a metadata service.
    *[
        (
            f"openapi_allow_{name}",
            f"openapi: {{path: openapi.yaml, allow_hosts: [{host}]}}\n",
            host,
            "openapi.allow_hosts[0]",
            what,
        )
        for name, host, what in [
            ("metadata_ip", "169.254.169.254", "a cloud metadata address"),
            ("metadata_name", "metadata.google.internal", "a cloud metadata address"),
            ("localhost", "localhost", "a loopback address"),
            ("v6_loopback", "'[::1]'", "a loopback address"),
            ("link_local", "169.254.10.1", "a link-local address"),
        ]
    ],
    *[
        (
            f"load_allow_{name}",
            SPEC + f"load: {{allow_hosts: [api.internal, {host}]}}\n",
            host,
            "load.allow_hosts[1]",
            what,
        )
        for name, host, what in [
            ("loopback", "127.0.0.1", "a loopback address"),
            ("loopback_other", "127.0.0.2", "a loopback address"),
            ("decimal", "'2130706433'", "a loopback address"),
            ("short", "'127.1'", "a loopback address"),
            ("mapped", "'::ffff:127.0.0.1'", "a loopback address"),
            ("unspecified", "0.0.0.0", "the unspecified address"),
            ("link_local_v6", "'fe80::1'", "a link-local address"),
            ("aws_v6_metadata", "'fd00:ec2::254'", "a cloud metadata address"),
            ("with_port", "'localhost:8080'", "a loopback address"),
            ("subdomain", "app.localhost", "a loopback address"),
        ]
    ],
    # Caps: every way of writing the test's length, and the hard cap on caps.duration.
    (
        "stages_over_default_cap",
        SPEC + "load:\n  stages: [{duration: 4h, target: 1}, {duration: 3h, target: 1}]\n",
        "stages",
        "load.stages",
        "the stages add up to 7h, over the cap of 6h",
    ),
    (
        "stages_over_own_cap",
        SPEC + "load:\n  caps: {duration: 10s}\n  stages: [{duration: 20s, target: 1}]\n",
        "stages",
        "load.stages",
        "the stages add up to 20s, over the cap of 10s",
    ),
    (
        "caps_duration_over_hard_cap",
        SPEC + "load:\n  caps: {duration: 1000h}\n  duration: 999h\n",
        "1000h",
        "load.caps.duration",
        "is over the hard cap of 6h",
    ),
    (
        "duration_over_hard_cap",
        SPEC + "load:\n  duration: 7h\n",
        "7h",
        "load.duration",
        "the test lasts 7h, over the cap of 6h",
    ),
]
# The service's directory lives in the service mapping (``_text`` writes it there).
CASES += [
    (
        "workdir_dotdot",
        "",
        "../../etc",
        "service.workdir",
        "leaves the repository",
    ),
    (
        "workdir_absolute",
        "",
        "/srv",
        "service.workdir",
        "is an absolute path",
    ),
]


def _text(case: str, body: str, token: str) -> str:
    if case.startswith("workdir"):
        return f"version: 1\nservice: {{run: ./serve, workdir: {token}}}\n{SPEC}"
    return HEAD + body


def _position(text: str, token: str) -> str:
    offset = text.index(token)
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{col}"


def plog(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("case", "body", "token", "key", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_plog_validate_refuses(
    tmp_path: Path, case: str, body: str, token: str, key: str, message: str
) -> None:
    text = _text(case, body, token)
    (tmp_path / "plog.yml").write_text(text, encoding="utf-8")
    result = plog("validate", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    where = _position(text, token)
    lines = [line for line in result.stderr.splitlines() if line.startswith("plog.yml:")]
    assert any(
        line.startswith(f"plog.yml:{where}: {key}: ") and message in line and "(hint: " in line
        for line in lines
    ), result.stderr


def test_corpus_size() -> None:
    assert len(CASES) >= 30


def _outside_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_plog_run_refuses_a_report_dir_escape_before_anything_runs(
    petstore_repo: Path, tmp_path: Path
) -> None:
    target = tmp_path / "escaped"
    relative = os.path.relpath(target, petstore_repo)
    commit_files(petstore_repo, {"plog.yml": FAST_PLOG_YML + f"report: {{dir: {relative}}}\n"})
    result = plog("run", "--repo", str(petstore_repo), cwd=petstore_repo)
    out = " ".join((result.stdout + result.stderr).split())  # the console wraps lines
    assert result.returncode == 2, out
    assert f"report.dir: '{relative}' leaves the repository" in out
    assert not target.exists()
    commit_files(petstore_repo, {"plog.yml": FAST_PLOG_YML + f"report: {{dir: {target}}}\n"})
    result = plog("run", "--repo", str(petstore_repo), cwd=petstore_repo)
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, out
    assert "report.dir: " in out and "is an absolute path" in out
    assert not target.exists()


@pytest.mark.slow
def test_a_committed_symlink_report_dir_writes_nothing_outside(
    petstore_repo: Path, tmp_path: Path
) -> None:
    """plog.yml's text is fine (``plog-reports``), but the repository commits
    ``plog-reports`` as a symlink out of it: refused where the report is written."""
    target = tmp_path / "outside"
    target.mkdir()
    (petstore_repo / "plog-reports").symlink_to(target)
    commit_files(petstore_repo, {"plog.yml": FAST_PLOG_YML + "report: {dir: plog-reports}\n"})
    outcome = run(RunRequest(repo=petstore_repo, head="HEAD"))
    assert outcome.exit_code == 2, outcome.summary
    assert "report.dir: 'plog-reports' resolves to" in outcome.summary
    assert "outside" in outcome.summary
    assert _outside_files(target) == []
