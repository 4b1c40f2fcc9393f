"""Container resources from the cgroup (plog_ci.deploy.cgroup): real containers for
throttling and an OOM kill; a cgroup v2 tree in a folder for v2, which this machine
(hybrid, data in v1) cannot give."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from plog_ci.deploy.cgroup import (
    CgroupSampler,
    ContainerSample,
    find_paths,
    oom_killed,
    summarize,
)
from plog_ci.deploy.containers import Containers
from plog_ci.deploy.resources import Sample
from plog_ci.errors import ServiceError
from tests.deploy.test_podman_target import image, label, service, tools

__all__ = ["image", "label", "tools"]  # the fixtures, shared with the target's tests

V2_ID = "libpod-" + "ab" * 32


def _v2_host(root: Path) -> Path:
    """A /proc and a cgroup2 mount as a systemd v2 host has them; the cgroup folder."""
    (root / "proc" / "42").mkdir(parents=True)
    (root / "proc" / "self").mkdir()
    (root / "proc" / "42" / "cgroup").write_text(f"0::/machine.slice/{V2_ID}.scope\n")
    (root / "proc" / "self" / "mountinfo").write_text(
        "25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
        "26 1 0:23 / /proc rw - proc proc rw\n".replace("/sys/fs/cgroup", str(root / "cg"))
    )
    folder = root / "cg" / "machine.slice" / f"{V2_ID}.scope"
    folder.mkdir(parents=True)
    return folder


def _put(path: Path, text: str) -> None:
    # Atomic, as the kernel's files are: the sampler never reads half a file.
    path.with_suffix(".tmp").write_text(text)
    path.with_suffix(".tmp").replace(path)


def _write_v2(folder: Path, usage_us: int, throttled: int, current: int, oom: int) -> None:
    _put(
        folder / "cpu.stat",
        f"usage_usec {usage_us}\nuser_usec 1\nsystem_usec 1\n"
        f"nr_periods {throttled * 2}\nnr_throttled {throttled}\n"
        f"throttled_usec {throttled * 5000}\n",
    )
    _put(folder / "memory.current", f"{current}\n")
    _put(folder / "memory.max", f"{64 << 20}\n")
    _put(folder / "memory.stat", f"anon {current}\ninactive_file {1 << 20}\nfile 0\n")
    _put(folder / "memory.events", f"low 0\nhigh 0\nmax 3\noom {oom}\noom_kill {oom}\n")


def test_v2_paths_and_counters_from_proc_and_mountinfo(tmp_path: Path) -> None:
    folder = _v2_host(tmp_path)
    _write_v2(folder, usage_us=0, throttled=0, current=10 << 20, oom=0)
    paths = find_paths(42, proc_root=tmp_path / "proc")
    assert paths.v2 and paths.cpu == paths.memory == folder
    with CgroupSampler(42, interval_s=0.2, paths=paths) as sampler:
        time.sleep(0.3)
        _write_v2(folder, usage_us=200_000, throttled=7, current=30 << 20, oom=1)
        time.sleep(0.35)
    samples = sampler.samples
    assert samples and isinstance(samples[-1], Sample)
    last = samples[-1]
    assert (last.throttled_periods, last.throttled_s, last.oom_kills) == (7, 0.035, 1)
    assert last.rss_bytes == (30 << 20) - (1 << 20)  # working set: without inactive files
    assert max(s.cpu_percent for s in samples) > 20  # 0.2 s of CPU in about 0.2-0.4 s
    assert oom_killed(samples)


def test_no_cgroup_is_a_lookup_error(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text("")
    with pytest.raises(LookupError, match="pid 7"):
        find_paths(7, proc_root=tmp_path)


def _sample(ts: float, cpu: float, ws: int, periods: int, thr: int, oom: int) -> ContainerSample:
    return ContainerSample(ts, cpu, ws, periods, thr, thr * 0.01, oom, running=True)


def test_summary_counts_the_window_not_the_containers_life() -> None:
    samples = [_sample(1, 40, 100, 1000, 500, 0), _sample(2, 50, 300, 1010, 509, 0)]
    summary = summarize(samples)
    assert summary is not None
    assert summary.throttled_periods == 9 and summary.throttled_ratio == pytest.approx(0.9)
    assert summary.working_set_growth == 200 and summary.cpu_mean_percent == 45
    assert not oom_killed(samples) and not summary.exited
    assert summarize([]) is None


@pytest.mark.slow
def test_a_busy_loop_at_half_a_cpu_is_throttled(
    tools: Containers, image: str, label: str, tmp_path: Path
) -> None:
    with service(tools, label, tmp_path, "busy", cpus=0.5) as svc:
        with svc.sampler(interval_s=0.5) as sampler:
            time.sleep(2.3)
        samples = sampler.stop()
        assert not sampler.paths.v2  # this machine: v1 data
    assert len(samples) >= 3
    throttled = [s.throttled_periods for s in samples]
    assert throttled == sorted(throttled) and throttled[-1] > throttled[0]
    summary = summarize(samples)
    assert summary is not None
    assert summary.throttled_ratio > 0.3  # a loop wants 100 % of a core, gets 50 %
    assert 30 < summary.cpu_mean_percent < 70
    assert summary.working_set_max > 1 << 20 and not oom_killed(samples)


@pytest.mark.slow
def test_a_memory_hog_is_oom_killed_and_reported(
    tools: Containers, image: str, label: str, tmp_path: Path
) -> None:
    with service(tools, label, tmp_path, "hog", memory_bytes=64 << 20) as svc:
        with svc.sampler(interval_s=0.5) as sampler:
            deadline = time.monotonic() + 15
            while sampler.exited is None and time.monotonic() < deadline:
                time.sleep(0.1)
        samples = sampler.stop()
        assert sampler.exited == 137
        with pytest.raises(ServiceError) as err:
            svc.check_running()
    assert oom_killed(samples)
    summary = summarize(samples)
    assert summary is not None and summary.exited and summary.oom_kills >= 1
    assert "exited with code 137" in err.value.message and "OOM" in err.value.message
