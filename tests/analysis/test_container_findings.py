"""Throttling and memory-limit findings from a container's cgroup samples (issue 19)."""

from __future__ import annotations

import random

from plog_ci.analysis.container_findings import (
    Limits,
    container_findings,
    throttled_by_second,
    throttling_correlation,
)
from plog_ci.analysis.findings import ResourceSummary, resource_findings
from plog_ci.deploy.cgroup import ContainerSample
from plog_ci.deploy.resources import Sample
from plog_ci.results import OperationStats

T0 = 1_700_000_000.0
MB = 1 << 20


def samples(
    shares: list[float],
    *,
    cpu: float = 40.0,
    rss: list[int] | None = None,
    periods_per_half_s: int = 10,
) -> list[ContainerSample]:
    """Two samples a second, the n-th second throttled in ``shares[n]`` of its periods;
    the first sample is the start (counters at zero)."""
    out = [ContainerSample(T0, cpu, 50 * MB, 0, 0, 0.0, 0, True)]
    periods = throttled = 0
    for n, share in enumerate(shares):
        for half in (0.5, 1.0):
            periods += periods_per_half_s
            throttled += round(share * periods_per_half_s)
            memory = rss[n] if rss else 50 * MB
            out.append(
                ContainerSample(
                    T0 + n + half, cpu, memory, periods, throttled, throttled * 0.05, 0, True
                )
            )
    return out


def p95(values: list[float]) -> list[tuple[float, float]]:
    return [(T0 + n + 1, v) for n, v in enumerate(values)]


def test_throttled_share_per_second_from_counter_growth() -> None:
    shares = throttled_by_second(samples([0.2, 0.6, 0.0]))
    assert shares == {int(T0) + 1: 0.2, int(T0) + 2: 0.6, int(T0) + 3: 0.0}
    # An interval in which the container stopped counts for nothing.
    stopped = samples([0.4, 0.4])
    stopped[-1] = ContainerSample(stopped[-1].ts, 0.0, 0, 99, 99, 0.0, 0, False)
    assert throttled_by_second(stopped) == {int(T0) + 1: 0.4, int(T0) + 2: 0.4}


def test_throttling_named_the_bottleneck_when_the_p95_follows_it() -> None:
    rng = random.Random(7)
    shares = [rng.choice([0.0, 0.2, 0.4, 0.6]) for _ in range(20)]
    latencies = [20 + 100 * s + rng.uniform(-3, 3) for s in shares]
    head = samples(shares, cpu=45.0)
    rho, p, seconds = throttling_correlation(head, p95(latencies)) or (0.0, 1.0, 0)
    assert rho > 0.9 and p < 1e-6 and seconds == 20
    found = container_findings(head, p95(latencies), Limits(cpus=1.0))
    assert [f.kind for f in found] == ["cpu-throttling"]
    message = found[0].message
    assert message.startswith("CPU throttling is the bottleneck")
    assert "45% of one core, 45% of its limit of 1 CPU" in message
    assert f"rho {rho:.2f} over 20 s, p {p:.2g}" in message
    assert found[0].data["throttled_share"] == sum(shares) / len(shares)


def test_throttling_that_the_p95_does_not_follow_is_reported_not_blamed() -> None:
    rng = random.Random(3)
    shares = [rng.choice([0.1, 0.2, 0.3]) for _ in range(20)]
    flat = [20 + rng.uniform(-3, 3) for _ in shares]
    found = container_findings(samples(shares), p95(flat), Limits(cpus=0.5))
    assert [f.kind for f in found] == ["cpu-throttling"]
    assert not found[0].message.startswith("CPU throttling is the bottleneck")
    assert "the p95 did not clearly follow it" in found[0].message


def test_most_periods_throttled_is_the_bottleneck_without_a_correlation() -> None:
    # Every second alike: nothing to rank, but the quota holds the service.
    found = container_findings(samples([0.8] * 10), p95([30.0] * 10), Limits(cpus=0.5))
    assert found[0].message.startswith("CPU throttling is the bottleneck")
    assert "rho" not in found[0].data


def test_a_little_throttling_and_no_limit_say_nothing() -> None:
    assert container_findings(samples([0.05] * 10), p95([20.0] * 10), Limits(cpus=1.0)) == []
    assert container_findings(samples([0.6] * 10), p95([20.0] * 10), Limits()) == []
    # Process samples (no cgroup) give no container findings.
    process = [Sample(T0 + n, 50.0, 50 * MB) for n in range(10)]
    assert container_findings(process, p95([20.0] * 10), Limits(cpus=1.0)) == []


def test_the_base_throttling_is_given_beside_the_head() -> None:
    found = container_findings(
        samples([0.5] * 10), p95([20.0] * 10), Limits(cpus=1.0), base=samples([0.1] * 10)
    )
    assert "(the base: 10% of its periods)" in found[0].message
    assert found[0].data["base_throttled_share"] == 0.1


def test_working_set_near_the_memory_limit() -> None:
    rss = [100 * MB, 180 * MB, 235 * MB]
    found = container_findings(samples([0.0] * 3, rss=rss), [], Limits(memory_bytes=256 * MB))
    assert [f.kind for f in found] == ["memory-limit"]
    assert "peaked at 235 MB, 92% of its memory limit of 256 MB" in found[0].message
    far = container_findings(samples([0.0] * 3, rss=rss), [], Limits(memory_bytes=1024 * MB))
    assert far == []


def test_cpu_bound_is_measured_against_the_container_limit() -> None:
    total = OperationStats("*", 1000, 0, 10.0, 1.0, 5.0, 5.0, 8.0, 9.0, 12.0, 20.0)
    half_core = ResourceSummary.of(samples([0.0] * 5, cpu=45.0))
    assert half_core is not None and half_core.memory_name == "working set"
    assert resource_findings(half_core, total) == []  # 45% of one core: not bound...
    bound = resource_findings(half_core, total, cpu_limit=0.5)  # ...but 90% of 0.5 CPU is
    assert [f.kind for f in bound] == ["cpu-bound"]
    assert "its limit is 0.5 CPU" in bound[0].message
    two_cores = ResourceSummary.of(samples([0.0] * 5, cpu=100.0))
    assert resource_findings(two_cores, total, cpu_limit=2.0) == []


def test_container_memory_growth_is_called_the_working_set() -> None:
    rss = [50 * MB, 80 * MB, 120 * MB]
    summary = ResourceSummary.of(samples([0.0] * 3, rss=rss))
    found = resource_findings(
        summary, OperationStats("*", 10, 0, 1.0, 1.0, 5.0, 5.0, 8.0, 9.0, 12.0, 20.0)
    )
    assert [f.kind for f in found] == ["memory-growth"]
    assert found[0].message.startswith("working set grew from 50 MB to 120 MB")
