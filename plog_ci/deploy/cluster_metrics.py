"""Resource samples of a Helm release's pods from the cluster's own Prometheus.

The series are those of a normal kube-prometheus setup: cAdvisor through the
kubelet's ``/metrics/cadvisor`` (``container_cpu_usage_seconds_total``,
``container_cpu_cfs_periods_total``, ``container_cpu_cfs_throttled_periods_total``,
``container_cpu_cfs_throttled_seconds_total``, ``container_memory_working_set_bytes``)
and kube-state-metrics v2 (``kube_pod_container_resource_limits``,
``kube_pod_container_status_restarts_total``,
``kube_pod_container_status_last_terminated_reason``). They are read with
``/api/v1/query_range`` over the load window and turned into the podman path's
``ContainerSample``, per container, so the same findings apply
(``plog_ci.analysis.pod_findings``).

Pods are chosen by namespace and pod *name* (an RE2 regex that Prometheus matches
whole), not by labels: kube-state-metrics v2 exports ``kube_pod_labels`` only for
labels named in ``--metric-labels-allowlist`` (none by default), while every series
above carries ``namespace`` and ``pod``. ``PodSelector.release`` matches a
Deployment's pods (``<fullname>-<replicaset hash>-<suffix>``), ``PodSelector.pods``
exact names (as listed from the Kubernetes API). The pause container
(``container="POD"``, or ``container=""`` with containerd) and cAdvisor's pod-level
rows (``container=""``) are excluded in every query.

Counters are read raw at each step and differenced per series (a restarted
container is a new series, counting from 0), like ``increase`` without its
extrapolation: ``step_s`` should be the scrape interval (kube-prometheus: 30 s);
a step's sample holds the scrapes up to its end, so it lags by up to one interval.
The working set is the ``max_over_time`` of each step, so a container that is gone
(OOM-killed, not yet restarted) has none there and counts as not running.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from plog_ci.deploy.cgroup import ContainerSample
from plog_ci.deploy.prometheus_api import (
    MetricsError,
    NoSeries,
    Prometheus,
    Series,
    promql_string,
)
from plog_ci.redaction import register_secret

# Real containers only: cAdvisor's pod-level rows and the pause container
# (container="POD" with dockershim, container="" with containerd) are left out.
CONTAINERS = 'container!="",container!="POD"'
DEFAULT_STEP_S = 15.0

ContainerKey = tuple[str, str]  # (pod, container)


class MetricsSettings(Protocol):
    """``Config.metrics``: Prometheus's base URL and the variable holding its token."""

    @property
    def prometheus(self) -> str: ...

    @property
    def token_env(self) -> str | None: ...


def regex_literal(text: str) -> str:
    """An RE2 regex matching exactly ``text``: every character but ASCII letters,
    digits and ``_`` is escaped (RE2 takes ``\\`` before any ASCII punctuation)."""
    out = []
    for c in text:
        if (c.isascii() and c.isalnum()) or c == "_":
            out.append(c)
        elif c.isascii() and c.isprintable():
            out.append("\\" + c)
        else:
            out.append(f"\\x{{{ord(c):x}}}")  # RE2's \x{...}: that character, literally
    return "".join(out)


@dataclass(frozen=True)
class PodSelector:
    """Pods of a release: ``namespace`` and ``pod_regex`` (RE2, matched whole)."""

    namespace: str
    pod_regex: str

    @classmethod
    def release(cls, namespace: str, fullname: str) -> PodSelector:
        """A Deployment's pods: ``<fullname>-<replicaset hash>-<5 characters>``."""
        return cls(namespace, regex_literal(fullname) + "-[a-z0-9]{1,10}-[a-z0-9]{5}")

    @classmethod
    def pods(cls, namespace: str, names: Iterable[str]) -> PodSelector:
        """Exactly the pods ``names``. Raises ValueError when there are none."""
        listed = sorted(set(names))
        if not listed:
            raise ValueError("PodSelector.pods: no pod names")
        return cls(namespace, "|".join(regex_literal(n) for n in listed))

    def matchers(self) -> str:
        """The label matchers, each value a PromQL string literal."""
        return f"namespace={promql_string(self.namespace)},pod=~{promql_string(self.pod_regex)}"


@dataclass(frozen=True)
class ContainerLimits:
    """A container's limits from kube-state-metrics: CPUs (1.0 = one core), bytes."""

    cpus: float | None = None
    memory_bytes: int | None = None


def sum_samples(groups: Iterable[Sequence[ContainerSample]]) -> list[ContainerSample]:
    """Several containers' samples as one, a sample per timestamp summing them (as
    ``ResourceSampler`` sums replicas); running when any of them ran."""
    by_ts: dict[float, list[ContainerSample]] = {}
    for series in groups:
        for s in series:
            by_ts.setdefault(s.ts, []).append(s)
    return [
        ContainerSample(
            ts=ts,
            cpu_percent=sum(s.cpu_percent for s in group),
            rss_bytes=sum(s.rss_bytes for s in group),
            periods=sum(s.periods for s in group),
            throttled_periods=sum(s.throttled_periods for s in group),
            throttled_s=sum(s.throttled_s for s in group),
            oom_kills=sum(s.oom_kills for s in group),
            running=any(s.running for s in group),
        )
        for ts, group in sorted(by_ts.items())
    ]


@dataclass(frozen=True)
class ReleaseResources:
    """What Prometheus held for a release's pods over a window.

    ``samples``: per (pod, container), one ``ContainerSample`` per step of the window
    in time order (``ts``: the step's end; counters cumulative from the step before
    the window; ``oom_kills``: restarts whose last terminated reason is OOMKilled);
    ``limits`` per container (absent: none set, or kube-state-metrics not scraped);
    ``restarts`` per container within the window; ``notes``: what could not be read."""

    step_s: float
    samples: Mapping[ContainerKey, Sequence[ContainerSample]]
    limits: Mapping[ContainerKey, ContainerLimits] = field(default_factory=dict)
    restarts: Mapping[ContainerKey, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def total(self) -> list[ContainerSample]:
        """The release as one side: what the store's ``resources`` rows hold."""
        return sum_samples(self.samples.values())


def _key(labels: Mapping[str, str]) -> ContainerKey:
    return (labels.get("pod", ""), labels.get("container", ""))


def _growth(series: Series, first_ts: float) -> dict[ContainerKey, dict[float, float]]:
    """Per container, each step's counter growth summed over its series: a reset (a
    restarted container) counts from 0, a series first seen after ``first_ts`` too."""
    out: dict[ContainerKey, dict[float, float]] = {}
    for labels, points in series:
        steps = out.setdefault(_key(labels), {})
        previous: float | None = None
        for ts, value in points:
            if math.isnan(value):
                continue
            if previous is None:
                grew = 0.0 if ts <= first_ts else value
            else:
                grew = value - previous if value >= previous else value
            steps[ts] = steps.get(ts, 0.0) + grew
            previous = value
    return out


def _cumulative(growth: Mapping[float, float], steps: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for ts in steps:
        total += growth.get(ts, 0.0)
        out.append(total)
    return out


def _gauge(series: Series) -> dict[ContainerKey, dict[float, float]]:
    out: dict[ContainerKey, dict[float, float]] = {}
    for labels, points in series:
        kept = out.setdefault(_key(labels), {})
        for ts, value in points:
            if not math.isnan(value):
                kept[ts] = max(value, kept.get(ts, value))
    return out


def _oom_kills(
    restarts: Mapping[float, float], oom_reason: Mapping[float, float], steps: Sequence[float]
) -> list[int]:
    """Cumulative OOM kills: a restart at a step whose last terminated reason is
    OOMKilled there or at the next step (kube-state-metrics may be scraped later)."""
    total, out = 0, []
    for i, ts in enumerate(steps):
        grew = round(restarts.get(ts, 0.0))
        after = steps[i : i + 2]
        if grew > 0 and any(oom_reason.get(t, 0.0) >= 1 for t in after):
            total += grew
        out.append(total)
    return out


def read_release(
    api: Prometheus, selector: PodSelector, start: float, end: float, step_s: float
) -> ReleaseResources:
    """Eight range queries (cAdvisor and kube-state-metrics) over ``[start, end]``,
    one step before it as the counters' origin. Raises MetricsError; NoSeries when
    cAdvisor has no series for the pods (kube-state-metrics missing is a note)."""
    if not step_s > 0:
        raise ValueError(f"read_release: step {step_s}")
    if not end > start:
        raise MetricsError(f"the load window {start:.0f}..{end:.0f} is empty: no resources to read")
    origin = math.floor(start / step_s) * step_s - step_s
    steps = [round(origin + k * step_s, 3) for k in range(int((end - origin) // step_s) + 1)]
    m = f"{selector.matchers()},{CONTAINERS}"

    def get(query: str) -> Series:
        return api.query_range(query, steps[0], steps[-1], step_s)

    cpu_query = f"container_cpu_usage_seconds_total{{{m}}}"
    cpu = _growth(get(cpu_query), origin)
    memory_query = (
        "max by (namespace, pod, container) "
        f"(max_over_time(container_memory_working_set_bytes{{{m}}}[{step_s:g}s]))"
    )
    memory = _gauge(get(memory_query))
    if not cpu and not memory:
        raise NoSeries(
            f"Prometheus at {api.shown} has no cAdvisor series for the pods "
            f"{selector.pod_regex!r} in the namespace {selector.namespace!r} "
            "over the load window",
            query=cpu_query,
            hint="check that Prometheus scrapes the kubelets' /metrics/cadvisor (kube-prometheus: "
            "the kubelet ServiceMonitor) with the namespace, pod and container labels, and that "
            "the release's pods are named as selected",
        )
    periods = _growth(get(f"container_cpu_cfs_periods_total{{{m}}}"), origin)
    throttled = _growth(get(f"container_cpu_cfs_throttled_periods_total{{{m}}}"), origin)
    throttled_s = _growth(get(f"container_cpu_cfs_throttled_seconds_total{{{m}}}"), origin)
    limit_rows = get(
        "max by (namespace, pod, container, resource) "
        f'(kube_pod_container_resource_limits{{{m},resource=~"cpu|memory"}})'
    )
    restarts_query = f"kube_pod_container_status_restarts_total{{{m}}}"
    restarts = _growth(get(restarts_query), origin)
    oom_reason = _gauge(
        get(
            "max by (namespace, pod, container) "
            f'(kube_pod_container_status_last_terminated_reason{{{m},reason="OOMKilled"}})'
        )
    )
    notes: list[str] = []
    if not restarts:
        notes.append(
            f"kube-state-metrics: no series for {restarts_query}: limits, restarts and OOM "
            "kills are unknown (is kube-state-metrics scraped, keeping its namespace and pod "
            "labels: honorLabels?)"
        )
    if throttled and not throttled_s:
        notes.append(
            "container_cpu_cfs_throttled_seconds_total is not scraped (some setups drop it): "
            "throttled seconds are unknown, throttled periods are counted"
        )
    limits = _limits(limit_rows)
    if restarts and not limits:
        notes.append(
            "no container of the release has CPU or memory limits "
            "(kube_pod_container_resource_limits): throttling and memory-limit findings need them"
        )
    window = steps[1:]
    samples: dict[ContainerKey, list[ContainerSample]] = {}
    for key in sorted(set(cpu) | set(memory)):
        cpu_total = _cumulative(cpu.get(key, {}), steps)
        counters = [_cumulative(c.get(key, {}), window) for c in (periods, throttled, throttled_s)]
        ooms = _oom_kills(restarts.get(key, {}), oom_reason.get(key, {}), window)
        working = memory.get(key, {})
        samples[key] = [
            ContainerSample(
                ts=ts,
                cpu_percent=max(0.0, (cpu_total[i + 1] - cpu_total[i]) / step_s * 100),
                rss_bytes=int(working.get(ts, 0)),
                periods=int(counters[0][i]),
                throttled_periods=int(counters[1][i]),
                throttled_s=counters[2][i],
                oom_kills=ooms[i],
                running=ts in working,
            )
            for i, ts in enumerate(window)
        ]
    return ReleaseResources(
        step_s=step_s,
        samples=samples,
        limits=limits,
        restarts={
            k: n
            for k, growth in restarts.items()
            if (n := round(sum(v for ts, v in growth.items() if ts > origin)))
        },
        notes=tuple(notes),
    )


def _limits(rows: Series) -> dict[ContainerKey, ContainerLimits]:
    """The last limit in the window per container and resource."""
    found: dict[ContainerKey, dict[str, float]] = {}
    for labels, points in rows:
        values = [v for _, v in points if not math.isnan(v)]
        if values:
            found.setdefault(_key(labels), {})[labels.get("resource", "")] = values[-1]
    return {
        key: ContainerLimits(
            cpus=got.get("cpu"),
            memory_bytes=int(got["memory"]) if "memory" in got else None,
        )
        for key, got in found.items()
    }


def token_from(settings: MetricsSettings) -> str | None:
    """The bearer token from the variable ``token_env`` names (registered for
    redaction). Raises MetricsError when that variable is named but empty or unset."""
    if settings.token_env is None:
        return None
    token = os.environ.get(settings.token_env)
    if not token:
        raise MetricsError(
            f"metrics.token_env: ${settings.token_env} is not set",
            hint=f"export {settings.token_env} with a token Prometheus accepts",
        )
    register_secret(token)
    return token


def release_resources(
    settings: MetricsSettings,
    selector: PodSelector,
    start: float,
    end: float,
    *,
    step_s: float = DEFAULT_STEP_S,
    transport: httpx.BaseTransport | None = None,
) -> ReleaseResources:
    """The release's resources over ``[start, end]`` (Unix seconds: the load window).
    Raises MetricsError (PrometheusUnreachable, PrometheusRefused, NoSeries)."""
    token = token_from(settings)
    with Prometheus(settings.prometheus, token=token, transport=transport) as api:
        return read_release(api, selector, start, end, step_s)


def resources_or_note(
    settings: MetricsSettings | None,
    selector: PodSelector,
    start: float,
    end: float,
    *,
    step_s: float = DEFAULT_STEP_S,
) -> tuple[ReleaseResources | None, str | None]:
    """``release_resources``, or None and a one-line note saying why not, for the
    report; with no ``metrics`` configured, None and no note."""
    if settings is None:
        return None, None
    try:
        return release_resources(settings, selector, start, end, step_s=step_s), None
    except MetricsError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        return None, f"resources from Prometheus: {exc.message}{hint}"
