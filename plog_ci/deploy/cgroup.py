"""Resource samples of a container from its cgroup: CPU, throttling, memory, OOM kills.

The cgroup is found from ``/proc/<pid>/cgroup`` and ``/proc/self/mountinfo``, so
cgroup v1 (this machine: ``/sys/fs/cgroup/<controller>/libpod_parent/libpod-<id>``),
v2 and systemd-managed hosts all work. Files read:

====================  =================================  ==============================
what                  v1                                 v2
====================  =================================  ==============================
CPU time              cpuacct/cpuacct.usage (ns)         cpu.stat usage_usec
periods, throttled    cpu/cpu.stat nr_periods,           cpu.stat nr_periods,
                      nr_throttled, throttled_time (ns)  nr_throttled, throttled_usec
working set           memory.usage_in_bytes              memory.current
                      - memory.stat total_inactive_file  - memory.stat inactive_file
OOM kills             memory.oom_control oom_kill        memory.events oom_kill
====================  =================================  ==============================

A container whose only process is OOM-killed exits, and podman removes its cgroup
within about 0.2 s (podman reports no ``OOMKilled`` here): ``oom_kill`` is polled
every ``OOM_POLL_S`` between samples, and an exit with code 137 counts as an OOM
kill when the last working set was near the limit (docs/containers-here.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from plog_ci.deploy.resources import Sample

OOM_POLL_S = 0.1
NEAR_LIMIT = 0.9  # of memory.limit: an exit 137 this close to it is an OOM kill
UNLIMITED = 1 << 60  # v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages)


@dataclass(frozen=True)
class ContainerSample(Sample):
    """``Sample``'s fields (``rss_bytes`` is the working set), plus counters since
    the container started: CFS periods, throttled periods, throttled seconds, OOM kills;
    and whether the container was running."""

    periods: int
    throttled_periods: int
    throttled_s: float
    oom_kills: int
    running: bool


@dataclass(frozen=True)
class CgroupPaths:
    """Folders of one cgroup: ``cpu`` (cpu.stat), ``cpuacct`` (v1 usage), ``memory``;
    ``v2`` when all three are the one unified folder."""

    cpu: Path
    cpuacct: Path
    memory: Path
    v2: bool


def _mounts(mountinfo: str) -> tuple[dict[str, tuple[str, Path]], tuple[str, Path] | None]:
    """v1 controller to (mount root, mount point), and v2's (root, point) if mounted."""
    v1: dict[str, tuple[str, Path]] = {}
    v2: tuple[str, Path] | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], Path(fields[4].replace("\\040", " "))
        if tail[0] == "cgroup2":
            v2 = (root, point)
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                v1.setdefault(option, (root, point))
    return v1, v2


def _under(mount: tuple[str, Path], path: str) -> Path:
    root, point = mount
    # The mount may show a sub-tree (a cgroup namespace, a container): strip its root.
    relative = path[len(root) :] if root != "/" and path.startswith(root) else path
    return point / relative.lstrip("/")


def find_paths(pid: int, proc_root: Path = Path("/proc")) -> CgroupPaths:
    """The cgroup folders of ``pid``. Raises LookupError when the process is gone or its
    cgroup has no cpu and memory controllers."""
    try:
        lines = (proc_root / str(pid) / "cgroup").read_text(encoding="utf-8").splitlines()
        mountinfo = (proc_root / "self" / "mountinfo").read_text(encoding="utf-8")
    except OSError as exc:
        raise LookupError(f"no cgroup for pid {pid}: {exc.strerror}") from exc
    v1_mounts, v2_mount = _mounts(mountinfo)
    v1: dict[str, Path] = {}
    unified: str | None = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if not controllers:
            unified = path
        for controller in controllers.split(","):
            if controller in v1_mounts:
                v1[controller] = _under(v1_mounts[controller], path)
    # Hybrid hosts mount v2 with no controllers: v1 holds the data then.
    if {"cpu", "cpuacct", "memory"} <= v1.keys():
        return CgroupPaths(v1["cpu"], v1["cpuacct"], v1["memory"], v2=False)
    if unified is not None and v2_mount is not None:
        folder = _under(v2_mount, unified)
        if (folder / "memory.current").exists():
            return CgroupPaths(folder, folder, folder, v2=True)
    raise LookupError(f"pid {pid}: no cgroup with cpu and memory controllers")


def _keyed(path: Path) -> dict[str, int]:
    """A ``key value`` file (cpu.stat, memory.stat, memory.events) as a dict."""
    out: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


@dataclass(frozen=True)
class _Raw:
    cpu_ns: int
    periods: int
    throttled: int
    throttled_ns: int
    working_set: int
    limit: int | None
    oom_kills: int


def read_oom_kills(paths: CgroupPaths) -> int:
    """The cgroup's OOM kill count. Raises OSError once the cgroup is gone."""
    name = "memory.events" if paths.v2 else "memory.oom_control"
    return _keyed(paths.memory / name).get("oom_kill", 0)


def _read(paths: CgroupPaths) -> _Raw:
    cpu = _keyed(paths.cpu / "cpu.stat")
    memory = _keyed(paths.memory / "memory.stat")
    if paths.v2:
        cpu_ns = cpu.get("usage_usec", 0) * 1000
        throttled_ns = cpu.get("throttled_usec", 0) * 1000
        usage = int((paths.memory / "memory.current").read_text().strip())
        inactive = memory.get("inactive_file", 0)
        raw_limit = (paths.memory / "memory.max").read_text().strip()
        limit = None if raw_limit == "max" else int(raw_limit)
    else:
        cpu_ns = int((paths.cpuacct / "cpuacct.usage").read_text().strip())
        throttled_ns = cpu.get("throttled_time", 0)
        usage = int((paths.memory / "memory.usage_in_bytes").read_text().strip())
        inactive = memory.get("total_inactive_file", memory.get("inactive_file", 0))
        value = int((paths.memory / "memory.limit_in_bytes").read_text().strip())
        limit = None if value >= UNLIMITED else value
    return _Raw(
        cpu_ns=cpu_ns,
        periods=cpu.get("nr_periods", 0),
        throttled=cpu.get("nr_throttled", 0),
        throttled_ns=throttled_ns,
        working_set=max(0, usage - inactive),
        limit=limit,
        oom_kills=read_oom_kills(paths),
    )


class CgroupSampler:
    """Samples the cgroup of the process ``pid`` (a container's ``.State.Pid``) every
    ``interval_s`` seconds in a thread, from ``start()`` to ``stop()``.

    ``exit_code`` (optional) is called once the cgroup is gone and answers the
    container's exit code (``ContainerService.inspect().exit_code``), or None; it
    makes ``exited`` and the OOM inference (exit 137 near the limit) possible.
    Raises LookupError when ``pid`` has no cgroup with cpu and memory controllers.
    """

    def __init__(
        self,
        pid: int,
        interval_s: float = 1.0,
        *,
        exit_code: Callable[[], int | None] | None = None,
        paths: CgroupPaths | None = None,
    ) -> None:
        self.paths = paths or find_paths(pid)
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[ContainerSample] = []
        self.exit_code_of = exit_code
        self.exited: int | None = None  # the exit code, once the container ended
        self.limit: int | None = None
        self._oom_seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"cgroup-{pid}", daemon=True)

    def _loop(self) -> None:
        previous = _read(self.paths)
        self.limit = previous.limit
        last_ts = time.monotonic()
        self._oom_seen = previous.oom_kills
        while not self._stop.is_set():
            # Between samples only oom_kill is polled: the cgroup of an OOM-killed
            # container is removed a fraction of a second after the kill.
            if self._stop.wait(min(OOM_POLL_S, self.interval_s)):
                break
            try:
                self._oom_seen = max(self._oom_seen, read_oom_kills(self.paths))
                if time.monotonic() - last_ts < self.interval_s:
                    continue
                raw = _read(self.paths)
            except OSError:
                self._ended(previous)
                return
            now = time.monotonic()
            cpu = (raw.cpu_ns - previous.cpu_ns) / 1e9 / (now - last_ts) * 100
            self._append(raw, max(0.0, cpu), running=True)
            previous, last_ts = raw, now

    def _append(self, raw: _Raw, cpu_percent: float, *, running: bool) -> None:
        self._oom_seen = max(self._oom_seen, raw.oom_kills)
        self.samples.append(
            ContainerSample(
                ts=time.time(),
                cpu_percent=cpu_percent,
                rss_bytes=raw.working_set,
                periods=raw.periods,
                throttled_periods=raw.throttled,
                throttled_s=raw.throttled_ns / 1e9,
                oom_kills=self._oom_seen,
                running=running,
            )
        )

    def _ended(self, last: _Raw) -> None:
        """The cgroup is gone: the container exited. One last sample says so."""
        code = self.exit_code_of() if self.exit_code_of is not None else None
        self.exited = code
        near = last.limit is not None and last.working_set >= NEAR_LIMIT * last.limit
        if code == 137 and near and self._oom_seen == last.oom_kills:
            self._oom_seen += 1  # killed before a poll saw the count: inferred
        self._append(last, 0.0, running=False)

    def start(self) -> CgroupSampler:
        self._thread.start()
        return self

    def stop(self) -> list[ContainerSample]:
        """Stop sampling; every sample so far, oldest first."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        return list(self.samples)

    def __enter__(self) -> CgroupSampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def oom_killed(samples: Sequence[ContainerSample]) -> bool:
    """Whether an OOM kill happened while sampling (the counter grew, or the first
    sample already had one)."""
    return bool(samples) and max(s.oom_kills for s in samples) > 0


@dataclass(frozen=True)
class CgroupSummary:
    """Over a sampling: CPU mean and peak (% of one core), throttled periods and
    seconds in the window and their share of CFS periods (0 without a CPU limit),
    working set first, peak and growth (bytes), OOM kills, whether it stopped running."""

    cpu_mean_percent: float
    cpu_max_percent: float
    throttled_periods: int
    throttled_s: float
    throttled_ratio: float
    working_set_first: int
    working_set_max: int
    working_set_growth: int
    oom_kills: int
    exited: bool


def summarize(samples: Sequence[ContainerSample]) -> CgroupSummary | None:
    """The summary of ``samples`` (None when there are none)."""
    if not samples:
        return None
    live = [s for s in samples if s.running] or list(samples)
    first, last = samples[0], samples[-1]
    periods = last.periods - first.periods
    throttled = last.throttled_periods - first.throttled_periods
    return CgroupSummary(
        cpu_mean_percent=sum(s.cpu_percent for s in live) / len(live),
        cpu_max_percent=max(s.cpu_percent for s in live),
        throttled_periods=throttled,
        throttled_s=last.throttled_s - first.throttled_s,
        throttled_ratio=throttled / periods if periods > 0 else 0.0,
        working_set_first=live[0].rss_bytes,
        working_set_max=max(s.rss_bytes for s in live),
        working_set_growth=live[-1].rss_bytes - live[0].rss_bytes,
        oom_kills=max(s.oom_kills for s in samples),
        exited=not last.running,
    )


def resource_row(sample: Sample) -> tuple[float | int | None, ...]:
    """A sample as the store's ``resources`` row: ``(ts, cpu_percent, rss_bytes)`` and,
    for a container, its counters (``plog_ci.store.details.CGROUP_COLUMNS``)."""
    row: tuple[float | int | None, ...] = (sample.ts, sample.cpu_percent, sample.rss_bytes)
    if isinstance(sample, ContainerSample):
        row += (
            sample.periods,
            sample.throttled_periods,
            sample.throttled_s,
            sample.oom_kills,
            int(sample.running),
        )
    return row
