"""Resource samples of a deployed service: CPU and memory of its whole process tree.

Sampled in a background thread while the load runs, so findings can say
whether latency moved with CPU (saturation) or memory (growth, GC pressure).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import psutil


@dataclass(frozen=True)
class Sample:
    ts: float  # unix time
    cpu_percent: float  # of one core; 200 = two cores busy
    rss_bytes: int


class ResourceSampler:
    """Samples the process ``pid`` and its children every ``interval`` seconds.

    ``pid`` may be several processes (the replicas of one side): a sample sums them.
    """

    def __init__(self, pid: int | Sequence[int], interval: float = 0.5) -> None:
        self.pids = (pid,) if isinstance(pid, int) else tuple(pid)
        self.pid = self.pids[0]
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sampler-{pid}", daemon=True)
        self._known: dict[int, psutil.Process] = {}

    def _tree(self) -> list[psutil.Process]:
        procs = []
        for pid in self.pids:
            try:
                root = psutil.Process(pid)
                procs += [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        # Keep Process objects across samples: cpu_percent() measures since the last call.
        current = {}
        for p in procs:
            current[p.pid] = self._known.get(p.pid, p)
        self._known = current
        return list(current.values())

    def _sample(self) -> Sample | None:
        cpu = 0.0
        rss = 0
        procs = self._tree()
        if not procs:
            return None
        for p in procs:
            try:
                cpu += p.cpu_percent(None)
                rss += p.memory_info().rss
            except psutil.Error:
                continue
        return Sample(time.time(), cpu, rss)

    def _loop(self) -> None:
        self._sample()  # primes cpu_percent
        while not self._stop.wait(self.interval):
            sample = self._sample()
            if sample is not None:
                self.samples.append(sample)

    def start(self) -> ResourceSampler:
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        return list(self.samples)

    def __enter__(self) -> ResourceSampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
