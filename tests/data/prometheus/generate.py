"""Writes release.om: cAdvisor and kube-state-metrics series of a Helm release's pods,
as Prometheus holds them after scraping the kubelet's /metrics/cadvisor and
kube-state-metrics v2 every 15 s in a kube-prometheus setup (README.md here says
which names and labels). Deterministic: run ``python generate.py`` to rewrite it.

Time starts at T0 (a Unix second); testing/prometheus.py shifts every timestamp to
the recent past before backfilling. The load window is [T0 + 120, T0 + 420].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

T0 = 1_700_000_100  # a multiple of the 15 s step
SCRAPE_S = 15
OFFSET_S = 2  # scrapes do not land on query steps
SCRAPES = 41  # ten minutes
LOAD = (8, 28)  # scrape indexes of the load window: T0 + 120 .. T0 + 420
NS = "plog-shop-pr-7"
NODE = "k3s-agent-1"
MI = 1 << 20
PERIODS_PER_SCRAPE = SCRAPE_S * 10  # CFS periods of 100 ms in a scrape interval
HOSTILE_NS = 'we"ird\\}ns'  # not a DNS label: only the query's escaping is tested with it

KUBELET = {
    "endpoint": "https-metrics",
    "instance": "10.42.0.11:10250",
    "job": "kubelet",
    "metrics_path": "/metrics/cadvisor",
    "node": NODE,
    "service": "kubelet",
}
KSM = {
    "endpoint": "http",
    "instance": "10.42.0.20:8080",
    "job": "kube-state-metrics",
    "service": "kube-state-metrics",
}

# family -> (type, help, {labels tuple: {scrape index: value}})
Families = dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], dict[int, float]]]]
families: Families = {}
HELP = {
    "container_cpu_usage_seconds": ("counter", "Cumulative cpu time consumed in seconds."),
    "container_cpu_cfs_periods": ("counter", "Number of elapsed enforcement period intervals."),
    "container_cpu_cfs_throttled_periods": ("counter", "Number of throttled period intervals."),
    "container_cpu_cfs_throttled_seconds": (
        "counter",
        "Total time duration the container has been throttled.",
    ),
    "container_memory_working_set_bytes": ("gauge", "Current working set in bytes."),
    "kube_pod_container_resource_limits": (
        "gauge",
        "The number of requested limit resource by a container.",
    ),
    "kube_pod_container_status_restarts": (
        "counter",
        "The number of container restarts per container.",
    ),
    "kube_pod_container_status_last_terminated_reason": (
        "gauge",
        "Describes the last reason the container was in terminated state.",
    ),
}


def put(family: str, labels: dict[str, str], k: int, value: float) -> None:
    kind, text = HELP[family]
    series = families.setdefault(family, (kind, text, {}))[2]
    series.setdefault(tuple(sorted(labels.items())), {})[k] = value


def in_load(k: int) -> bool:
    return LOAD[0] < k <= LOAD[1]


def load_share(k: int) -> float:
    """0 before and after the load, rising 0..1 through it."""
    return (k - LOAD[0]) / (LOAD[1] - LOAD[0]) if in_load(k) else 0.0


def cadvisor(
    ns: str,
    pod: str,
    uid: str,
    container: str,
    cid: str,
    image: str,
    ks: range,
    cores: Callable[[int], float],
    throttled: Callable[[int], float] | None,
    working_set: Callable[[int], float],
) -> None:
    """One container's cAdvisor series over the scrapes ``ks`` (counters from 0)."""
    labels = {
        **KUBELET,
        "namespace": ns,
        "pod": pod,
        "container": container,
        "image": image,
        "id": f"/kubepods/burstable/pod{uid}/{cid}",
        "name": cid,
    }
    cpu = periods = thr = thr_s = 0.0
    for k in ks:
        cpu += cores(k) * SCRAPE_S
        put("container_cpu_usage_seconds", labels, k, round(cpu, 6))
        if throttled is not None:  # cAdvisor has CFS series only under a CPU quota
            periods += PERIODS_PER_SCRAPE
            share = throttled(k)
            thr += round(share * PERIODS_PER_SCRAPE)
            thr_s += share * SCRAPE_S * 0.05
            put("container_cpu_cfs_periods", labels, k, periods)
            put("container_cpu_cfs_throttled_periods", labels, k, thr)
            put("container_cpu_cfs_throttled_seconds", labels, k, round(thr_s, 6))
        put("container_memory_working_set_bytes", labels, k, round(working_set(k)))


def ksm(
    ns: str,
    pod: str,
    uid: str,
    container: str,
    cpus: float,
    memory: int,
    restart_at: int | None = None,
) -> None:
    """kube-state-metrics' series of one container: limits, restarts, last reason."""
    base = {**KSM, "namespace": ns, "pod": pod, "uid": uid, "container": container}
    for k in range(SCRAPES):
        put(
            "kube_pod_container_resource_limits",
            {**base, "node": NODE, "resource": "cpu", "unit": "core"},
            k,
            cpus,
        )
        put(
            "kube_pod_container_resource_limits",
            {**base, "node": NODE, "resource": "memory", "unit": "byte"},
            k,
            memory,
        )
        restarted = restart_at is not None and k >= restart_at
        put("kube_pod_container_status_restarts", base, k, 1 if restarted else 0)
        if restarted:
            put(
                "kube_pod_container_status_last_terminated_reason",
                {**base, "reason": "OOMKilled"},
                k,
                1,
            )


def pause(ns: str, pod: str, uid: str, dockershim: bool) -> None:
    """The pause container (container "POD", or "" under containerd) and the pod's own
    cgroup row (container "", no image): both must stay out of every result. Their
    figures would be findings if they got in: the pause throttled hard, the pod row
    at a huge working set."""
    everything = range(SCRAPES)
    cadvisor(
        ns,
        pod,
        uid,
        "POD" if dockershim else "",
        f"pause{uid[:8]}",
        "registry.k8s.io/pause:3.9",
        everything,
        lambda k: 0.001,
        lambda k: 0.95,
        lambda k: 900 * MI,
    )
    labels = {
        **KUBELET,
        "namespace": ns,
        "pod": pod,
        "container": "",
        "image": "",
        "name": "",
        "id": f"/kubepods/burstable/pod{uid}",
    }
    for k in everything:
        put("container_memory_working_set_bytes", labels, k, 4000 * MI)
        put("container_cpu_usage_seconds", labels, k, 3.0 * SCRAPE_S * (k + 1))


def release() -> None:
    app = "registry.example.com/shop/api@sha256:" + "ab" * 32
    everything = range(SCRAPES)
    # The throttled pod: 0.5 CPU limit, more of its periods throttled as the load rises.
    pod, uid = "head-service-5d8f7b9c6-thr7x", "0a1b2c3d-0000-4000-8000-000000000001"
    cadvisor(
        NS,
        pod,
        uid,
        "app",
        "c0ffee01",
        app,
        everything,
        lambda k: 0.45 if in_load(k) else 0.02,
        lambda k: 0.1 + 0.6 * load_share(k) if in_load(k) else 0.0,
        lambda k: 200 * MI,
    )
    ksm(NS, pod, uid, "app", 0.5, 512 * MI)
    pause(NS, pod, uid, dockershim=True)
    # The pod near its memory limit: working set to 240 Mi of 256 Mi.
    pod, uid = "head-service-5d8f7b9c6-mem4q", "0a1b2c3d-0000-4000-8000-000000000002"
    cadvisor(
        NS,
        pod,
        uid,
        "app",
        "c0ffee02",
        app,
        everything,
        lambda k: 0.3 if in_load(k) else 0.02,
        lambda k: 0.01 if in_load(k) else 0.0,
        lambda k: (150 + 90 * load_share(k)) * MI if in_load(k) else 150 * MI,
    )
    ksm(NS, pod, uid, "app", 1.0, 256 * MI)
    pause(NS, pod, uid, dockershim=False)
    # The pod OOM-killed at scrape 18: its container is gone at 18, a new one from 19.
    pod, uid = "head-service-5d8f7b9c6-oom2z", "0a1b2c3d-0000-4000-8000-000000000003"
    cadvisor(
        NS,
        pod,
        uid,
        "app",
        "c0ffee03",
        app,
        range(18),
        lambda k: 0.2 if in_load(k) else 0.02,
        lambda k: 0.0,
        lambda k: (120 + 13 * max(0, k - LOAD[0])) * MI,
    )
    cadvisor(
        NS,
        pod,
        uid,
        "app",
        "c0ffee33",
        app,
        range(19, SCRAPES),
        lambda k: 0.2 if in_load(k) else 0.02,
        lambda k: 0.0,
        lambda k: 90 * MI,
    )
    ksm(NS, pod, uid, "app", 1.0, 256 * MI, restart_at=19)
    pause(NS, pod, uid, dockershim=False)
    # The base release in the same namespace: another name, no trouble.
    pod, uid = "base-service-6c9d8e7f5-bas1q", "0a1b2c3d-0000-4000-8000-000000000004"
    cadvisor(
        NS,
        pod,
        uid,
        "app",
        "c0ffee04",
        app,
        everything,
        lambda k: 0.2,
        lambda k: 0.02,
        lambda k: 100 * MI,
    )
    ksm(NS, pod, uid, "app", 0.5, 512 * MI)
    # The same pod name in another namespace: near its limit, must not be read.
    pod, uid = "head-service-5d8f7b9c6-thr7x", "0a1b2c3d-0000-4000-8000-000000000005"
    cadvisor(
        "plog-shop-pr-8",
        pod,
        uid,
        "app",
        "c0ffee05",
        app,
        everything,
        lambda k: 0.9,
        lambda k: 0.9,
        lambda k: 500 * MI,
    )
    ksm("plog-shop-pr-8", pod, uid, "app", 1.0, 512 * MI)
    # A namespace with a quote, backslash and brace, without throttled seconds (some
    # setups drop container_cpu_cfs_throttled_seconds_total) and without kube-state-metrics.
    pod, uid = "head-service-5d8f7b9c6-hst1l", "0a1b2c3d-0000-4000-8000-000000000006"
    cadvisor(
        HOSTILE_NS,
        pod,
        uid,
        "app",
        "c0ffee06",
        app,
        everything,
        lambda k: 0.1,
        lambda k: 0.2,
        lambda k: 64 * MI,
    )


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render() -> str:
    lines: list[str] = []
    for family in sorted(families):
        kind, text, series = families[family]
        lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
        name = f"{family}_total" if kind == "counter" else family
        for labels in sorted(series):
            if (
                family == "container_cpu_cfs_throttled_seconds"
                and ("namespace", HOSTILE_NS) in labels
            ):
                continue
            shown = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
            for k, value in sorted(series[labels].items()):
                ts = T0 + k * SCRAPE_S + OFFSET_S
                number = str(int(value)) if float(value).is_integer() else repr(value)
                lines.append(f"{name}{{{shown}}} {number} {ts}")
    return "\n".join([*lines, "# EOF", ""])


def p95_by_second() -> list[tuple[int, float]]:
    """The run's p95 (ms) of each second of the load: it rises with the throttled
    pod's throttled share (as a quota-bound service's tail does)."""
    out = []
    for second in range(T0 + 121, T0 + 421):
        k = math.ceil((second - T0 - OFFSET_S) / SCRAPE_S)
        share = 0.1 + 0.6 * load_share(k) if in_load(k) else 0.0
        out.append((second, 40.0 + 300.0 * share + (second % 7)))
    return out


if __name__ == "__main__":
    release()
    Path(__file__).with_name("release.om").write_text(render(), encoding="utf-8")
