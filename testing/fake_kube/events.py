"""Pod statuses and core/v1 Events as kubelet and the controllers write them."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from testing.fake_kube.objects import now

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet kube's generated names use
_serial = itertools.count(1)


def safe_hash(*parts: object, length: int = 10) -> str:
    """A deterministic name suffix in kube's alphabet (pod-template-hash, pod names)."""
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:length])


def event(
    obj: dict[str, Any],
    reason: str,
    message: str,
    *,
    warning: bool = False,
    component: str = "kubelet",
) -> dict[str, Any]:
    """A core/v1 Event about ``obj`` (which carries apiVersion and kind)."""
    meta = obj["metadata"]
    stamp = now()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{next(_serial):016x}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": component, "host": "fake-node-1"}
        if component == "kubelet"
        else {"component": component},
        "reportingComponent": component,
        "reportingInstance": "fake-node-1" if component == "kubelet" else "",
    }


def _pod_ref(pod: dict[str, Any]) -> str:
    meta = pod["metadata"]
    return f"{meta['name']}_{meta['namespace']}({meta['uid']})"


def _condition(kind: str, ok: bool, reason: str = "", stamp: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastTransitionTime": stamp,
    }
    if reason:
        out["reason"] = reason
    return out


def pod_status(
    pod: dict[str, Any], outcome: str, index: int, *, restarts: int = 0, exit_code: int = 1
) -> dict[str, Any]:
    """The status kubelet reports for ``pod`` whose containers end as ``outcome``:
    ready, image_pull, crash_loop, never_ready, succeeded or failed."""
    stamp = now()
    name = pod["metadata"]["name"]
    ready = outcome == "ready"
    statuses = []
    for container in pod["spec"]["containers"]:
        image = container.get("image", "")
        status: dict[str, Any] = {
            "name": container["name"],
            "image": image,
            "imageID": "",
            "ready": ready,
            "started": outcome in ("ready", "never_ready"),
            "restartCount": restarts if outcome == "crash_loop" else 0,
        }
        container_id = (
            "containerd://" + hashlib.sha256(f"{name}/{container['name']}".encode()).hexdigest()
        )
        if outcome != "image_pull":
            status["imageID"] = (
                f"{image.split('@')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
            )
            status["containerID"] = container_id
        if outcome in ("ready", "never_ready"):
            status["state"] = {"running": {"startedAt": stamp}}
        elif outcome == "image_pull":
            status["state"] = {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{image}"',
                }
            }
        elif outcome == "crash_loop":
            status["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 40s restarting failed container={container['name']} "
                    f"pod={_pod_ref(pod)}",
                }
            }
            status["lastState"] = {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": "Error",
                    "startedAt": stamp,
                    "finishedAt": stamp,
                    "containerID": container_id,
                }
            }
        else:
            code = 0 if outcome == "succeeded" else exit_code
            reason = "Completed" if code == 0 else "Error"
            status["state"] = {
                "terminated": {
                    "exitCode": code,
                    "reason": reason,
                    "startedAt": stamp,
                    "finishedAt": stamp,
                    "containerID": container_id,
                }
            }
        statuses.append(status)
    phase = {"image_pull": "Pending", "succeeded": "Succeeded", "failed": "Failed"}.get(
        outcome, "Running"
    )
    not_ready = (
        ""
        if ready
        else ("PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady")
    )
    return {
        "phase": phase,
        "conditions": [
            _condition("PodScheduled", True, stamp=stamp),
            _condition("Initialized", True, stamp=stamp),
            _condition("ContainersReady", ready, not_ready, stamp),
            _condition("Ready", ready, not_ready, stamp),
        ],
        "hostIP": "10.0.0.10",
        "podIP": f"10.42.0.{10 + index % 240}",
        "startTime": stamp,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    }


def pod_events(pod: dict[str, Any], outcome: str) -> list[dict[str, Any]]:
    """The events kubelet and the scheduler record for ``pod`` reaching ``outcome``."""
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    out = [
        event(
            pod,
            "Scheduled",
            f"Successfully assigned {namespace}/{name} to fake-node-1",
            component="default-scheduler",
        )
    ]
    for container in pod["spec"]["containers"]:
        image, cname = container.get("image", ""), container["name"]
        out.append(event(pod, "Pulling", f'Pulling image "{image}"'))
        if outcome == "image_pull":
            out += [
                event(
                    pod,
                    "Failed",
                    f'Failed to pull image "{image}": rpc error: code = NotFound desc = '
                    f'failed to pull and unpack image "{image}": not found',
                    warning=True,
                ),
                event(pod, "Failed", "Error: ErrImagePull", warning=True),
                event(pod, "BackOff", f'Back-off pulling image "{image}"'),
                event(pod, "Failed", "Error: ImagePullBackOff", warning=True),
            ]
            continue
        out += [
            event(pod, "Pulled", f'Successfully pulled image "{image}"'),
            event(pod, "Created", f"Created container: {cname}"),
            event(pod, "Started", f"Started container {cname}"),
        ]
        if outcome == "crash_loop":
            out.append(
                event(
                    pod,
                    "BackOff",
                    f"Back-off restarting failed container {cname} in pod {_pod_ref(pod)}",
                    warning=True,
                )
            )
        elif outcome == "never_ready":
            probe = container.get("readinessProbe", {}).get("httpGet")
            why = (
                "HTTP probe failed with statuscode: 503"
                if probe
                else "dial tcp: connect: connection refused"
            )
            out.append(event(pod, "Unhealthy", f"Readiness probe failed: {why}", warning=True))
    return out
