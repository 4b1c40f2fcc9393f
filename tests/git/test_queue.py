"""The SQLite job queue: idempotency, supersede, leases, spool."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from plog_ci.queue import JobSpec, Queue

SHA1 = "a" * 40
SHA2 = "b" * 40
SHA3 = "c" * 40


def spec(head: str = SHA1, branch: str = "main", **kw: object) -> JobSpec:
    return JobSpec(repo="/srv/app.git", head=head, branch=branch, config_hash="cfg", **kw)  # type: ignore[arg-type]


def test_same_event_twice_is_one_job(plog_home: Path) -> None:
    q = Queue()
    first = q.enqueue(spec())
    again = q.enqueue(spec())
    assert first.created and not again.created
    assert again.job_id == first.job_id
    assert len(q.jobs()) == 1


def test_redelivery_maps_to_the_same_job(plog_home: Path) -> None:
    q = Queue()
    first = q.enqueue(spec(), delivery="gh:1")
    # Same delivery id, even with a different body: the first answer stands.
    again = q.enqueue(spec(head=SHA2), delivery="gh:1")
    assert again.job_id == first.job_id and not again.created
    assert len(q.jobs()) == 1


def test_config_change_is_a_new_job(plog_home: Path) -> None:
    q = Queue()
    a = q.enqueue(spec())
    b = q.enqueue(JobSpec(repo="/srv/app.git", head=SHA1, branch="other", config_hash="cfg2"))
    assert a.job_id != b.job_id


def test_newer_push_supersedes_the_waiting_job(plog_home: Path) -> None:
    q = Queue()
    first = q.enqueue(spec(SHA1))
    second = q.enqueue(spec(SHA2))
    other_branch = q.enqueue(spec(SHA3, branch="dev"))
    old = q.get(first.job_id)
    assert old is not None and old.state == "cancelled" and old.result == "cancelled"
    assert old.superseded_by == second.job_id
    assert q.get(second.job_id).state == "pending"  # type: ignore[union-attr]
    assert q.get(other_branch.job_id).state == "pending"  # type: ignore[union-attr]


def test_one_running_and_one_waiting_per_lane(plog_home: Path) -> None:
    q = Queue()
    q.enqueue(spec(SHA1))
    running = q.claim("w1")
    assert running is not None and running.spec.head == SHA1
    q.enqueue(spec(SHA2))
    q.enqueue(spec(SHA3))
    # The lane is busy: nothing else from main may start.
    assert q.claim("w2") is None
    states = {j.spec.head: j.state for j in q.jobs()}
    assert states == {SHA1: "running", SHA2: "cancelled", SHA3: "pending"}
    assert q.finish(running.id, "w1", result="pass", summary="ok")
    nxt = q.claim("w2")
    assert nxt is not None and nxt.spec.head == SHA3


def test_expired_lease_is_taken_over_and_the_old_owner_cannot_finish(plog_home: Path) -> None:
    q = Queue()
    q.enqueue(spec())
    job = q.claim("dead-worker", lease_s=0.2)
    assert job is not None
    time.sleep(0.3)
    taken = q.claim("w2", lease_s=30)
    assert taken is not None and taken.id == job.id and taken.attempts == 2
    assert not q.finish(job.id, "dead-worker", result="fail", summary="late")
    assert not q.renew(job.id, "dead-worker")
    assert q.finish(job.id, "w2", result="pass", summary="ok")
    final = q.get(job.id)
    assert final is not None and final.result == "pass" and final.state == "finished"
    # A finished job cannot be finished again.
    assert not q.finish(job.id, "w2", result="error", summary="again")


def test_gives_up_after_repeated_crashes(plog_home: Path) -> None:
    q = Queue()
    q.enqueue(spec())
    for _ in range(3):
        assert q.claim("crashy", lease_s=0.05, max_attempts=3) is not None
        time.sleep(0.1)
    assert q.claim("w", max_attempts=3) is None
    (job,) = q.jobs()
    assert job.state == "finished" and job.result == "error" and not job.published


def test_locked_database_spools_and_the_spool_is_recovered(plog_home: Path) -> None:
    q = Queue(busy_timeout_s=0.2)
    q.enqueue(spec(SHA1, branch="warmup"))
    blocker = sqlite3.connect(q.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        how, where = q.enqueue_or_spool(spec(SHA2))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert how == "spooled" and Path(where).exists()
    assert [j.spec.head for j in q.jobs()] == [SHA1]
    ids = q.ingest_spool()
    assert len(ids) == 1 and not Path(where).exists()
    assert q.get(ids[0]).spec.head == SHA2  # type: ignore[union-attr]
    # Ingesting again (e.g. after a crash before the unlink) changes nothing.
    assert q.ingest_spool() == []


def test_missing_database_spools(plog_home: Path) -> None:
    (plog_home / "queue.db").mkdir(parents=True)  # the database cannot be opened at all
    q = Queue(busy_timeout_s=0.2)
    how, where = q.enqueue_or_spool(spec())
    assert how == "spooled" and Path(where).parent == q.spool_dir
    (plog_home / "queue.db").rmdir()
    assert len(Queue().ingest_spool()) == 1


def test_late_spooled_event_does_not_supersede_a_newer_push(plog_home: Path) -> None:
    q = Queue()
    older = spec(SHA1, event_time=100.0)
    newer = spec(SHA2, event_time=200.0)
    q.spool(older)
    q.enqueue(newer)
    q.ingest_spool()
    states = {j.spec.head: j.state for j in q.jobs()}
    assert states == {SHA1: "cancelled", SHA2: "pending"}


def test_corrupt_spool_file_is_set_aside(plog_home: Path) -> None:
    q = Queue()
    q.spool_dir.mkdir(parents=True)
    (q.spool_dir / "0-bad.json").write_text("{not json")
    assert q.ingest_spool() == []
    assert (q.spool_dir / "0-bad.bad").exists()


@pytest.mark.parametrize(
    "branch",
    [
        "--upload-pack=x",
        "-b",
        "$(id)",
        'zzz";echo${IFS}"hello";#',
        "b" * 255,
        os.fsdecode(b"caf\xe9-\xff"),
    ],
)
def test_hostile_branch_names_round_trip_exactly(plog_home: Path, branch: str) -> None:
    q = Queue()
    job_id = q.enqueue(spec(branch=branch)).job_id
    job = q.get(job_id)
    assert job is not None
    assert os.fsencode(job.spec.branch or "") == os.fsencode(branch)


def test_with_xdg_data_home_the_queue_and_the_results_share_one_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plog_ci.home import state_dir
    from plog_ci.store.sqlite import open_store
    from plog_ci.worker import Worker

    monkeypatch.delenv("PLOG_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "xdg" / "plog"
    q = Queue()
    q.enqueue(spec())
    q.close()
    assert q.path == expected / "queue.db" and q.path.is_file()
    assert Worker().home == expected  # the worker reads that queue and runs the pipeline there
    # The pipeline and `plog results` keep the results in state_dir() (RunRequest.home=None).
    results = open_store(state_dir())
    results.close()
    assert (expected / "results.sqlite3").is_file()
    assert not (tmp_path / "home" / ".local").exists()
