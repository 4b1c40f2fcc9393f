"""Deterministic findings: what the numbers say, in sentences a reviewer can check.

Each finding names its evidence (numbers from the run), so the optional LLM
narrative can only restate them, never invent them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from plog_ci.analysis.comparison import Comparison
from plog_ci.deploy.cgroup import ContainerSample
from plog_ci.deploy.resources import Sample
from plog_ci.results import OperationStats

# Mean CPU (percent of one core) above which a service counts as CPU-bound.
CPU_BOUND_PERCENT = 85.0
# RSS growth that is worth a line: both relative and absolute.
MEMORY_GROWTH_FRACTION = 0.2
MEMORY_GROWTH_BYTES = 20 << 20
# Difference in CPU time per request (head vs base) that names computation as the cause.
CPU_PER_REQUEST_CHANGE = 0.2


@dataclass(frozen=True)
class Finding:
    kind: str
    message: str
    operation: str | None = None
    severity: str = "info"  # info | warning | error
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "operation": self.operation,
            "message": self.message,
            "severity": self.severity,
            "data": self.data,
        }


@dataclass(frozen=True)
class ResourceSummary:
    mean_cpu: float
    peak_cpu: float
    cpu_seconds: float
    rss_start: int
    rss_end: int
    rss_peak: int
    # The memory figure: "resident memory" of a process tree, or a container's cgroup's
    # "working set" (usage less inactive file cache, as the kubelet reports it).
    memory_name: str = "resident memory"

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> ResourceSummary | None:
        if len(samples) < 2:
            return None
        span = samples[-1].ts - samples[0].ts
        cpus = [s.cpu_percent for s in samples]
        mean = sum(cpus) / len(cpus)
        return cls(
            mean,
            max(cpus),
            mean / 100 * span,
            samples[0].rss_bytes,
            samples[-1].rss_bytes,
            max(s.rss_bytes for s in samples),
            "working set" if isinstance(samples[0], ContainerSample) else "resident memory",
        )


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB"


def resource_findings(
    head: ResourceSummary | None,
    head_total: OperationStats,
    base: ResourceSummary | None = None,
    base_total: OperationStats | None = None,
    cpu_limit: float | None = None,
) -> list[Finding]:
    """CPU-bound, memory growth and CPU per request against the base. ``cpu_limit``
    (CPUs, 1.0 = one core) is a container's limit: CPU-bound then means near it."""
    out: list[Finding] = []
    if head is None:
        return out
    if head.mean_cpu >= CPU_BOUND_PERCENT * (cpu_limit or 1.0):
        limit = f"; its limit is {cpu_limit:g} CPU" if cpu_limit else ""
        out.append(
            Finding(
                "cpu-bound",
                f"the service used {head.mean_cpu:.0f}% CPU on average (peak {head.peak_cpu:.0f}%, "
                f"100% = one core{limit}) while under load: it is CPU-bound, so latency grows "
                "with load",
                severity="warning",
                data={"mean_cpu": head.mean_cpu, "peak_cpu": head.peak_cpu}
                | ({"cpu_limit": cpu_limit} if cpu_limit else {}),
            )
        )
    growth = head.rss_end - head.rss_start
    if growth > MEMORY_GROWTH_BYTES and growth > MEMORY_GROWTH_FRACTION * head.rss_start:
        out.append(
            Finding(
                "memory-growth",
                f"{head.memory_name} grew from {_mb(head.rss_start)} to {_mb(head.rss_end)} during "
                f"the test (peak {_mb(head.rss_peak)}): a leak, or a cache still warming up",
                severity="warning",
                data={"rss_start": head.rss_start, "rss_end": head.rss_end},
            )
        )
    if base is not None and base_total is not None and base_total.count and head_total.count:
        head_ms = head.cpu_seconds / head_total.count * 1000
        base_ms = base.cpu_seconds / base_total.count * 1000
        if base_ms > 0:
            change = (head_ms - base_ms) / base_ms
            data = {"head_cpu_ms_per_request": head_ms, "base_cpu_ms_per_request": base_ms}
            if change > CPU_PER_REQUEST_CHANGE:
                out.append(
                    Finding(
                        "cpu-per-request",
                        f"the head spends {head_ms:.2f} ms of CPU per request against "
                        f"{base_ms:.2f} ms for the base ({change * 100:+.0f}%): slower code paths "
                        "(computation), not waiting",
                        severity="warning",
                        data=data,
                    )
                )
            else:
                out.append(
                    Finding(
                        "cpu-per-request",
                        f"CPU per request is about the same as the base ({head_ms:.2f} ms against "
                        f"{base_ms:.2f} ms): where the head is slower it is waiting (I/O, locks, "
                        "sleeps, downstream calls), not computing",
                        data=data,
                    )
                )
    return out


def latency_findings(
    stats: dict[str, OperationStats],
    baseline: dict[str, OperationStats],
    comparisons: Sequence[Comparison] | None = None,
) -> list[Finding]:
    """Errors, and latency changes against the baseline.

    With ``comparisons``, only the changes the statistics call significant are
    reported, with their confidence interval; without, point changes of 10%
    or more, marked as untested.
    """
    out: list[Finding] = []
    tested = {c.operation: c for c in comparisons or () if c.metric == "p95"}
    for name in sorted(stats):
        s = stats[name]
        b = baseline.get(name)
        if s.count and s.failures:
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(s.errors_by_status.items()))
            out.append(
                Finding(
                    "errors",
                    f"{s.failures} of {s.count} requests failed ({s.error_rate:.1%})"
                    + (f" — {statuses}" if statuses else ""),
                    name,
                    "error" if s.error_rate >= 0.01 else "warning",
                    {"failures": s.failures, "count": s.count},
                )
            )
        if b is None or not b.count or not s.count or b.p95 <= 0:
            continue
        change = (s.p95 - b.p95) / b.p95
        comparison = tested.get(name)
        if comparisons is not None:
            if comparison is None or comparison.verdict not in ("regression", "improvement"):
                continue
            evidence = (
                f" [{comparison.verdict}: CI {comparison.ci_low_pct or 0:+.0f}% to "
                f"{comparison.ci_high_pct or 0:+.0f}%, adjusted p {comparison.p_adjusted or 0:.2g}]"
            )
        elif abs(change) >= 0.1:
            evidence = " [single runs: not tested for significance]"
        else:
            continue
        word = "slower" if change > 0 else "faster"
        tail = (
            " and the median moved with it: every request pays"
            if b.p50 > 0 and abs((s.p50 - b.p50) / b.p50) >= 0.5 * abs(change)
            else "; the median barely moved: the tail got worse (contention, outliers)"
        )
        out.append(
            Finding(
                "latency-change",
                f"p95 {b.p95:.1f} → {s.p95:.1f} ms ({change * 100:+.0f}%, {word})"
                + tail
                + evidence,
                name,
                "warning" if change > 0 else "info",
                {"base_p95": b.p95, "head_p95": s.p95, "base_p50": b.p50, "head_p50": s.p50},
            )
        )
    return out
