"""Resources of a Helm release's pods over the load window, from the cluster's
Prometheus (``metrics`` in plog.yml): the helm target's counterpart of podman's cgroup
sampler, read once the load is over.

A Helm side has no local sampler (its pods run elsewhere); after the load PLog lists
the release's pods through the Kubernetes API and asks Prometheus for their cAdvisor
and kube-state-metrics series over ``[start, end]`` (``deploy.cluster_metrics``). A
Prometheus that cannot answer leaves a note, never fails the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from plog_ci.config.model import Config, MetricsConfig
from plog_ci.deploy.cluster_metrics import (
    DEFAULT_STEP_S,
    PodSelector,
    ReleaseResources,
    resources_or_note,
)
from plog_ci.deploy.helm import HelmSide
from plog_ci.deploy.resources import Sample
from plog_ci.deploy.target import Side
from plog_ci.errors import PlogError


@dataclass(frozen=True)
class ClusterResources:
    """What Prometheus held for the head's (and the base's) release; ``notes`` say what
    it could not give (one line each, for the report's findings)."""

    head: ReleaseResources | None
    base: ReleaseResources | None = None
    notes: tuple[str, ...] = ()


def read_cluster_resources(
    metrics: MetricsConfig | None,
    sides: dict[str, Side],
    start: float,
    end: float,
    *,
    settle_s: float = DEFAULT_STEP_S,
    sleep: Callable[[float], None] = time.sleep,
) -> ClusterResources | None:
    """The releases' resources over ``[start, end]`` (unix seconds), or None when there
    is no ``metrics`` section or no side is a Helm release. ``sides``: ``head`` (and
    ``base``). Waits ``settle_s`` first: the load's last seconds reach Prometheus with
    its next scrape."""
    helm = {name: side for name, side in sides.items() if isinstance(side, HelmSide)}
    if metrics is None or "head" not in helm:
        return None
    sleep(settle_s)
    found: dict[str, ReleaseResources | None] = {}
    notes: list[str] = []
    for name, side in sorted(helm.items()):
        release = side.release
        try:
            pods = [p.name for p in release.cluster.release_pods(release.namespace, release.name)]
        except PlogError as exc:
            notes.append(f"{name}: the release's pods could not be listed: {exc.message}")
            continue
        if not pods:
            notes.append(f"{name}: release {release.name} had no pods to read resources of")
            continue
        selector = PodSelector.pods(release.namespace, pods)
        got, note = resources_or_note(metrics, selector, start, end, step_s=settle_s)
        found[name] = got
        if note:
            notes.append(f"{name}: {note}")
    return ClusterResources(found.get("head"), found.get("base"), tuple(notes))


def after_load(
    config: Config, sides: dict[str, Side], started: float, stage: Callable[[str], None]
) -> ClusterResources | None:
    """``read_cluster_resources`` for a helm target with ``metrics``, the window from
    ``started`` to now; None otherwise."""
    if config.metrics is None or config.deploy.target != "helm":
        return None
    stage("Reading the releases' resources from Prometheus")
    return read_cluster_resources(config.metrics, sides, started, time.time())


def cluster_samples(
    cluster: ClusterResources | None, side: str, local: list[Sample]
) -> list[Sample]:
    """The side's samples to store: its release's pods summed per step when Prometheus
    gave them, else what the local sampler took (nothing for a release)."""
    release = None if cluster is None else (cluster.head if side == "head" else cluster.base)
    return list(release.total()) if release is not None else local
