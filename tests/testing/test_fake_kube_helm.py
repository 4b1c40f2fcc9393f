"""Helm's v4 SDK (helm_python, the real Go library) against the fake API server: install,
wait, upgrade and uninstall a tiny chart; each failed rollout ends in Helm's timeout with
the cause readable through the ``kubernetes`` client; a manifest the spec refuses fails."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from kubernetes import client, config

from testing.fake_kube import FakeCluster, Rollout
from testing.paths import ROOT

CHART = ROOT / "tests" / "data" / "kubernetes" / "charts" / "tiny"
NS = "plog-tiny-pr-3"
HOSTILE = "$(touch /tmp/x) ${HOME} `id` --set=a=b <script>alert(1)</script> \"'"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with FakeCluster(tmp_path / "kube") as fake:
        core = client.CoreV1Api(config.new_client_from_config(str(fake.kubeconfig)))
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        yield fake
        assert fake.errors == []
        assert all(r.code < 500 for r in fake.requests)


@pytest.fixture
def core(cluster: FakeCluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))


def helm_config(cluster: FakeCluster) -> helm.Config:
    return helm.Config(kubeconfig_path=str(cluster.kubeconfig), namespace=NS)


def names(cluster: FakeCluster, kind: str) -> list[str]:
    return [o["metadata"]["name"] for o in cluster.objects(kind, NS)]


def test_install_waits_upgrades_and_uninstalls(cluster: FakeCluster) -> None:
    ready: list[str] = []
    cluster.on_ready(lambda dep: ready.append(dep["metadata"]["name"]))
    values: dict[str, Any] = {"hpa": True, "serviceAccount": True, "config": {"NOTE": HOSTILE}}
    with helm_config(cluster) as cfg:
        cfg.install(str(CHART), "head", values, namespace=NS, timeout=20, wait="watcher")
        assert ready == ["head"]
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "ServiceAccount"):
            assert names(cluster, kind) == ["head"], kind
        (config_map,) = cluster.objects("ConfigMap", NS)
        assert config_map["data"] == {"NOTE": HOSTILE}
        # Helm stored its release in a Secret (sent as protobuf) and applied server-side
        assert names(cluster, "Secret") == ["sh.helm.release.v1.head.v1"]
        applied = [r for r in cluster.requests if r.content_type == "application/apply-patch+yaml"]
        assert applied and all(r.query.get("fieldValidation") == "Strict" for r in applied)

        cfg.upgrade(str(CHART), "head", {"replicas": 2}, namespace=NS, timeout=20, wait="watcher")
        dep = cluster.get("Deployment", NS, "head")
        assert dep is not None and dep["metadata"]["generation"] == 2
        assert dep["status"]["readyReplicas"] == 2 and len(names(cluster, "Pod")) == 2
        assert names(cluster, "HorizontalPodAutoscaler") == [] == names(cluster, "ConfigMap")

        cfg.uninstall("head", timeout=20, wait="watcher")
    for kind in ("Deployment", "Service", "ReplicaSet", "Pod", "Secret", "ServiceAccount"):
        assert names(cluster, kind) == [], kind


@pytest.mark.parametrize(
    ("rollout", "warning"),
    [
        (Rollout("image_pull"), "Failed to pull image"),
        (Rollout("crash_loop", logs=("listening on :8080", "panic: no DB_URL")), "Back-off"),
        (Rollout("never_ready"), "Readiness probe failed"),
    ],
    ids=["image_pull", "crash_loop", "never_ready"],
)
def test_a_failed_rollout_ends_in_helms_timeout_with_its_cause_readable(
    cluster: FakeCluster, core: client.CoreV1Api, rollout: Rollout, warning: str
) -> None:
    cluster.set_rollout(rollout, "base")
    with helm_config(cluster) as cfg, pytest.raises(helm.HelmError) as failed:
        cfg.install(str(CHART), "base", {}, namespace=NS, timeout=1, wait="watcher")
    assert "context deadline exceeded" in str(failed.value)
    assert "Deployment/plog-tiny-pr-3/base not ready" in str(failed.value)
    (pod,) = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/instance=base").items
    events = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={pod.metadata.name},type=Warning"
    ).items
    assert any(e.message.startswith(warning) for e in events), [e.message for e in events]
    if rollout.outcome == "crash_loop":
        logs = core.read_namespaced_pod_log(pod.metadata.name, NS, tail_lines=1, previous=True)
        assert logs == "panic: no DB_URL\n"
        assert pod.status.container_statuses[0].restart_count == rollout.restarts


def test_a_manifest_the_spec_refuses_fails_the_install(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    chart = tmp_path / "typo"
    shutil.copytree(CHART, chart)
    deployment = chart / "templates" / "deployment.yaml"
    text = deployment.read_text(encoding="utf-8")
    deployment.write_text(text.replace("  replicas:", "  replica:"), encoding="utf-8")
    with helm_config(cluster) as cfg, pytest.raises(helm.HelmError) as failed:
        cfg.install(str(chart), "head", {}, namespace=NS, timeout=5, wait="watcher")
    assert 'unknown field "spec.replica"' in str(failed.value)
    assert names(cluster, "Deployment") == []
    refused = [r for r in cluster.requests if r.code == 422]
    assert [r.path for r in refused] == [f"/apis/apps/v1/namespaces/{NS}/deployments/head"]
