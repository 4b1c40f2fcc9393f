"""The fake Kubernetes API server, through the official ``kubernetes`` client (and Helm's
SDK, in test_fake_kube_helm.py): answers come from the cut OpenAPI description, requests
that break it are refused as a real server refuses them."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config, watch

from testing.fake_kube import FakeCluster, Rollout

NS = "plog-demo-pr-7"
IMAGE = "registry.local/demo@sha256:" + "ab" * 32


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeCluster]:
    with FakeCluster(tmp_path / "kube", namespace_delete_delay=0.2) as fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
def api(cluster: FakeCluster) -> client.ApiClient:
    return config.new_client_from_config(str(cluster.kubeconfig))


def deployment(name: str = "web", replicas: int = 2, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": IMAGE,
                            "ports": [{"containerPort": 8080}],
                            "readinessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                        }
                    ]
                },
            },
            **spec,
        },
    }


def make_namespace(core: client.CoreV1Api, name: str = NS, **labels: str) -> None:
    meta = {"name": name, "labels": {"app.kubernetes.io/managed-by": "plog", **labels}}
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})


def status_of(err: client.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.body)
    return body


def test_namespaces_by_label_and_deletion_passes_through_terminating(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    make_namespace(core, NS, **{"plog.dev/job": "42"})
    make_namespace(core, "other")
    core.create_namespaced_config_map(
        NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"a": "1"}}
    )
    found = core.list_namespace(label_selector="plog.dev/job=42,app.kubernetes.io/managed-by")
    assert [n.metadata.name for n in found.items] == [NS]
    assert found.items[0].metadata.uid and found.items[0].metadata.resource_version
    assert found.items[0].status.phase == "Active"

    core.delete_namespace(NS)
    assert core.read_namespace(NS).status.phase == "Terminating"
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_config_map(
            NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t"}}
        )
    assert refused.value.status == 403
    time.sleep(0.4)
    with pytest.raises(client.ApiException) as gone:
        core.read_namespace(NS)
    assert gone.value.status == 404 and status_of(gone.value)["reason"] == "NotFound"
    assert cluster.objects("ConfigMap", NS) == []
    ours = core.list_namespace(label_selector="app.kubernetes.io/managed-by=plog").items
    assert [n.metadata.name for n in ours] == ["other"]
    assert cluster.get("Namespace", "", "kube-system") is not None


def test_crash_looping_rollout_shows_in_pods_events_and_logs(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    make_namespace(core)
    cluster.set_rollout(Rollout("crash_loop", logs=("starting", "KeyError: 'DB_URL'")), "web")
    apps.create_namespaced_deployment(NS, deployment())
    cluster.settle()
    pods = core.list_namespaced_pod(NS, label_selector="app=web").items
    assert len(pods) == 2
    rs_name = pods[0].metadata.owner_references[0].name
    assert rs_name.startswith("web-") and pods[0].metadata.name.startswith(rs_name + "-")
    state = pods[0].status.container_statuses[0]
    assert state.state.waiting.reason == "CrashLoopBackOff" and state.restart_count == 4
    assert state.last_state.terminated.exit_code == 1
    events = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={pods[0].metadata.name}"
    ).items
    assert {e.involved_object.name for e in events} == {pods[0].metadata.name}
    assert any(
        e.type == "Warning" and e.message.startswith("Back-off restarting failed container")
        for e in events
    )
    logs = core.read_namespaced_pod_log(pods[0].metadata.name, NS, container="app", tail_lines=1)
    assert logs == "KeyError: 'DB_URL'\n"
    dep = apps.read_namespaced_deployment("web", NS)
    assert dep.status.observed_generation == 1 and not dep.status.ready_replicas
    assert dep.status.unavailable_replicas == 2


def test_image_pull_failure_events_and_logs_refused(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    make_namespace(core)
    cluster.set_rollout(Rollout("image_pull"))
    apps.create_namespaced_deployment(NS, deployment(replicas=1))
    cluster.settle()
    (pod,) = core.list_namespaced_pod(NS).items
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    messages = [
        e.message for e in core.list_namespaced_event(NS, field_selector="type=Warning").items
    ]
    assert any(m.startswith(f'Failed to pull image "{IMAGE}"') for m in messages)
    with pytest.raises(client.ApiException) as refused:
        core.read_namespaced_pod_log(pod.metadata.name, NS)
    assert refused.value.status == 400 and "waiting to start" in status_of(refused.value)["message"]


def test_ready_rollout_calls_the_hook_and_completes_the_status(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    make_namespace(core)
    seen: list[str] = []
    cluster.on_ready(lambda dep: seen.append(dep["metadata"]["name"]))
    apps.create_namespaced_deployment(NS, deployment(replicas=3))
    cluster.settle()
    dep = apps.read_namespaced_deployment("web", NS)
    assert seen == ["web"]
    assert (dep.status.ready_replicas, dep.status.available_replicas) == (3, 3)
    assert {c.type: c.reason for c in dep.status.conditions} == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }
    pods = core.list_namespaced_pod(NS, field_selector="status.phase=Running").items
    assert len(pods) == 3 and all(p.status.container_statuses[0].ready for p in pods)
    # a new template: a new ReplicaSet, generation 2, the old pods gone
    apps.patch_namespaced_deployment(
        "web", NS, {"spec": {"template": {"metadata": {"labels": {"app": "web", "v": "2"}}}}}
    )
    cluster.settle()
    dep = apps.read_namespaced_deployment("web", NS)
    assert dep.metadata.generation == 2 and dep.status.observed_generation == 2
    assert len(cluster.objects("ReplicaSet", NS)) == 1
    assert {p["metadata"]["labels"].get("v") for p in cluster.objects("Pod", NS)} == {"2"}
    # deleting the Deployment removes what it owns
    apps.delete_namespaced_deployment("web", NS)
    assert cluster.objects("Pod", NS) == [] and cluster.objects("ReplicaSet", NS) == []


def test_requests_that_break_the_spec_are_refused(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    make_namespace(core)
    with pytest.raises(client.ApiException) as unknown:
        apps.create_namespaced_deployment(NS, deployment(strategyy={"type": "Recreate"}))
    status = status_of(unknown.value)
    assert unknown.value.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.strategyy"
    bad = deployment()
    bad["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "http"}]
    del bad["spec"]["selector"]
    with pytest.raises(client.ApiException) as invalid:
        apps.create_namespaced_deployment(NS, bad)
    fields = {c["field"] for c in status_of(invalid.value)["details"]["causes"]}
    assert fields == {"spec.selector", "spec.template.spec.containers[0].ports[0].containerPort"}
    with pytest.raises(client.ApiException) as exists:
        make_namespace(core)
    assert exists.value.status == 409 and status_of(exists.value)["reason"] == "AlreadyExists"
    assert cluster.objects("Deployment", NS) == []

    headers = {"Authorization": f"Bearer {cluster.token}"}
    ca = ssl.create_default_context(cafile=cluster.certificates.ca)
    with httpx.Client(base_url=cluster.url, headers=headers, verify=ca) as http:
        assert (
            http.get("/api/v1/namespaces", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        missing = http.get("/api/v1/namespaces/x/widgets")
        assert missing.status_code == 404 and missing.json()["kind"] == "Status"
        assert http.put("/api/v1/namespaces").status_code == 405
        assert http.get("/api/v1/pods", params={"labelSelectr": "a=b"}).status_code == 400
        assert http.get("/api/v1/pods", params={"timeoutSeconds": "soon"}).status_code == 400
        assert http.get("/api/v1/events", params={"fieldSelector": "spec.x=1"}).status_code == 400
        text = {"Content-Type": "text/plain"}
        assert (
            http.post(f"/api/v1/namespaces/{NS}/configmaps", content=b"x", headers=text).status_code
            == 415
        )


def test_testruns_through_custom_objects_play_k6_operator(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    make_namespace(core)
    played: list[int] = []

    def play(run: dict[str, Any]) -> bool:
        played.append(run["spec"]["parallelism"])
        runners = cluster.objects("Pod", NS)
        assert [p["metadata"]["labels"]["k6_cr"] for p in runners] == [run["metadata"]["name"]] * 3
        return bool(run["metadata"]["name"] != "broken")

    cluster.on_testrun(play)
    run: dict[str, Any] = {
        "apiVersion": "k6.io/v1alpha1",
        "kind": "TestRun",
        "metadata": {"name": "load", "labels": {"plog.dev/job": "1"}},
        "spec": {
            "parallelism": 3,
            "script": {"configMap": {"name": "load-script", "file": "s.js"}},
        },
    }

    def ended(name: str) -> dict[str, Any]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            got: dict[str, Any] = custom.get_namespaced_custom_object(
                "k6.io", "v1alpha1", NS, "testruns", name
            )
            if got.get("status", {}).get("stage") in ("finished", "error"):
                return got
            time.sleep(0.02)
        raise AssertionError(f"TestRun {name} did not end")

    created = custom.create_namespaced_custom_object("k6.io", "v1alpha1", NS, "testruns", run)
    assert created["metadata"]["uid"] and "status" not in created
    done = ended("load")
    assert done["status"]["stage"] == "finished" and played == [3]
    running = {c["type"]: c["status"] for c in done["status"]["conditions"]}["TestRunRunning"]
    assert running == "False"
    listed = custom.list_namespaced_custom_object(
        "k6.io", "v1alpha1", NS, "testruns", label_selector="plog.dev/job=1"
    )
    assert [i["metadata"]["name"] for i in listed["items"]] == ["load"]
    phases = {p["status"]["phase"] for p in cluster.objects("Pod", NS)}
    assert phases == {"Succeeded"}
    with pytest.raises(client.ApiException) as unknown:
        custom.create_namespaced_custom_object(
            "k6.io", "v1alpha1", NS, "testruns", dict(run, spec=dict(run["spec"], paralelism=2))
        )
    assert unknown.value.status == 422
    assert "spec.paralelism" in {c["field"] for c in status_of(unknown.value)["details"]["causes"]}
    custom.delete_namespaced_custom_object("k6.io", "v1alpha1", NS, "testruns", "load")
    assert cluster.objects("TestRun", NS) == [] and cluster.objects("Pod", NS) == []
    # a hook that says the load failed: stage error, runner pods Failed
    custom.create_namespaced_custom_object(
        "k6.io", "v1alpha1", NS, "testruns", dict(run, metadata={"name": "broken"})
    )
    assert ended("broken")["status"]["stage"] == "error"
    assert {p["status"]["phase"] for p in cluster.objects("Pod", NS)} == {"Failed"}


def test_watch_streams_changes_and_honours_timeout(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    make_namespace(core)
    rv = core.list_namespaced_config_map(NS).metadata.resource_version

    def later() -> None:
        time.sleep(0.1)
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"k": "v"}},
        }
        core.create_namespaced_config_map(NS, body)
        core.patch_namespaced_config_map("a", NS, {"data": {"x": "1"}})
        core.create_namespaced_config_map(NS, dict(body, metadata={"name": "b"}))
        core.delete_namespaced_config_map("a", NS)

    threading.Thread(target=later).start()
    seen = []
    started = time.monotonic()
    for event in watch.Watch().stream(
        core.list_namespaced_config_map,
        NS,
        resource_version=rv,
        label_selector="k=v",
        timeout_seconds=1,
    ):
        seen.append((event["type"], event["object"].metadata.name))
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert 0.9 < time.monotonic() - started < 3


def test_label_selectors_and_patches_behave_as_the_servers(
    cluster: FakeCluster, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    for name, labels in [("a", {"tier": "web", "env": "pr"}), ("b", {"tier": "db"}), ("c", {})]:
        make_namespace(core, name, **labels)

    def listed(selector: str) -> list[str]:
        found = core.list_namespace(label_selector=selector).items
        return [n.metadata.name for n in found]

    assert listed("tier in (web,db)") == ["a", "b"]
    assert listed("tier notin (web),app.kubernetes.io/managed-by=plog") == ["b", "c"]
    assert listed("!tier,app.kubernetes.io/managed-by") == ["c"] and listed("env") == ["a"]
    assert listed("tier!=db,app.kubernetes.io/managed-by") == ["a", "c"]
    with pytest.raises(client.ApiException) as bad:
        listed("tier in web")
    assert bad.value.status == 400

    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "data": {"k": "1"}}
    core.create_namespaced_config_map("a", body)
    # a list body is a JSON patch; a test that fails refuses the whole patch
    core.patch_namespaced_config_map("m", "a", [{"op": "add", "path": "/data/j", "value": "2"}])
    with pytest.raises(client.ApiException) as failed:
        core.patch_namespaced_config_map(
            "m", "a", [{"op": "test", "path": "/data/k", "value": "9"}]
        )
    assert failed.value.status == 422
    # server-side apply needs a field manager, and keeps what the server set
    ca = ssl.create_default_context(cafile=cluster.certificates.ca)
    headers = {
        "Authorization": f"Bearer {cluster.token}",
        "Content-Type": "application/apply-patch+yaml",
    }
    applied = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata: {k: '3'}\n"
    url = f"{cluster.url}/api/v1/namespaces/a/configmaps/m"
    with httpx.Client(headers=headers, verify=ca) as http:
        assert http.patch(url, content=applied).status_code == 400
        answer = http.patch(url, content=applied, params={"fieldManager": "plog"}).json()
    assert answer["data"] == {"k": "3"} and answer["metadata"]["uid"]
    # a stale resourceVersion conflicts
    stale = core.read_namespaced_config_map("m", "a")
    core.replace_namespaced_config_map("m", "a", stale)
    with pytest.raises(client.ApiException) as conflict:
        core.replace_namespaced_config_map("m", "a", stale)
    assert conflict.value.status == 409 and status_of(conflict.value)["reason"] == "Conflict"


def test_merge_patches_delete_with_null(cluster: FakeCluster, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    meta = {"name": NS, "labels": {"keep": "1", "drop": "1"}}
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
    core.patch_namespace(NS, {"metadata": {"labels": {"drop": None}}})
    labels = core.read_namespace(NS).metadata.labels
    assert labels == {"keep": "1", "kubernetes.io/metadata.name": NS}
