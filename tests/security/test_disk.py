"""Faults of PLog's own disk: a state directory (``$PLOG_HOME``) that cannot be written,
before a run or in the middle of one, ends as a clear error (exit 4, "state directory not
writable: PATH", no traceback), with nothing left running, and a worker gives the job
back to the queue instead of ending it.

The tests run as root, here and in CI, and mode bits do not stop root: files and folders
are made immutable with ``chattr +i``, which does (and is undone in a ``finally``). Mid-run,
the page cache is flushed (``sync``) before the files become immutable: SQLite's WAL index
(``-shm``) is mapped into memory, and the next write through a clean page of a file that
cannot be written is a SIGBUS (exit 135), which is how this fault used to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from plog_ci.forge import Report
from plog_ci.queue import Job, JobSpec, Queue
from plog_ci.store.sqlite import open_store
from plog_ci.worker import Worker
from testing.k6_tools import need_k6
from testing.repos import FAST_PLOG_YML, commit_files

ROOT = Path(__file__).resolve().parents[2]
Lock = Callable[..., None]


def _chattr(flag: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chattr", flag, *map(str, paths)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def lock(tmp_path: Path) -> Iterator[Lock]:
    """``lock(*paths)`` makes paths immutable (even to root); all are unlocked at the end."""
    probe = tmp_path / "chattr-probe"
    probe.write_text("x")
    why = None
    try:
        done = _chattr("+i", probe)
        if done.returncode != 0:
            why = f"chattr +i does not work here: {done.stderr.strip()}"
        else:
            try:
                with open(probe, "a") as fh:
                    fh.write("y")
                why = "chattr +i does not stop writes here"
            except PermissionError:
                pass
    except FileNotFoundError:
        why = "chattr is missing (e2fsprogs)"
    finally:
        _chattr("-i", probe)
    if why is not None:
        print(f"skipped: {why}")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why} (CI must run the disk-fault tests)")
        pytest.skip(why)
    locked: list[Path] = []

    def apply(*paths: Path) -> None:
        locked.extend(paths)
        done = _chattr("+i", *paths)
        assert done.returncode == 0, done.stderr

    try:
        yield apply
    finally:
        if locked:
            _chattr("-i", *[p for p in locked if p.exists()])


def _state_files(home: Path) -> list[Path]:
    """Every folder and file under ``home``, deepest first, and ``home``."""
    found = sorted(home.rglob("*"), key=lambda p: len(p.parts), reverse=True)
    return [p for p in found if not p.is_symlink()] + [home]


def _strays(tmp: Path) -> list[str]:
    """Live processes whose command line or working directory names ``tmp`` (where the
    run's services and k6 run)."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        info = p.info
        if info["status"] == psutil.STATUS_ZOMBIE or info["pid"] == os.getpid():
            continue
        text = " ".join(info["cmdline"] or []) + " " + (info["cwd"] or "")
        if str(tmp) in text:
            found.append(f"{info['pid']} {text}")
    return found


def _kill_strays(tmp: Path) -> None:
    for p in psutil.process_iter(["cmdline", "cwd"]):
        text = " ".join(p.info["cmdline"] or []) + " " + (p.info["cwd"] or "")
        if str(tmp) in text and p.pid != os.getpid():
            try:
                p.kill()
            except psutil.Error:
                pass


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    """TMPDIR of the runs (their ``plog-run-*`` folders): nothing of theirs outlives a test."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    try:
        yield folder
    finally:
        _kill_strays(folder)


def _repo(petstore_repo: Path, duration: str) -> Path:
    if duration != "2s":
        commit_files(
            petstore_repo,
            {"plog.yml": FAST_PLOG_YML.replace("duration: 2s", f"duration: {duration}")},
            "longer",
        )
    return petstore_repo


def _plog_run(repo: Path, home: Path, tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "plog_ci", "run", "--repo", str(repo)],
        env={**os.environ, "PLOG_HOME": str(home), "TMPDIR": str(tmp), "COLUMNS": "400"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _assert_clear_error(rc: int, output: str, path: Path) -> None:
    assert rc == 4, output
    assert f"state directory not writable: {path}" in output, output
    assert "Traceback" not in output, output
    assert "hint:" in output, output


def test_a_read_only_database_before_the_run_is_exit_4_with_its_path(
    petstore_repo: Path, plog_home: Path, tmp: Path, lock: Lock
) -> None:
    open_store(plog_home).close()
    db = plog_home / "results.sqlite3"
    lock(db)
    run = _plog_run(petstore_repo, plog_home, tmp)
    output, _ = run.communicate(timeout=120)
    _assert_clear_error(run.returncode, output, db)
    assert _strays(tmp) == []


def test_a_read_only_state_directory_before_the_run_is_exit_4_with_its_path(
    petstore_repo: Path, plog_home: Path, tmp: Path, lock: Lock
) -> None:
    plog_home.mkdir(parents=True)
    lock(plog_home)
    run = _plog_run(petstore_repo, plog_home, tmp)
    output, _ = run.communicate(timeout=120)
    _assert_clear_error(run.returncode, output, plog_home)
    assert _strays(tmp) == []


def test_a_state_directory_made_read_only_while_measuring_is_exit_4_and_stops_everything(
    petstore_repo: Path, plog_home: Path, tmp: Path, lock: Lock
) -> None:
    need_k6()
    repo = _repo(petstore_repo, "5s")
    run = _plog_run(repo, plog_home, tmp)
    try:
        deadline = time.monotonic() + 60
        # Measuring: k6 runs (its script lies in the run's plog-run-* folder).
        while not any("k6" in s for s in _strays(tmp)):
            assert run.poll() is None, run.communicate()[0]
            assert time.monotonic() < deadline, "k6 never started"
            time.sleep(0.1)
        time.sleep(1.0)  # a few seconds of the live series are stored
        assert (plog_home / "results.sqlite3-shm").exists()
        os.sync()  # the -shm pages are clean: the next write through them faults
        lock(*_state_files(plog_home))
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode != 135, f"SIGBUS\n{output}"
    assert run.returncode == 4, output
    assert "state directory not writable: " in output, output
    assert str(plog_home) in output, output
    assert "Traceback" not in output, output
    time.sleep(0.5)
    assert _strays(tmp) == []


class _Forge:
    def __init__(self) -> None:
        self.posted: list[Report] = []

    def pending(self, report: Report) -> None:
        self.posted.append(report)

    def publish(self, report: Report) -> None:
        self.posted.append(report)


def _worker(home: Path, forge: _Forge) -> Worker:
    return Worker(
        home,
        forge_factory=lambda job: forge,  # type: ignore[arg-type,return-value]
        profile_for=lambda job, home: "load",
        lease_s=0.5,
        poll_s=0.05,
    )


def _job(home: Path) -> Job:
    queue = Queue(home)
    (job,) = queue.jobs()
    queue.close()
    return job


def _enqueue(home: Path, spec: JobSpec) -> None:
    queue = Queue(home)
    queue.enqueue(spec)
    queue.close()


def test_a_worker_whose_results_store_cannot_be_written_gives_the_job_back_for_a_retry(
    petstore_repo: Path, plog_home: Path, tmp: Path, lock: Lock, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_k6()
    monkeypatch.setenv("TMPDIR", str(tmp))
    head = subprocess.run(
        ["git", "-C", str(petstore_repo), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    _enqueue(plog_home, JobSpec(repo=str(petstore_repo), head=head, branch="main"))
    open_store(plog_home).close()
    db = plog_home / "results.sqlite3"
    forge = _Forge()
    lock(db)
    assert _worker(plog_home, forge).run_once()
    job = _job(plog_home)
    # No final status: the job waits for its lease to end, then runs again.
    assert (job.state, job.result, job.lease_owner, job.attempts) == ("running", None, None, 1)
    assert f"state directory not writable: {db}" in (job.summary or "")
    assert [r.result for r in forge.posted] == ["pending"]
    assert _strays(tmp) == []

    _chattr("-i", db)
    time.sleep(0.6)  # the lease the job was given back with
    assert _worker(plog_home, forge).run_once()
    job = _job(plog_home)
    assert (job.state, job.result, job.attempts) == ("finished", "pass", 2), job
    assert [r.result for r in forge.posted] == ["pending", "pass"]
    assert _strays(tmp) == []


def test_a_job_whose_store_stays_unwritable_ends_as_error_when_its_attempts_run_out(
    plog_home: Path, lock: Lock
) -> None:
    _enqueue(plog_home, JobSpec(repo="r", head="a" * 40, branch="main"))
    open_store(plog_home).close()
    db = plog_home / "results.sqlite3"
    lock(db)

    def runner(job: Job, home: Path) -> None:
        open_store(home)  # raises StateError

    forge = _Forge()
    worker = Worker(
        plog_home,
        runner=runner,  # type: ignore[arg-type]
        forge_factory=lambda job: forge,  # type: ignore[arg-type,return-value]
        profile_for=lambda job, home: "load",
        lease_s=0.2,
    )
    for _ in range(3):
        assert worker.run_once()
        time.sleep(0.25)
    worker.run_once()  # the attempts are spent: one final status, ``error``
    worker.run_once()  # ... posted from the outbox
    job = _job(plog_home)
    assert (job.state, job.result, job.attempts) == ("finished", "error", 3), job
    assert job.summary is not None
    assert job.summary.startswith("gave up after 3 attempts: state directory not writable")
    assert [r.result for r in forge.posted] == ["pending", "error"]


def test_a_worker_whose_queue_cannot_be_written_exits_4_with_a_clear_log(
    plog_home: Path, tmp_path: Path, lock: Lock
) -> None:
    _enqueue(plog_home, JobSpec(repo="r", head="a" * 40, branch="main"))
    queue_files = [plog_home / n for n in ("queue.db", "queue.db-wal", "queue.db-shm")]
    lock(*[p for p in queue_files if p.exists()])
    worker = subprocess.run(
        [sys.executable, "-m", "plog_ci", "worker", "--until-idle", "--poll", "0.05"],
        env={**os.environ, "PLOG_HOME": str(plog_home), "COLUMNS": "400"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = worker.stdout + worker.stderr
    assert worker.returncode == 4, output
    assert "the queue cannot be written" in output, output
    assert f"state directory not writable: {plog_home / 'queue.db'}" in output, output
    assert "Traceback" not in output, output
