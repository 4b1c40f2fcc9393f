"""A measured run's findings, in the order the report lists them: resources (process
or container), latency, setup's producers, and the load generator's own limit.

The pipeline's judge stage stores them and prints the warnings this returns; nothing
here decides the verdict (gates do: ``analysis.gates``).
"""

from __future__ import annotations

from collections.abc import Sequence

from plog_ci.ab.baseline import Baseline
from plog_ci.ab.measure import Measurement
from plog_ci.analysis.comparison import Comparison
from plog_ci.analysis.container_findings import Limits, container_findings
from plog_ci.analysis.findings import Finding, ResourceSummary, latency_findings, resource_findings
from plog_ci.analysis.pod_findings import pod_findings
from plog_ci.analysis.setup_findings import setup_findings
from plog_ci.config.deploy import ResourcesConfig


def run_findings(
    measured: Measurement,
    baseline: Baseline,
    comparisons: Sequence[Comparison] | None,
    head_p95_by_second: Sequence[tuple[float, float]],
    resources: ResourcesConfig | None,
) -> tuple[list[Finding], list[str]]:
    """The findings, and the lines to print as warnings while the run ends.

    ``head_p95_by_second``: ``(unix second, p95 ms)`` of the head's load, as
    ``store.live.total_p95`` reads it, for the throttling correlation.
    """
    result = measured.result
    limits = Limits(resources.cpus, resources.memory_bytes) if resources else Limits()
    findings = (
        resource_findings(
            ResourceSummary.of(measured.head_samples),
            result.total,
            ResourceSummary.of(measured.base_samples),
            baseline.total,
            cpu_limit=limits.cpus,
        )
        + _container_findings(measured, head_p95_by_second, limits)
        + latency_findings(result.operations, baseline.stats, comparisons)
    )
    warnings: list[str] = []
    made = setup_findings(result.setup, measured.script.feeds)
    for finding in made:  # a producer that made nothing explains its readers' errors
        if finding.severity == "warning" and "producer" not in finding.data:
            warnings.append(f"setup {finding.operation}: {finding.message}")
    findings += made
    if result.load_limit:
        # The runners, not the service, fell short of the planned rate: the measured
        # rate is lower than asked and the latency is the service's at that rate.
        findings.append(Finding("load-generator", result.load_limit, None, "warning"))
    return findings, warnings


def _container_findings(
    measured: Measurement, p95: Sequence[tuple[float, float]], limits: Limits
) -> list[Finding]:
    """The container's throttling and memory limit: podman's cgroup, or each pod of a
    Helm release with the limits kube-state-metrics reports (not their sum, which would
    say it twice), and what Prometheus could not give."""
    cluster = measured.cluster
    if cluster is None:
        return container_findings(measured.head_samples, p95, limits, measured.base_samples)
    found = pod_findings(cluster.head, p95, cluster.base) if cluster.head else []
    return found + [Finding("cluster-metrics", note, None, "info") for note in cluster.notes]
