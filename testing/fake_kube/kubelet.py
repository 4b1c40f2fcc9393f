"""The simulated control plane: Deployment -> ReplicaSet -> Pods, kubelet's pod statuses,
events and logs, and k6-operator's TestRun stages, driven by what a test sets.

Work runs on one thread, in the order the API saw the changes (``settle()`` waits for it
to finish); each TestRun plays on a thread of its own, since its hook runs load.
"""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from testing.fake_kube.events import event, pod_events, pod_status, safe_hash
from testing.fake_kube.objects import ApiError, now
from testing.fake_kube.registry import Registry
from testing.fake_kube.spec import Resource

OUTCOMES = ("ready", "image_pull", "crash_loop", "never_ready")
DEPLOYMENTS, REPLICASETS, PODS, EVENTS = (
    "apps/v1/deployments",
    "apps/v1/replicasets",
    "v1/pods",
    "v1/events",
)
TESTRUNS = "k6.io/v1alpha1/testruns"


@dataclass(frozen=True)
class Rollout:
    """How a Deployment's pods end: ``outcome`` one of OUTCOMES; ``logs`` the lines each
    container prints (a crash_loop container prints them, then exits ``exit_code``)."""

    outcome: str = "ready"
    logs: tuple[str, ...] = ()
    exit_code: int = 1
    restarts: int = 4

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {OUTCOMES}")


ReadyHook = Callable[[dict[str, Any]], None]
TestRunHook = Callable[[dict[str, Any]], bool | None]


class Kubelet:
    def __init__(self, registry: Registry) -> None:
        self.registry, self.spec, self.store = registry, registry.spec, registry.store
        self.rollouts: dict[str, Rollout] = {}  # deployment name ("*": any) -> rollout
        self.on_ready: ReadyHook | None = None
        self.on_testrun: TestRunHook | None = None
        self.logs: dict[tuple[str, str, str], list[str]] = {}  # (ns, pod, container)
        self.errors: list[str] = []  # what went wrong in the simulation itself
        self._queue: queue.Queue[tuple[str, str, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, daemon=True, name="fake-kubelet")
        self._thread.start()
        self._runs: list[threading.Thread] = []
        registry.listeners.append(self._changed)

    def rollout_for(self, name: str) -> Rollout:
        return self.rollouts.get(name) or self.rollouts.get("*") or Rollout()

    def _changed(self, resource: Resource, change: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if change == "DELETED":
            return
        if resource.key == DEPLOYMENTS:
            if obj.get("status", {}).get("observedGeneration") != meta.get("generation"):
                self._queue.put((resource.key, meta["namespace"], meta["name"]))
        elif resource.key == TESTRUNS and change == "ADDED":
            run = threading.Thread(
                target=self._testrun, args=(meta["namespace"], meta["name"]), daemon=True
            )
            self._runs.append(run)
            run.start()

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every change the API has seen so far is worked through."""
        _join(self._queue, timeout, threading.Event())

    def close(self) -> None:
        self._queue.put(None)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deployment(item[1], item[2])
            except ApiError as err:
                if err.code not in (403, 404):  # namespace going, object deleted: as kube
                    self.errors.append(f"{item}: {err.message}")
            except Exception as err:  # a hook's failure must not kill the loop
                self.errors.append(f"{item}: {err!r}")
            finally:
                self._queue.task_done()

    def _res(self, key: str) -> Resource:
        return self.spec.resource_for(key)

    def _create(self, key: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.registry.create(self._res(key), namespace, self._checked(key, obj))

    def _set_status(self, key: str, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        new = dict(copy.deepcopy(obj), status=status)
        return self.registry.replace(self._res(key), self._checked(key, new), status_only=True)

    def _checked(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        # the simulation writes only what the spec allows, as the real controllers do
        found = self.spec.body_causes(self.spec.definition_for(key), obj)
        if found:
            raise AssertionError(f"fake control plane wrote an invalid {key}: {found}")
        return obj

    def _owner(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        return {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def _deployment(self, namespace: str, name: str) -> None:
        dep = self.store.get(DEPLOYMENTS, namespace, name)
        if dep is None or dep.get("status", {}).get("observedGeneration") == dep["metadata"].get(
            "generation"
        ):
            return
        dep = dict(dep, apiVersion="apps/v1", kind="Deployment")
        template = dep["spec"]["template"]
        replicas = dep["spec"].get("replicas", 1)
        template_hash = safe_hash(template)
        rs_name = f"{name}-{template_hash}"
        for rs in self.store.objects(REPLICASETS, namespace):
            owners = rs["metadata"].get("ownerReferences", [])
            if (
                any(o["uid"] == dep["metadata"]["uid"] for o in owners)
                and rs["metadata"]["name"] != rs_name
            ):
                self.registry.delete(self._res(REPLICASETS), namespace, rs["metadata"]["name"])
        labels = dict(
            template.get("metadata", {}).get("labels", {}), **{"pod-template-hash": template_hash}
        )
        found = self.store.get(REPLICASETS, namespace, rs_name)
        if found is not None:
            rs = found
        else:
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {})["labels"] = labels
            selector = copy.deepcopy(dep["spec"]["selector"])
            selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
            rs = self._create(
                REPLICASETS,
                namespace,
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": rs_name,
                        "labels": labels,
                        "ownerReferences": [self._owner(dep)],
                    },
                    "spec": {"replicas": replicas, "selector": selector, "template": rs_template},
                },
            )
            self._record(
                event(
                    dep,
                    "ScalingReplicaSet",
                    f"Scaled up replica set {rs_name} from 0 to {replicas}",
                    component="deployment-controller",
                )
            )
        rs = dict(rs, apiVersion="apps/v1", kind="ReplicaSet")
        rollout = self.rollout_for(name)
        pods = [
            p
            for p in self.store.objects(PODS, namespace)
            if p["metadata"].get("labels", {}).get("pod-template-hash") == template_hash
            and p["metadata"]["name"].startswith(rs_name)
        ]
        for extra in pods[replicas:]:
            self.registry.delete(self._res(PODS), namespace, extra["metadata"]["name"])
        for index in range(len(pods), replicas):
            pod = self._create(
                PODS,
                namespace,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{rs_name}-{safe_hash(rs_name, index, length=5)}",
                        "generateName": f"{rs_name}-",
                        "labels": labels,
                        "annotations": template.get("metadata", {}).get("annotations", {}),
                        "ownerReferences": [self._owner(rs)],
                    },
                    "spec": dict(copy.deepcopy(template["spec"]), nodeName="fake-node-1"),
                },
            )
            self._start_pod(dict(pod, apiVersion="v1", kind="Pod"), rollout, index)
        ready = rollout.outcome == "ready"
        if ready and self.on_ready is not None and replicas:
            self.on_ready(copy.deepcopy(dep))
        count = replicas if ready else 0
        self._set_status(
            REPLICASETS,
            rs,
            _counts(
                {
                    "replicas": replicas,
                    "fullyLabeledReplicas": replicas,
                    "readyReplicas": count,
                    "availableReplicas": count,
                    "observedGeneration": rs["metadata"].get("generation", 1),
                }
            ),
        )
        self._set_status(DEPLOYMENTS, dep, _deployment_status(dep, rs_name, replicas, count))

    def _start_pod(self, pod: dict[str, Any], rollout: Rollout, index: int) -> None:
        meta = pod["metadata"]
        for container in pod["spec"]["containers"]:
            if rollout.outcome != "image_pull":
                self.logs[(meta["namespace"], meta["name"], container["name"])] = list(rollout.logs)
        for record in pod_events(pod, rollout.outcome):
            self._record(record)
        status = pod_status(
            pod, rollout.outcome, index, restarts=rollout.restarts, exit_code=rollout.exit_code
        )
        self._set_status(PODS, pod, status)

    def _record(self, record: dict[str, Any]) -> None:
        self._create(EVENTS, record["metadata"]["namespace"], record)

    def pod_logs(self, namespace: str, pod: str, container: str, previous: bool) -> list[str]:
        """What ``GET .../pods/POD/log`` answers (kubelet's errors for containers that
        never started or never restarted)."""
        found = self.store.get(PODS, namespace, pod) or {}
        status: dict[str, Any] = next(
            (
                s
                for s in found.get("status", {}).get("containerStatuses", [])
                if s["name"] == container
            ),
            {},
        )
        waiting = status.get("state", {}).get("waiting", {})
        if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull", "ContainerCreating"):
            raise ApiError(
                400,
                "BadRequest",
                f'container "{container}" in pod "{pod}" is waiting to start: '
                "trying and failing to pull image",
            )
        if previous and not status.get("lastState", {}).get("terminated"):
            raise ApiError(
                400,
                "BadRequest",
                f'previous terminated container "{container}" in pod "{pod}" not found',
            )
        return list(self.logs.get((namespace, pod, container), []))

    def _testrun(self, namespace: str, name: str) -> None:
        try:
            self._play_testrun(namespace, name)
        except ApiError as err:
            if err.code not in (403, 404):
                self.errors.append(f"testrun {namespace}/{name}: {err.message}")
        except Exception as err:  # recorded; the TestRun says error
            self.errors.append(f"testrun {namespace}/{name}: {err!r}")
            self._stage(namespace, name, "error")

    def _stage(self, namespace: str, name: str, stage: str) -> dict[str, Any]:
        run = self.store.get(TESTRUNS, namespace, name)
        if run is None:
            raise ApiError(404, "NotFound", f"testrun {name} is gone")
        run = dict(run, apiVersion="k6.io/v1alpha1", kind="TestRun")
        status = dict(run.get("status", {}), stage=stage)
        status["conditions"] = _testrun_conditions(status.get("conditions", []), stage)
        return dict(
            self._set_status(TESTRUNS, run, status), apiVersion="k6.io/v1alpha1", kind="TestRun"
        )

    def _play_testrun(self, namespace: str, name: str) -> None:
        # k6-operator's stages: initialization -> initialized -> created -> started -> finished
        run = self._stage(namespace, name, "initialization")
        run = self._stage(namespace, name, "initialized")
        spec = run["spec"]
        image = spec.get("runner", {}).get("image", "grafana/k6:latest")
        pods = []
        for index in range(1, int(spec["parallelism"]) + 1):
            pod = self._create(
                PODS,
                namespace,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{name}-{index}-{safe_hash(name, index, length=5)}",
                        "labels": {"app": "k6", "k6_cr": name, "runner": "true"},
                        "ownerReferences": [self._owner(run)],
                    },
                    "spec": {
                        "containers": [{"name": "k6", "image": image}],
                        "restartPolicy": "Never",
                        "nodeName": "fake-node-1",
                    },
                },
            )
            pods.append(dict(pod, apiVersion="v1", kind="Pod"))
            self._set_status(PODS, pods[-1], pod_status(pods[-1], "ready", index))
        self._stage(namespace, name, "created")
        run = self._stage(namespace, name, "started")
        ok = self.on_testrun(copy.deepcopy(run)) if self.on_testrun is not None else True
        for index, pod in enumerate(pods):
            current = self.store.get(PODS, namespace, pod["metadata"]["name"])
            if current is not None:
                current = dict(current, apiVersion="v1", kind="Pod")
                self._set_status(
                    PODS,
                    current,
                    pod_status(current, "failed" if ok is False else "succeeded", index),
                )
        self._stage(namespace, name, "error" if ok is False else "finished")


def _testrun_conditions(conditions: list[dict[str, Any]], stage: str) -> list[dict[str, Any]]:
    """k6-operator's conditions for ``stage`` (a plain, non-cloud run): reason
    ``<Type><Status>`` once set, TestRunPreparation/TestRunTypeUnknown before."""
    stamp = now()
    by_type = {c["type"]: c for c in conditions}

    def put(kind: str, status: str, reason: str = "") -> None:
        old = by_type.get(kind)
        if old is None or old["status"] != status:
            by_type[kind] = {
                "type": kind,
                "status": status,
                "reason": reason or f"{kind}{status}",
                "message": "",
                "lastTransitionTime": stamp,
            }

    if stage == "initialization":
        put("CloudTestRun", "Unknown", "TestRunTypeUnknown")
        put("TestRunRunning", "Unknown", "TestRunPreparation")
        put("TeardownExecuted", "False")
        put("CloudTestRunAborted", "False")
        put("CloudPLZTestRun", "False")
    elif stage == "initialized":
        put("CloudTestRun", "False")
    elif stage == "started":
        put("TestRunRunning", "True")
    elif stage in ("finished", "error", "stopped"):
        put("TestRunRunning", "False")
    return list(by_type.values())


def _counts(status: dict[str, Any]) -> dict[str, Any]:
    # Go's omitempty: zero counts are left out, as the controllers' JSON does
    return {k: v for k, v in status.items() if v}


def _join(q: queue.Queue[Any], timeout: float, done: threading.Event) -> None:
    def wait() -> None:
        q.join()
        done.set()

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    if not done.wait(timeout):
        raise TimeoutError(f"the fake control plane did not settle within {timeout} s")


def _deployment_status(
    dep: dict[str, Any], rs_name: str, replicas: int, ready: int
) -> dict[str, Any]:
    stamp = now()
    available = ready >= replicas
    conditions = [
        {
            "type": "Available",
            "status": "True" if available else "False",
            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if available
            else "Deployment does not have minimum availability.",
            "lastUpdateTime": stamp,
            "lastTransitionTime": stamp,
        },
        {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable" if available else "ReplicaSetUpdated",
            "message": f'ReplicaSet "{rs_name}" has successfully progressed.'
            if available
            else f'ReplicaSet "{rs_name}" is progressing.',
            "lastUpdateTime": stamp,
            "lastTransitionTime": stamp,
        },
    ]
    status = _counts(
        {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": replicas - ready,
        }
    )
    status["conditions"] = conditions
    return status
