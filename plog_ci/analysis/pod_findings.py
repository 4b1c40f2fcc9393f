"""The podman path's container findings for a release's pods, read from Prometheus
(``plog_ci.deploy.cluster_metrics``), each naming its pod and container; and what
only a cluster tells: restarts and OOM kills during the load.

``container_findings`` runs unchanged on each container's samples with the limits
kube-state-metrics gave it. Prometheus has a sample per step (the scrape interval),
not per second: the run's p95 of each second is averaged over each step's seconds
(``per_step``) so throttling is correlated step by step.
"""

from __future__ import annotations

from collections.abc import Sequence

from plog_ci.analysis.container_findings import Limits, container_findings
from plog_ci.analysis.findings import Finding
from plog_ci.deploy.cgroup import ContainerSample
from plog_ci.deploy.cluster_metrics import ReleaseResources, sum_samples

# container_findings' advice names plog.yml's podman keys; a chart sets these instead.
_ADVICE = (
    ("deploy.resources.cpus", "the chart's resources.limits.cpu"),
    ("deploy.resources.memory", "the chart's resources.limits.memory"),
)


def per_step(
    p95_by_second: Sequence[tuple[float, float]], ends: Sequence[float], step_s: float
) -> list[tuple[float, float]]:
    """``(step end, mean p95 ms)`` of the seconds ``(end - step_s, end]`` for each of
    ``ends`` that has any."""
    out = []
    for end in ends:
        inside = [p95 for second, p95 in p95_by_second if end - step_s < second <= end]
        if inside:
            out.append((end, sum(inside) / len(inside)))
    return out


def _named(finding: Finding, pod: str, container: str) -> Finding:
    message = finding.message
    for podman, chart in _ADVICE:
        message = message.replace(podman, chart)
    message = message.replace("the container was", f"the container {container} was", 1)
    message = message.replace("the container's", f"the container {container}'s", 1)
    return Finding(
        finding.kind,
        f"pod {pod}: {message}",
        finding.operation,
        finding.severity,
        {**finding.data, "pod": pod, "container": container},
    )


def _base_of(base: ReleaseResources | None, container: str) -> list[ContainerSample]:
    """The base release's containers of that name, summed (its pods are named apart)."""
    if base is None:
        return []
    return sum_samples(s for (_, name), s in sorted(base.samples.items()) if name == container)


def pod_findings(
    head: ReleaseResources,
    p95_by_second: Sequence[tuple[float, float]],
    base: ReleaseResources | None = None,
) -> list[Finding]:
    """Per container of the head release (pods in name order): throttling and the
    memory limit (``container_findings``), then OOM kills (error) and other restarts
    (warning) during the window, then the notes of what Prometheus could not say (info).
    ``p95_by_second``: ``(unix second, ms)`` of the whole run."""
    out: list[Finding] = []
    for (pod, container), samples in sorted(head.samples.items()):
        limit = head.limits.get((pod, container))
        limits = Limits(limit.cpus, limit.memory_bytes) if limit else Limits()
        steps = per_step(p95_by_second, [s.ts for s in samples], head.step_s)
        found = container_findings(samples, steps, limits, _base_of(base, container))
        out += [_named(f, pod, container) for f in found]
    for (pod, container), restarts in sorted(head.restarts.items()):
        samples = head.samples.get((pod, container), ())
        ooms = max((s.oom_kills for s in samples), default=0)
        data: dict[str, object] = {"pod": pod, "container": container, "restarts": restarts}
        if ooms:
            bytes_ = getattr(head.limits.get((pod, container)), "memory_bytes", None)
            limit_text = f" (limit {bytes_ / (1 << 20):.0f} MB)" if bytes_ else ""
            out.append(
                Finding(
                    "oom-kill",
                    f"pod {pod}: the container {container} was OOM-killed {ooms} time(s) during "
                    f"the load and restarted{limit_text}: raise the chart's "
                    "resources.limits.memory, or find what grows",
                    severity="error",
                    data={**data, "oom_kills": ooms},
                )
            )
        else:
            out.append(
                Finding(
                    "container-restart",
                    f"pod {pod}: the container {container} restarted {restarts} time(s) during "
                    "the load (not OOM-killed: a crash or a failed liveness probe; see its "
                    "previous logs)",
                    severity="warning",
                    data=data,
                )
            )
    out += [Finding("cluster-metrics", note, severity="info") for note in head.notes]
    return out
