"""What the dashboard benchmarks share: ``plog serve`` as a process of its own, SSE
watchers in another process (as browsers are), and signed webhook deliveries.

Both the server and the watchers run outside the benchmark's process so that their
threads never compete with the benchmark's clock or with the capture for one GIL:
on a CI machine ``plog serve``, the worker and the browsers are separate processes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import multiprocessing
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import httpx

from plog_ci import proc
from plog_ci.deploy.process import free_port

SECRET = "bench-dashboard-secret"
PUSH_PAYLOAD = (
    Path(__file__).resolve().parent.parent / "tests/data/webhooks/github/push_1.payload.json"
)


@contextmanager
def plog_serve(home: Path, *, threads: int = 8, max_streams: int = 64) -> Iterator[tuple[str, int]]:
    """``plog serve --home home`` on a free loopback port, as its own process; its URL
    and process id."""
    port = free_port()
    env = dict(os.environ, PLOG_WEBHOOK_SECRET=SECRET)
    argv = [sys.executable, "-m", "plog_ci", "serve", "--home", str(home), "--port", str(port)]
    argv += ["--threads", str(threads), "--max-streams", str(max_streams)]
    server = proc.Process(argv, env=env, log_path=home / "serve.log")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    log = (home / "serve.log").read_text(errors="replace")[-2000:]
                    raise SystemExit(f"plog serve did not start:\n{log}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        server.stop(grace=5.0)


# -- signed webhook deliveries ------------------------------------------------


def delivery(n: int) -> tuple[bytes, dict[str, str]]:
    """The ``n``-th delivery, signed: even ``n`` a ``ping``, odd a ``push`` to ``main``
    with a fresh head (``plog serve`` queues a job for each)."""
    if n % 2 == 0:
        event, body = "ping", json.dumps({"zen": "Keep it logically awesome.", "hook_id": n})
    else:
        payload = json.loads(PUSH_PAYLOAD.read_text(encoding="utf-8"))
        payload.update(ref="refs/heads/main", deleted=False, created=False, after=f"{n:040x}")
        event, body = "push", json.dumps(payload)
    data = body.encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": f"bench-{n}-{time.time_ns()}",
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
        "Connection": "close",  # GitHub opens a connection per delivery
    }
    return data, headers


def deliveries(url: str, seconds: float, rate: float, first: int = 0) -> list[float]:
    """Signed deliveries to ``url``/webhook at ``rate`` a second for ``seconds``, one after
    the other; each one's latency in seconds. Anything but 2xx stops the benchmark."""
    times: list[float] = []
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        for n in range(first, first + max(1, int(seconds * rate))):
            due = started + (n - first) / rate
            time.sleep(max(0.0, due - time.monotonic()))
            body, headers = delivery(n)
            sent = time.perf_counter()
            res = client.post(url + "/webhook", content=body, headers=headers)
            times.append(time.perf_counter() - sent)
            if res.status_code // 100 != 2:
                raise SystemExit(f"webhook: HTTP {res.status_code}: {res.text[:200]}")
    return times


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(p / 100 * len(ordered)))) - 1]


# -- SSE watchers ---------------------------------------------------------------

# One point as a watcher first received it: side, operation, second, Unix receive time.
Receipt = tuple[str, str, int, float]


@dataclass
class Watched:
    """What one watcher saw: each point's first arrival, its events, and why it stopped."""

    receipts: list[Receipt] = field(default_factory=list)
    events: int = 0
    ended: bool = False  # the server sent ``end``
    error: str = ""


def _watch(url: str, index: int, out: Queue[Any]) -> None:
    seen: dict[tuple[str, str, int], float] = {}
    events, ended, error = 0, False, ""
    try:
        timeout = httpx.Timeout(10.0, read=60.0)
        with httpx.Client(timeout=timeout) as client, client.stream("GET", url) as res:
            if res.status_code != 200:
                error = f"HTTP {res.status_code}"
            else:
                out.put(("open", index))
                event = ""
                for line in res.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        now = time.time()
                        events += 1
                        if event == "end":
                            ended = True
                            break
                        if event == "points":
                            for p in json.loads(line[6:])["points"]:
                                seen.setdefault((p[0], p[1], int(p[2])), now)
    except (httpx.HTTPError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    receipts = [(side, op, second, t) for (side, op, second), t in seen.items()]
    out.put(("done", index, receipts, events, ended, error))


def _watchers_main(url: str, count: int, out: Queue[Any]) -> None:
    started = time.process_time()  # after the imports: what watching costs, not Python's start
    threads = [threading.Thread(target=_watch, args=(url, i, out)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(("cpu", time.process_time() - started))


class Watchers:
    """``count`` SSE clients of ``url`` (``/runs/<id>/events``), threads of one process
    of their own; each reads until the server's ``end`` event."""

    def __init__(self, url: str, count: int) -> None:
        self.count = count
        context = multiprocessing.get_context("spawn")
        self.out: Queue[Any] = context.Queue()
        self.process = context.Process(
            target=_watchers_main, args=(url, count, self.out), daemon=True
        )
        self.results: dict[int, Watched] = {}
        self.cpu_s = 0.0  # CPU time the watchers' process used, in seconds

    def start(self, timeout_s: float = 30.0) -> None:
        """Start them and wait until every one holds its stream open (or has failed)."""
        self.process.start()
        opened: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(opened) + len(self.results) < self.count:
            self._take(opened, deadline)

    def _take(self, opened: set[int], deadline: float) -> None:
        try:
            message = self.out.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise SystemExit(
                f"watchers: {len(opened)} of {self.count} opened, {len(self.results)} done in time"
            ) from None
        if message[0] == "open":
            opened.add(message[1])
        elif message[0] == "cpu":
            self.cpu_s = message[1]
        else:
            _, index, receipts, events, ended, error = message
            opened.discard(index)
            self.results[index] = Watched([tuple(r) for r in receipts], events, ended, error)

    def finish(self, timeout_s: float = 30.0) -> list[Watched]:
        """Wait for every watcher to end (the run ended); what each saw."""
        opened: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(self.results) < self.count:
            self._take(opened, deadline)
        try:
            self.cpu_s = self.out.get(timeout=10)[1]
        except queue.Empty:
            pass
        self.process.join(timeout=5)
        return [self.results[i] for i in sorted(self.results)]

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
