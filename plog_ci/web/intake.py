"""Group commit for webhook deliveries.

Under a burst, one transaction (one fsync) per delivery makes writers queue
up on the database lock and latency climbs with the queue. A single writer
thread instead takes every delivery waiting at that moment and commits them
together; each request waits only for its batch.

``close`` commits what is queued and ends the thread (a server that stops, or
a test that made an app, leaves no writer thread behind).
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
        # None is the stop sentinel: whatever was queued before it is committed first.
        self._items: stdqueue.Queue[tuple[JobSpec, str | None, Future[Enqueued]] | None] = (
            stdqueue.Queue()
        )
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="plog-intake", daemon=True)
        self._thread.start()

    def submit(self, spec: JobSpec, delivery: str | None) -> Enqueued | Path:
        """The job (new or existing), or the spool file when the database is unusable."""
        if self._closed.is_set():
            return self.queue.spool(spec, delivery=delivery)
        future: Future[Enqueued] = Future()
        self._items.put((spec, delivery, future))
        try:
            return future.result(timeout=self.wait_s)
        except (QueueUnavailable, FutureTimeout):
            # Spooling is safe even if the batch commits later: ingesting the
            # spool is idempotent (same delivery id and idempotency key).
            return self.queue.spool(spec, delivery=delivery)

    def close(self, timeout_s: float = 10.0) -> None:
        """Commit what is queued, then end the writer thread."""
        if not self._closed.is_set():
            self._closed.set()
            self._items.put(None)
        self._thread.join(timeout=timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[tuple[JobSpec, str | None, Future[Enqueued]]] = []
            item = self._items.get()
            while item is not None:
                batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._items.get_nowait()
                except stdqueue.Empty:
                    break
            stop = item is None
            if not batch:
                continue
            try:
                results = self.queue.enqueue_many([(spec, d) for spec, d, _ in batch])
            except QueueUnavailable as exc:
                for _, _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, _, future), result in zip(batch, results, strict=True):
                future.set_result(result)
