"""Hostile pushes against the hooks (issue 15, kind 3): PLog's refs and gate are out of reach.

Real bare repositories in tmp dirs, hooks written by the real ``plog hooks install``
(a subprocess), real ``git push``. Every case asserts the refusal (exit status),
the message, and that nothing changed on the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from plog_ci.forge import Report
from plog_ci.forge.local import LocalForge
from plog_ci.forge.notes import NOTES_REF, REPORTS_REF
from plog_ci.hook_install import install_hooks
from plog_ci.queue import Queue
from testing.git_server import GitSetup

OWN = (NOTES_REF, REPORTS_REF)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitSetup:
    home = tmp_path / "plog-home"
    home.mkdir()
    monkeypatch.setenv("PLOG_HOME", str(home))
    s = GitSetup(tmp_path / "server.git", tmp_path / "work", home)
    s.git("init", "-q", "--bare", str(s.bare), cwd=tmp_path)
    s.git("init", "-q", "-b", "main", str(s.work), cwd=tmp_path)
    return s


def _out(res: subprocess.CompletedProcess[bytes]) -> str:
    return (res.stdout + res.stderr).decode("utf-8", "replace")


def _plog(s: GitSetup, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PLOG_HOME": str(s.home)}
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args], capture_output=True, env=env, timeout=120
    )


def _install(s: GitSetup, *args: str) -> None:
    res = _plog(s, "hooks", "install", str(s.bare), *args)
    assert res.returncode == 0, _out(res)


def _refs(s: GitSetup) -> bytes:
    """Every ref on the server and where it points."""
    return s.bare_git("for-each-ref", "--format=%(objectname) %(refname)").stdout


def _publish(s: GitSetup, sha: str, result: str) -> None:
    """What the worker does with a verdict: written in the bare repository, no push."""
    LocalForge(s.bare).publish(
        Report(result=result, profile="load", summary="p95 412ms", markdown="# r\n", head=sha)
    )


def _refused(res: subprocess.CompletedProcess[bytes], ref: str, action: str) -> None:
    out = _out(res)
    assert res.returncode != 0, out
    assert "plog: push rejected" in out
    assert f"{ref}: belongs to PLog" in out
    assert f"a push may not {action} it" in out
    assert "Only PLog's worker writes it" in out


def _tested_server(s: GitSetup, result: str = "pass") -> str:
    """A server whose notes and reports exist: one commit on feature with a verdict."""
    sha = s.commit("one")
    s.push("HEAD:feature")
    _publish(s, sha, result)
    return sha


STRICTNESS = [(), ("--protect", "main"), ("--protect", "main", "--strict")]


@pytest.mark.parametrize("ref", OWN)
@pytest.mark.parametrize("flags", STRICTNESS, ids=["plain", "protect", "strict"])
def test_deleting_a_plog_ref_is_refused(setup: GitSetup, ref: str, flags: tuple[str, ...]) -> None:
    _install(setup, *flags)
    _tested_server(setup)
    before = _refs(setup)
    assert ref.encode() in before
    res = setup.push(f":{ref}", check=False)
    _refused(res, ref, "delete")
    assert _refs(setup) == before


@pytest.mark.parametrize("flags", STRICTNESS, ids=["plain", "protect", "strict"])
def test_rewriting_the_notes_is_refused(setup: GitSetup, flags: tuple[str, ...]) -> None:
    _install(setup, *flags)
    sha = _tested_server(setup, "fail")
    before = _refs(setup)
    # A forged passing verdict for the failed commit, force-pushed over PLog's notes.
    setup.git(
        "notes", f"--ref={NOTES_REF}", "add", "-f", "-m", "plog: pass (plog/load) forged", sha
    )
    res = setup.push(f"+{NOTES_REF}:{NOTES_REF}", check=False)
    _refused(res, NOTES_REF, "rewrite")
    assert _refs(setup) == before
    note = setup.bare_git("notes", f"--ref={NOTES_REF}", "show", sha).stdout
    assert note.startswith(b"plog: fail")


@pytest.mark.parametrize("flags", STRICTNESS, ids=["plain", "protect", "strict"])
def test_rewriting_the_reports_branch_is_refused(setup: GitSetup, flags: tuple[str, ...]) -> None:
    _install(setup, *flags)
    _tested_server(setup)
    before = _refs(setup)
    setup.commit("not a report")
    res = setup.push(f"+HEAD:{REPORTS_REF}", check=False)
    _refused(res, REPORTS_REF, "rewrite")
    assert _refs(setup) == before


@pytest.mark.parametrize("ref", OWN)
@pytest.mark.parametrize("flags", STRICTNESS, ids=["plain", "protect", "strict"])
def test_creating_a_plog_ref_is_refused(setup: GitSetup, ref: str, flags: tuple[str, ...]) -> None:
    _install(setup, *flags)
    sha = setup.commit("one")
    setup.push("HEAD:feature")
    before = _refs(setup)
    if ref == NOTES_REF:
        setup.git("notes", f"--ref={NOTES_REF}", "add", "-m", "plog: pass (plog/load) forged", sha)
        res = setup.push(f"{NOTES_REF}:{NOTES_REF}", check=False)
    else:
        res = setup.push(f"HEAD:{ref}", check=False)
    _refused(res, ref, "create")
    assert _refs(setup) == before
    assert ref.encode() not in before


@pytest.mark.parametrize("ref", OWN)
def test_a_ref_below_a_plog_ref_is_refused(setup: GitSetup, ref: str) -> None:
    # refs/notes/plog/x would make refs/notes/plog impossible to create (a D/F conflict).
    _install(setup, "--protect", "main")
    setup.commit("one")
    setup.push("HEAD:feature")
    before = _refs(setup)
    res = setup.push(f"HEAD:{ref}/x", check=False)
    _refused(res, f"{ref}/x", "create")
    assert f"a ref below {ref} would stop PLog" in _out(res)
    assert _refs(setup) == before


def test_the_issue_bypass_sequence_is_refused(setup: GitSetup) -> None:
    _install(setup, "--protect", "main")
    bad = setup.commit("slow")
    setup.push("HEAD:feature")
    _publish(setup, bad, "fail")
    before = _refs(setup)
    first = setup.push("HEAD:main", check=False)
    assert first.returncode != 0 and "failed its PLog performance gate" in _out(first)
    deleted = setup.push(f":{NOTES_REF}", check=False)
    _refused(deleted, NOTES_REF, "delete")
    again = setup.push("HEAD:main", check=False)
    assert again.returncode != 0 and "failed its PLog performance gate" in _out(again)
    assert _refs(setup) == before
    assert setup.bare_git("rev-parse", "--verify", "-q", "main", check=False).returncode != 0


def test_deleting_the_notes_in_the_same_push_is_refused(setup: GitSetup) -> None:
    _install(setup, "--protect", "main")
    bad = setup.commit("slow")
    setup.push("HEAD:feature")
    _publish(setup, bad, "fail")
    before = _refs(setup)
    res = setup.push(f":{NOTES_REF}", f":{REPORTS_REF}", "HEAD:main", check=False)
    _refused(res, NOTES_REF, "delete")
    _refused(res, REPORTS_REF, "delete")
    assert "failed its PLog performance gate" in _out(res)
    assert _refs(setup) == before


def test_a_forged_passing_note_pushed_with_the_branch_is_refused(setup: GitSetup) -> None:
    _install(setup, "--protect", "main", "--strict")
    sha = setup.commit("untested")
    setup.push("HEAD:feature")
    before = _refs(setup)
    setup.git("notes", f"--ref={NOTES_REF}", "add", "-m", "plog: pass (plog/load) forged", sha)
    res = setup.push(f"{NOTES_REF}:{NOTES_REF}", "HEAD:main", check=False)
    _refused(res, NOTES_REF, "create")
    assert "has no passing PLog verdict" in _out(res)
    assert _refs(setup) == before


def test_lost_notes_still_refuse_under_strict(setup: GitSetup) -> None:
    _install(setup, "--protect", "main", "--strict")
    bad = _tested_server(setup, "fail")
    setup.bare_git("update-ref", "-d", NOTES_REF)  # an admin on the server, not a push
    before = _refs(setup)
    res = setup.push(f"{bad}:refs/heads/main", check=False)
    assert res.returncode != 0
    assert "has no passing PLog verdict" in _out(res)
    assert _refs(setup) == before


def test_lost_notes_fall_back_to_the_queue_record(setup: GitSetup) -> None:
    # Not strict: the failed verdict the queue recorded in $PLOG_HOME still refuses the head.
    _install(setup, "--protect", "main")
    bad = setup.commit("slow")
    setup.push("HEAD:feature")  # post-receive queues the job
    queue = Queue(setup.home)
    job = queue.claim("worker-1")
    assert job is not None and job.spec.head == bad
    assert queue.finish(job.id, "worker-1", result="fail", summary="p95 412ms")
    _publish(setup, bad, "fail")
    setup.bare_git("update-ref", "-d", NOTES_REF)
    before = _refs(setup)
    res = setup.push("HEAD:main", check=False)
    assert res.returncode != 0
    assert "failed its PLog performance gate" in _out(res)
    assert _refs(setup) == before


def test_plog_itself_still_writes_its_refs(setup: GitSetup) -> None:
    _install(setup, "--protect", "main", "--strict")
    sha = _tested_server(setup, "pass")
    note = setup.bare_git("notes", f"--ref={NOTES_REF}", "show", sha).stdout
    assert note.startswith(b"plog: pass")
    report = setup.bare_git("show", f"plog-reports:reports/{sha}.md").stdout
    assert report == b"# r\n"
    # ...and the gate reads what it wrote.
    setup.push("HEAD:main")
    assert setup.bare_git("rev-parse", "main").stdout.decode().strip() == sha


def test_plog_refs_stay_refused_with_a_stub_from_another_version(setup: GitSetup) -> None:
    _install(setup)
    _tested_server(setup)
    stub = setup.bare / "hooks" / "pre-receive"
    text = stub.read_text()
    stub.write_text(text.replace(" --stub ", " --from-a-newer-plog --stub "))
    before = _refs(setup)
    res = setup.push(f":{NOTES_REF}", check=False)
    _refused(res, NOTES_REF, "delete")
    assert "bad hook arguments" not in _out(res)
    assert _refs(setup) == before
    # Ordinary pushes still go through such a stub, with the warning.
    setup.commit("two")
    ok = setup.push("HEAD:feature")
    assert "bad hook arguments" in _out(ok)


def test_plog_refs_stay_refused_when_plog_crashes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # In process: a PLog bug while checking a push lets it through (not strict), but never
    # a push that also writes PLog's refs.
    import io

    from plog_ci import githooks

    def boom(sha: str) -> str | None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(githooks, "_plog_oid", boom)
    head = "1" * 40
    for data, rc in (
        (f"{head} {'0' * 40} {NOTES_REF}\n{'0' * 40} {head} refs/heads/main\n", 1),
        (f"{'0' * 40} {head} refs/heads/main\n", 0),
    ):
        stdin = io.TextIOWrapper(io.BytesIO(data.encode()))
        monkeypatch.setattr(sys, "stdin", stdin)
        assert (
            githooks.hook_main("pre-receive", home=tmp_path, protect=(), strict=False, url=None)
            == rc
        )
        err = capsys.readouterr().err
        if rc:
            assert f"{NOTES_REF}: belongs to PLog" in err and "a push may not delete it" in err
        else:
            assert "plog: warning: PLog failed (RuntimeError: a bug); push accepted" in err


def test_plog_refs_stay_refused_when_plog_is_gone(setup: GitSetup) -> None:
    _tested_server(setup)
    # `plog hooks install` has no --python: the stub of a PLog that was uninstalled since.
    install_hooks(setup.bare, python=str(setup.home.parent / "gone" / "python"))
    before = _refs(setup)
    res = setup.push(f":{NOTES_REF}", check=False)
    out = _out(res)
    assert res.returncode != 0
    assert f"plog: push rejected: {NOTES_REF} belongs to PLog" in out
    assert _refs(setup) == before


BAD_NAMES = [
    "-b",
    "--upload-pack=x",
    "a..b",
    "@{-1}",
    "HEAD",
    "x.lock",
    "",
    "a b",
    "feat~1",
    "a:b",
    "x/",
    "/x",
    "a\nb",
    "refs/heads/main",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_protect_names_exit_2(setup: GitSetup, name: str) -> None:
    hooks = setup.bare / "hooks"
    before = sorted(p.name for p in hooks.iterdir())
    res = _plog(setup, "hooks", "install", str(setup.bare), f"--protect={name}")
    out = _out(res)
    assert res.returncode == 2, out
    assert "Invalid value for '--protect'" in out
    assert repr(name) in out
    assert sorted(p.name for p in hooks.iterdir()) == before


@pytest.mark.parametrize("name", ["main", "release/1.x", "$(id)", "@"])
def test_valid_protect_names_are_installed(setup: GitSetup, name: str) -> None:
    res = _plog(setup, "hooks", "install", str(setup.bare), f"--protect={name}")
    assert res.returncode == 0, _out(res)
    assert "plog-ci-managed-hook" in (setup.bare / "hooks" / "pre-receive").read_text()
