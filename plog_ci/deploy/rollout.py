"""Why a Helm release's pods are not ready, as text for the run's error and status.

For each pod of the release (at most ``MAX_PODS``): its phase, each container's
waiting or terminated reason (ImagePullBackOff, CrashLoopBackOff, OOMKilled, ...),
the pod's last ``MAX_EVENTS`` Warning events, and the last ``LOG_LINES`` log lines of
each container that is not ready (its previous run's when it restarted: that is
where a crash loop's error is). Secrets are redacted (``kube.Cluster`` redacts
logs and events; the whole is redacted again).
"""

from __future__ import annotations

from plog_ci.deploy.kube import Cluster, ContainerStatus, Pod
from plog_ci.redaction import redact

MAX_PODS = 4
MAX_EVENTS = 5
LOG_LINES = 20
MAX_LINE = 400


def container_state(status: ContainerStatus) -> str:
    """One container's state in words: ``app: waiting: CrashLoopBackOff (...)``."""
    parts = [f"{status.name}: " + ("ready" if status.ready else "not ready")]
    if status.waiting_reason:
        why = f" ({status.waiting_message[:MAX_LINE]})" if status.waiting_message else ""
        parts.append(f"waiting: {status.waiting_reason}{why}")
    if status.terminated_reason or status.exit_code is not None:
        code = f", exit code {status.exit_code}" if status.exit_code is not None else ""
        parts.append(f"last ended: {status.terminated_reason or 'terminated'}{code}")
    if status.restarts:
        parts.append(f"{status.restarts} restart(s)")
    return "; ".join(parts)


def _pod_report(cluster: Cluster, namespace: str, pod: Pod) -> list[str]:
    reason = f", {pod.reason}" if pod.reason else ""
    lines = [f"pod {pod.name} ({pod.phase}{reason})"]
    lines += [f"  container {container_state(c)}" for c in pod.containers]
    warnings = [e for e in cluster.pod_events(namespace, pod.name) if e.type == "Warning"]
    if warnings:
        lines.append(f"  Warning events (last {min(len(warnings), MAX_EVENTS)}):")
        for event in warnings[-MAX_EVENTS:]:
            times = f" (x{event.count})" if event.count > 1 else ""
            lines.append(f"    {event.reason}: {event.message[:MAX_LINE]}{times}")
    for status in pod.containers:
        if status.ready:
            continue
        previous = status.restarts > 0
        text = cluster.container_log(
            namespace, pod.name, status.name, lines=LOG_LINES, previous=previous
        )
        tail = text.rstrip("\n").splitlines()[-LOG_LINES:]
        run = "its previous run" if previous else "its log"
        if not tail:
            lines.append(f"  {status.name}: no log lines (the container has not run)")
            continue
        lines.append(f"  last {len(tail)} log lines of {status.name} ({run}):")
        lines += [f"    {line[:MAX_LINE]}" for line in tail]
    return lines


def rollout_report(cluster: Cluster, namespace: str, release: str) -> str:
    """The state of ``release``'s pods in ``namespace`` (see the module's docstring).
    Raises DependencyError when the cluster cannot be read."""
    pods = cluster.release_pods(namespace, release)
    if not pods:
        return f"release {release} has no pods in namespace {namespace} (yet)"
    # The failing pods first: they say why.
    pods.sort(key=lambda p: all(c.ready for c in p.containers) and bool(p.containers))
    lines: list[str] = []
    for pod in pods[:MAX_PODS]:
        lines += _pod_report(cluster, namespace, pod)
    if len(pods) > MAX_PODS:
        lines.append(f"... and {len(pods) - MAX_PODS} more pod(s)")
    return redact("\n".join(lines))
