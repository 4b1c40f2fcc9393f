"""Group commit for webhook deliveries.

Under a burst, one transaction (one fsync) per delivery makes writers queue
up on the database lock and latency climbs with the queue. A single writer
thread instead takes every delivery waiting at that moment and commits them
together; each request waits only for its batch.
"""

from __future__ import annotations

import queue as stdqueue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from plog_ci.queue import Enqueued, JobSpec, Queue, QueueUnavailable

MAX_BATCH = 256


class Intake:
    def __init__(self, queue: Queue, *, wait_s: float = 2.0) -> None:
        self.queue = queue
        self.wait_s = wait_s
        self._items: stdqueue.Queue[tuple[JobSpec, str | None, Future[Enqueued]]] = stdqueue.Queue()
        self._thread = threading.Thread(target=self._run, name="plog-intake", daemon=True)
        self._thread.start()

    def submit(self, spec: JobSpec, delivery: str | None) -> Enqueued | Path:
        """The job (new or existing), or the spool file when the database is unusable."""
        future: Future[Enqueued] = Future()
        self._items.put((spec, delivery, future))
        try:
            return future.result(timeout=self.wait_s)
        except (QueueUnavailable, FutureTimeout):
            # Spooling is safe even if the batch commits later: ingesting the
            # spool is idempotent (same delivery id and idempotency key).
            return self.queue.spool(spec, delivery=delivery)

    def _run(self) -> None:
        while True:
            batch = [self._items.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._items.get_nowait())
                except stdqueue.Empty:
                    break
            try:
                results = self.queue.enqueue_many([(spec, d) for spec, d, _ in batch])
            except QueueUnavailable as exc:
                for _, _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, _, future), result in zip(batch, results, strict=True):
                future.set_result(result)
