"""Findings only a container's cgroup can give: CPU throttling and the memory limit.

A CPU limit (``deploy.resources.cpus``) is a CFS quota per 100 ms period: a service
that bursts past it in a period waits for the next one, so its tail latency grows
even while its *average* CPU stays well below the limit (the failure Kubernetes users
know as "throttled at 30% CPU"; Linux ``Documentation/scheduler/sched-bwc.rst``).
PLog reports throttling when at least ``THROTTLED_SHARE`` of the periods were
throttled, and names it the bottleneck when the p95 of each second rose with that
second's throttled share (Spearman's rank correlation, at least ``BOTTLENECK_RHO`` with a
p-value under ``BOTTLENECK_P``: monotone, not necessarily linear, robust to a few slow
seconds), or when most periods were throttled (then
every second is alike and there is nothing to correlate).

The memory limit: a working set that peaks close to ``deploy.resources.memory`` is one
request away from an OOM kill (an OOM kill during the load fails the run elsewhere:
``plog_ci.deploy.target.check_after_load``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from scipy.stats import spearmanr

from plog_ci.analysis.findings import Finding
from plog_ci.deploy.cgroup import ContainerSample, summarize
from plog_ci.deploy.resources import Sample

# Share of CFS periods throttled during the load above which throttling is reported.
THROTTLED_SHARE = 0.1
# Spearman's rho between each second's throttled share and its p95 that names
# throttling as the bottleneck, over at least MIN_SECONDS seconds.
BOTTLENECK_RHO = 0.5
BOTTLENECK_P = 0.01  # and the correlation's two-sided p-value below this
MIN_SECONDS = 8
# Share of periods throttled at which the quota holds the service whatever the
# correlation says (the p95 is flat because every second is throttled alike).
HELD_SHARE = 0.5
# Working-set peak, as a share of the memory limit, that is worth a warning.
NEAR_MEMORY_LIMIT = 0.8


@dataclass(frozen=True)
class Limits:
    """``deploy.resources`` of both sides: CPUs (1.0 = one core) and memory bytes."""

    cpus: float | None = None
    memory_bytes: int | None = None


def container_samples(samples: Sequence[Sample]) -> list[ContainerSample]:
    """The samples when they come from a container's cgroup, else none."""
    return [s for s in samples if isinstance(s, ContainerSample)]


def throttled_by_second(samples: Sequence[ContainerSample]) -> dict[int, float]:
    """Each whole second's share of CFS periods that were throttled, from the counters'
    growth between consecutive samples; a second is keyed by its end (Unix time, as the
    live series: the interval (s-1, s]). Seconds with no period (idle) are left out."""
    periods: dict[int, int] = {}
    throttled: dict[int, int] = {}
    for before, after in pairwise(samples):
        if not (before.running and after.running):
            continue
        second = math.ceil(after.ts)
        periods[second] = periods.get(second, 0) + max(0, after.periods - before.periods)
        throttled[second] = throttled.get(second, 0) + max(
            0, after.throttled_periods - before.throttled_periods
        )
    return {s: throttled[s] / n for s, n in periods.items() if n > 0}


def throttling_correlation(
    samples: Sequence[ContainerSample], p95_by_second: Sequence[tuple[float, float]]
) -> tuple[float, float, int] | None:
    """Spearman's rho between each second's throttled share and its p95 (ms), its
    two-sided p-value, and the number of seconds paired; None with fewer than
    MIN_SECONDS seconds or when either side is constant (no rank order)."""
    shares = throttled_by_second(samples)
    pairs = [(shares[int(s)], p95) for s, p95 in p95_by_second if int(s) in shares]
    if len(pairs) < MIN_SECONDS:
        return None
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    result = spearmanr(xs, ys)
    rho, p = float(result.statistic), float(result.pvalue)
    return (rho, p, len(pairs)) if math.isfinite(rho) else None


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB"


def _throttling(
    head: Sequence[ContainerSample],
    base: Sequence[ContainerSample],
    p95_by_second: Sequence[tuple[float, float]],
    cpus: float,
) -> Finding | None:
    summary = summarize(head)
    if summary is None or summary.throttled_ratio < THROTTLED_SHARE:
        return None
    of_limit = summary.cpu_mean_percent / (cpus * 100)
    data: dict[str, float | int | None] = {
        "throttled_share": summary.throttled_ratio,
        "throttled_periods": summary.throttled_periods,
        "throttled_s": summary.throttled_s,
        "mean_cpu": summary.cpu_mean_percent,
        "cpu_limit": cpus,
    }
    said = (
        f"the container was throttled in {summary.throttled_ratio:.0%} of its CPU periods "
        f"({summary.throttled_s:.1f} s in all) at an average of "
        f"{summary.cpu_mean_percent:.0f}% of one core, {of_limit:.0%} of its limit of "
        f"{cpus:g} CPU"
    )
    base_summary = summarize(base)
    if base_summary is not None:
        data["base_throttled_share"] = base_summary.throttled_ratio
        said += f" (the base: {base_summary.throttled_ratio:.0%} of its periods)"
    correlation = throttling_correlation(head, p95_by_second)
    if correlation is not None:
        data["rho"], data["rho_p"], data["seconds"] = correlation
    if (
        correlation is not None
        and correlation[0] >= BOTTLENECK_RHO
        and correlation[1] < BOTTLENECK_P
    ):
        rho, p, seconds = correlation
        message = (
            f"CPU throttling is the bottleneck: {said}, and the p95 of each second rose with "
            f"its throttled share (Spearman's rho {rho:.2f} over {seconds} s, p {p:.2g}): "
            "bursts hit the quota and wait for the next 100 ms period"
        )
    elif summary.throttled_ratio >= HELD_SHARE:
        message = (
            f"CPU throttling is the bottleneck: {said}; with most periods throttled the quota "
            "holds the service back in every second"
        )
    else:
        why = (
            f"the p95 did not clearly follow it (rho {correlation[0]:.2f} over "
            f"{correlation[2]} s, p {correlation[1]:.2g})"
            if correlation is not None
            else "too few seconds to tell whether the p95 followed it"
        )
        message = f"{said}; {why}"
    return Finding(
        "cpu-throttling",
        message + ": raise deploy.resources.cpus, or spend less CPU per request",
        severity="warning",
        data=data,
    )


def _memory_limit(head: Sequence[ContainerSample], memory_bytes: int) -> Finding | None:
    summary = summarize(head)
    if summary is None or summary.working_set_max < NEAR_MEMORY_LIMIT * memory_bytes:
        return None
    share = summary.working_set_max / memory_bytes
    return Finding(
        "memory-limit",
        f"the container's working set peaked at {_mb(summary.working_set_max)}, {share:.0%} "
        f"of its memory limit of {_mb(memory_bytes)}: close to an OOM kill under more load; "
        "raise deploy.resources.memory or find what holds the memory",
        severity="warning",
        data={"working_set_max": summary.working_set_max, "memory_limit": memory_bytes},
    )


def container_findings(
    head: Sequence[Sample],
    p95_by_second: Sequence[tuple[float, float]],
    limits: Limits,
    base: Sequence[Sample] = (),
) -> list[Finding]:
    """Throttling and memory-limit findings of the head's container, given its samples
    (``ContainerSample``; process samples give none), the run's p95 per second
    (``(unix second, ms)``, the whole run's merged histograms) and the limits both sides
    ran with."""
    head_c, base_c = container_samples(head), container_samples(base)
    out: list[Finding] = []
    if not head_c:
        return out
    if limits.cpus:
        found = _throttling(head_c, base_c, p95_by_second, limits.cpus)
        if found is not None:
            out.append(found)
    if limits.memory_bytes:
        found = _memory_limit(head_c, limits.memory_bytes)
        if found is not None:
            out.append(found)
    return out
