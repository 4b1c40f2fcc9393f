"""The webhook receiver's group-commit writer: batches, and a clean stop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from plog_ci.queue import Enqueued, JobSpec, Queue
from plog_ci.web.intake import Intake


def _spec(n: int) -> JobSpec:
    return JobSpec(repo="/srv/app.git", head=f"{n:040x}", branch=f"b{n}", config_hash="cfg")


def test_concurrent_deliveries_are_all_committed_and_close_ends_the_thread(
    plog_home: Path,
) -> None:
    queue = Queue(plog_home)
    intake = Intake(queue, wait_s=10.0)
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda n: intake.submit(_spec(n), f"d-{n}"), range(40)))
    assert all(isinstance(f, Enqueued) for f in found)
    assert len({f.job_id for f in found if isinstance(f, Enqueued)}) == 40
    assert len(queue.jobs()) == 40
    assert intake.running
    intake.close()
    assert not intake.running
    intake.close()  # a second close is harmless


def test_a_delivery_after_close_is_spooled_not_lost(plog_home: Path) -> None:
    queue = Queue(plog_home)
    intake = Intake(queue)
    intake.close()
    kept = intake.submit(_spec(1), "late")
    assert isinstance(kept, Path) and kept.exists()
    assert queue.jobs() == []
    assert [queue.get(i).spec.head for i in queue.ingest_spool()] == [f"{1:040x}"]  # type: ignore[union-attr]
