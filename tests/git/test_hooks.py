"""Server-side hooks with real bare repositories and real `git push`."""

from __future__ import annotations

import os
import sqlite3
import sys

import pytest
from click.testing import CliRunner

from plog_ci.cli import cli
from plog_ci.forge import Report
from plog_ci.forge.local import LocalForge
from plog_ci.hook_install import install_hooks, uninstall_hooks
from plog_ci.queue import Queue
from testing.git_server import INVALID_PLOG, VALID_PLOG, GitSetup


def _out(result: object) -> str:
    return (result.stdout + result.stderr).decode("utf-8", "replace")  # type: ignore[attr-defined]


def _verdict(setup: GitSetup, sha: str, result: str) -> None:
    LocalForge(setup.bare).publish(
        Report(result=result, profile="load", summary="p95 120ms", markdown="# r\n", head=sha)
    )


def test_install_is_idempotent_and_uninstall_removes(git_setup: GitSetup) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["hooks", "install", str(git_setup.bare), "--protect", "main"])
    assert res.exit_code == 0, res.output
    hook = git_setup.bare / "hooks" / "pre-receive"
    first = hook.read_text()
    assert "plog-ci-managed-hook" in first and "--protect=main" in first
    assert os.access(hook, os.X_OK)
    assert (
        runner.invoke(cli, ["hooks", "install", str(git_setup.bare), "--protect", "main"]).exit_code
        == 0
    )
    assert hook.read_text() == first
    assert not (git_setup.bare / "hooks" / "pre-receive.legacy").exists()
    res = runner.invoke(cli, ["hooks", "uninstall", str(git_setup.bare)])
    assert res.exit_code == 0 and not hook.exists()


def test_existing_hooks_are_chained_not_overwritten(git_setup: GitSetup) -> None:
    hooks = git_setup.bare / "hooks"
    marker = git_setup.home.parent / "legacy-ran"
    legacy = hooks / "post-receive"
    legacy.write_text(f"#!/bin/sh\ncat > '{marker}'\n")
    legacy.chmod(0o755)
    install_hooks(git_setup.bare)
    assert (hooks / "post-receive.legacy").exists()
    sha = git_setup.commit("one")
    git_setup.push("main")
    # The old hook got git's exact input, and PLog still queued the job.
    assert marker.read_text().split() == ["0" * 40, sha, "refs/heads/main"]
    assert len(Queue().jobs()) == 1
    uninstall_hooks(git_setup.bare)
    assert legacy.read_text().startswith("#!/bin/sh\ncat")


def test_failing_legacy_pre_receive_still_rejects(git_setup: GitSetup) -> None:
    legacy = git_setup.bare / "hooks" / "pre-receive"
    legacy.write_text("#!/bin/sh\necho 'house rules say no' >&2\nexit 1\n")
    legacy.chmod(0o755)
    install_hooks(git_setup.bare)
    git_setup.commit("one")
    res = git_setup.push("main", check=False)
    assert res.returncode != 0 and "house rules say no" in _out(res)


def test_push_queues_one_job_per_branch_and_tells_the_pusher(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    sha = git_setup.commit("one")
    res = git_setup.push("main")
    out = _out(res)
    assert "plog: job 1 queued: refs/heads/main" in out
    assert "git log --notes=plog" in out
    (job,) = Queue().jobs()
    assert job.spec.head == sha and job.spec.branch == "main" and job.spec.base is None
    assert job.spec.repo == os.path.realpath(git_setup.bare)
    sha2 = git_setup.commit("two")
    git_setup.push("main")
    job2 = Queue().jobs()[-1]
    assert job2.spec.head == sha2 and job2.spec.base == sha


def test_invalid_plog_yml_rejects_the_push_with_positions(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    git_setup.commit("bad", plog=INVALID_PLOG)
    res = git_setup.push("main", check=False)
    out = _out(res)
    assert res.returncode != 0
    assert "plog.yml:3:3: service.runx: unknown key 'runx'" in out
    assert "plog.yml:2:1:" in out
    assert git_setup.bare_git("rev-parse", "--verify", "-q", "main", check=False).returncode != 0
    assert Queue().jobs() == []


def test_non_utf8_plog_yml_is_rejected_with_its_position(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    git_setup.commit("latin-1", plog=b"version: 1\nservice: {run: caf\xe9}\nopenapi: o.yaml\n")
    res = git_setup.push("main", check=False)
    assert res.returncode != 0
    assert "plog.yml:2:19: not UTF-8 text" in _out(res)


def test_deletions_tags_and_repos_without_plog_yml_queue_nothing(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    git_setup.commit("one")
    git_setup.push("main", "main:feature")
    assert len(Queue().jobs()) == 1  # the same commit and config: one job
    git_setup.git("tag", "v1")
    git_setup.push("v1")
    git_setup.push(":feature")
    git_setup.git("rm", "-q", "plog.yml")
    git_setup.git("commit", "-q", "-m", "no plog")
    res = git_setup.push("main")
    assert "no plog.yml" in _out(res)
    assert len(Queue().jobs()) == 1


def test_force_push_supersedes_the_waiting_job(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    first = git_setup.commit("one")
    git_setup.push("main")
    git_setup.git("commit", "-q", "--amend", "-m", "rewritten")
    rewritten = git_setup.git("rev-parse", "HEAD").stdout.decode().strip()
    git_setup.push("+main")
    jobs = {j.spec.head: j for j in Queue().jobs()}
    assert jobs[first].state == "cancelled"
    assert jobs[rewritten].state == "pending"
    assert jobs[rewritten].spec.base is None  # not a descendant: compare with its parent


@pytest.mark.parametrize(
    "name",
    [
        b"--upload-pack=x",
        b"-b",
        b"$(id)",
        b'zzz";echo${IFS}"hello";#',
        b"n" * 244,  # 255 bytes with "refs/heads/"
        b"caf\xe9-\xff",
    ],
)
def test_hostile_branch_names(git_setup: GitSetup, name: bytes) -> None:
    install_hooks(git_setup.bare)
    git_setup.commit("one")
    res = git_setup.push(b"HEAD:refs/heads/" + name)
    out = _out(res)
    assert "uid=" not in out and "\nhello" not in out
    (job,) = Queue().jobs()
    assert os.fsencode(job.spec.branch or "") == name
    assert git_setup.bare_git("for-each-ref", "--format=%(refname)").stdout.strip() == (
        b"refs/heads/" + name
    )


def test_protected_branch_refuses_a_failed_head(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare, protect=["main"])
    bad = git_setup.commit("slow")
    git_setup.push("HEAD:feature")
    _verdict(git_setup, bad, "fail")
    res = git_setup.push("HEAD:main", check=False)
    assert res.returncode != 0 and "failed its PLog performance gate" in _out(res)
    # Untested heads pass without --strict.
    git_setup.commit("fixed")
    git_setup.push("HEAD:main")


def test_protected_branch_may_look_like_an_option(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare, protect=["-b"])
    bad = git_setup.commit("slow")
    git_setup.push("HEAD:feature")
    _verdict(git_setup, bad, "fail")
    res = git_setup.push("HEAD:refs/heads/-b", check=False)
    assert res.returncode != 0 and "failed its PLog performance gate" in _out(res)


def test_strict_refuses_untested_heads(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare, protect=["main"], strict=True)
    sha = git_setup.commit("one")
    git_setup.push("HEAD:feature")
    res = git_setup.push("HEAD:main", check=False)
    assert res.returncode != 0 and "no passing PLog verdict" in _out(res)
    _verdict(git_setup, sha, "pass")
    git_setup.push("HEAD:main")


def test_pushes_to_plog_refs_are_refused(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    git_setup.commit("one")
    res = git_setup.push("HEAD:refs/heads/plog-reports", check=False)
    assert res.returncode != 0 and "belongs to PLog" in _out(res)


def test_locked_queue_spools_and_the_push_goes_through(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    q = Queue()
    q.counts()  # creates the database
    blocker = sqlite3.connect(q.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        sha = git_setup.commit("one")
        res = git_setup.push("main")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert "spooled" in _out(res)
    assert q.jobs() == []
    assert len(q.ingest_spool()) == 1
    assert q.jobs()[0].spec.head == sha


def test_broken_plog_lets_the_push_through_with_a_warning(git_setup: GitSetup) -> None:
    home_file = git_setup.home.parent / "not-a-dir"
    home_file.write_text("")
    install_hooks(git_setup.bare, home=home_file)
    git_setup.commit("one")
    res = git_setup.push("main")
    assert "plog: warning: PLog failed" in _out(res)
    assert git_setup.bare_git("rev-parse", "main").returncode == 0


def test_missing_plog_install_warns_or_blocks_when_strict(git_setup: GitSetup) -> None:
    gone = str(git_setup.home.parent / "gone" / "python")
    install_hooks(git_setup.bare, python=gone)
    git_setup.commit("one")
    res = git_setup.push("main")
    assert "is missing; PLog checks skipped" in _out(res)
    install_hooks(git_setup.bare, python=gone, strict=True)
    git_setup.commit("two")
    assert git_setup.push("main", check=False).returncode != 0
    install_hooks(git_setup.bare, python=sys.executable)
    git_setup.push("main")


def test_fixture_plog_yml_is_valid(git_setup: GitSetup) -> None:
    # The fixture's plog.yml really is valid (guards the tests above).
    from plog_ci.config import parse_config

    assert parse_config(VALID_PLOG).service.run == "python app.py"


def test_unknown_hook_arguments_never_block_a_push(capsys: pytest.CaptureFixture[str]) -> None:
    from plog_ci.githooks import main

    assert main(["pre-receive", "--from-a-newer-plog"]) == 0
    assert "bad hook arguments" in capsys.readouterr().err
    assert main(["pre-receive", "--strict", "--from-a-newer-plog"]) == 1
