"""The pre-receive hook checks the operations plog.yml names against the spec committed
at the pushed head (issue 16, item 6), with real bare repositories and real ``git push``.

Field cases: tests/data/field-cases/gate-names/.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from plog_ci.hook_install import install_hooks
from testing.git_server import GitSetup

CASES = Path(__file__).parent.parent / "data" / "field-cases" / "gate-names"
SPEC = (CASES / "openapi.yaml").read_bytes()
UNKNOWN = (CASES / "plog.unknown-operation.yml").read_bytes()
RENAMED = (CASES / "plog.renamed-param.yml").read_bytes()


def _out(result: subprocess.CompletedProcess[bytes]) -> str:
    return (result.stdout + result.stderr).decode("utf-8", "replace")


def _pushed(setup: GitSetup) -> bool:
    return setup.bare_git("rev-parse", "--verify", "-q", "main", check=False).returncode == 0


def test_a_gate_on_an_operation_the_spec_lacks_rejects_the_push(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    (git_setup.work / "openapi.yaml").write_bytes(SPEC)
    git_setup.commit("unknown", plog=UNKNOWN)
    res = git_setup.push("main", check=False)
    assert res.returncode != 0
    assert (
        "plog.yml:10:43: gates[0].operation: 'GET /jobs/{id}:cancel' is not an operation of "
        "openapi.yaml (hint: did you mean 'POST /jobs/{jobId}:cancel' or 'GET /jobs/{jobId}'?)"
    ) in _out(res)
    assert not _pushed(git_setup)


def test_renamed_parameters_pass_and_a_spec_change_is_checked_again(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    (git_setup.work / "openapi.yaml").write_bytes(SPEC)
    git_setup.commit("renamed", plog=RENAMED)
    git_setup.push("main")
    # plog.yml unchanged, the operation it names gone from the spec: checked again.
    (git_setup.work / "openapi.yaml").write_bytes(SPEC.replace(b"    get:", b"    put:"))
    git_setup.commit("spec changed", plog=RENAMED)
    res = git_setup.push("main", check=False)
    assert res.returncode != 0
    assert "plog.yml:10:37: gates[0].operation: 'GET /jobs/{id}' is not an operation" in _out(res)


def test_a_spec_the_hook_cannot_load_is_a_warning_not_a_rejection(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    git_setup.commit("no spec", plog=RENAMED)  # openapi.yaml was never committed
    res = git_setup.push("main")
    assert "plog: warning: refs/heads/main at " in _out(res)
    assert "the operations plog.yml names were not checked: cannot load the spec" in _out(res)
    assert _pushed(git_setup)
