"""Cluster access for the helm target: the few Kubernetes API calls PLog makes.

``connect()`` reads the installation's settings, never plog.yml: ``KUBECONFIG``
(then ``~/.kube/config``, then the pod's service account, the order Helm uses, so
PLog and its Helm releases reach the same cluster) and ``PLOG_KUBE_CONTEXT``.
``Cluster`` wraps the official ``kubernetes`` client with small typed calls
(namespaces, a release's pods, their events and logs, a Service's ports) and maps
its failures to PLog's errors: DependencyError for an unreachable or refusing API
server, with what to check. The bearer token is registered for redaction, and no
error text quotes a request's headers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plog_ci.errors import DependencyError, PlogError
from plog_ci.redaction import redact, register_secret

CONTEXT_ENV = "PLOG_KUBE_CONTEXT"
# Set by PLog's chart on the worker: the ClusterRole to bind in each job namespace, and
# the worker's service account (unset outside the chart: nothing is bound).
JOB_ROLE_ENV = "PLOG_KUBE_JOB_ROLE"
ACCOUNT_ENV = "PLOG_KUBE_SERVICE_ACCOUNT"
ACCOUNT_NAMESPACE_ENV = "PLOG_KUBE_SERVICE_ACCOUNT_NAMESPACE"
REQUEST_TIMEOUT_S = 30.0
INSTANCE_LABEL = "app.kubernetes.io/instance"  # Helm's convention for a release's objects
# What Helm itself writes on every object of a release, whatever the chart's labels.
RELEASE_ANNOTATION = "meta.helm.sh/release-name"
_HINT = (
    "set KUBECONFIG to a kubeconfig file (PLOG_KUBE_CONTEXT picks its context), or run "
    "PLog in a pod whose service account may do this (PLog's chart grants it)"
)
_NONE: Mapping[int, Any] = {}


@dataclass(frozen=True)
class JobRole:
    """The ClusterRole PLog binds in each job namespace to its own service account."""

    role: str
    account: str
    account_namespace: str


@dataclass(frozen=True)
class Access:
    """How the cluster is reached: a ``kubeconfig`` path (None: in-cluster), a context,
    and the role to bind in job namespaces (None: PLog's account already may act there)."""

    kubeconfig: str | None
    context: str | None
    job_role: JobRole | None = None

    def describe(self) -> str:
        where = f"kubeconfig {self.kubeconfig}" if self.kubeconfig else "in-cluster service account"
        return where + (f", context {self.context}" if self.context else "")


@dataclass(frozen=True)
class Namespace:
    """A namespace as PLog reads it; ``phase``: Active or Terminating."""

    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    phase: str


@dataclass(frozen=True)
class ContainerStatus:
    """One container of a pod: why it waits (ImagePullBackOff, CrashLoopBackOff...) or
    why it last ended (``terminated_reason``, ``exit_code``), and its restarts."""

    name: str
    ready: bool
    restarts: int
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class Pod:
    name: str
    phase: str
    containers: tuple[ContainerStatus, ...]
    reason: str | None = None  # the pod's own status.reason (Evicted, ...)


@dataclass(frozen=True)
class Event:
    """An event about an object; ``type`` Normal or Warning; ``when`` as the API gave it."""

    type: str
    reason: str
    message: str
    count: int
    when: str


@dataclass(frozen=True)
class ServicePort:
    name: str | None
    port: int
    node_port: int | None


@dataclass(frozen=True)
class Service:
    name: str
    type: str
    ports: tuple[ServicePort, ...]


def access_from_env(env: Mapping[str, str] | None = None) -> Access:
    """Which cluster the environment names, in Helm's order: ``KUBECONFIG``, then
    ``~/.kube/config``, then the in-cluster service account. Raises DependencyError
    when none is configured."""
    env = os.environ if env is None else env
    context = env.get(CONTEXT_ENV) or None
    role = None
    if env.get(JOB_ROLE_ENV):
        account, account_ns = env.get(ACCOUNT_ENV), env.get(ACCOUNT_NAMESPACE_ENV)
        if not account or not account_ns:
            raise DependencyError(
                f"{JOB_ROLE_ENV} is set but {ACCOUNT_ENV} or {ACCOUNT_NAMESPACE_ENV} is not",
                hint="PLog's chart sets all three; outside it, unset " + JOB_ROLE_ENV,
            )
        role = JobRole(env[JOB_ROLE_ENV], account, account_ns)
    if env.get("KUBECONFIG"):
        return Access(env["KUBECONFIG"], context, role)
    default = Path(env.get("HOME") or Path.home()) / ".kube" / "config"
    if default.is_file():
        return Access(str(default), context, role)
    if env.get("KUBERNETES_SERVICE_HOST"):
        return Access(None, context, role)
    raise DependencyError("no Kubernetes cluster access is configured", hint=_HINT)


def access_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names a cluster at all (see ``access_from_env``)."""
    env = os.environ if env is None else env
    default = Path(env.get("HOME") or Path.home()) / ".kube" / "config"
    return bool(env.get("KUBECONFIG") or env.get("KUBERNETES_SERVICE_HOST")) or default.is_file()


def connect(access: Access | None = None) -> Cluster:
    """A ``Cluster`` for ``access`` (default: ``access_from_env()``). Raises
    DependencyError when the kubeconfig cannot be read or names no usable context."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    access = access or access_from_env()
    configuration = k8s.Configuration()
    try:
        if access.kubeconfig is None:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            # Explicit path: the library's own default was read from KUBECONFIG at import.
            k8s_config.load_kube_config(
                config_file=access.kubeconfig,
                context=access.context,
                client_configuration=configuration,
                persist_config=False,
            )
    # A malformed file makes the library raise whatever its parser met (a YAML error,
    # a str where a mapping was expected): all mean the same to the user.
    except Exception as exc:
        raise DependencyError(
            f"cannot use the cluster's configuration ({access.describe()}): {redact(str(exc))}",
            hint=_HINT,
        ) from None
    token = str(configuration.api_key.get("authorization") or "")
    register_secret(token.removeprefix("Bearer ").strip() or None)
    return Cluster(k8s.ApiClient(configuration), configuration.host)


class Cluster:
    """Typed calls on one API server (``host``). Every call raises DependencyError
    when the server is unreachable or refuses (401/403: what PLog lacks)."""

    def __init__(self, api_client: Any, host: str) -> None:
        from kubernetes import client as k8s

        self.api_client = api_client
        self.host = host
        self.core = k8s.CoreV1Api(api_client)

    def close(self) -> None:
        self.api_client.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        ok: Mapping[int, Any] = _NONE,
        **kw: Any,
    ) -> Any:
        """``fn(*args, **kw)`` with a timeout; an API status in ``ok`` gives its value."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT_S, **kw)
        except ApiException as exc:
            if exc.status in ok:
                return ok[exc.status]
            raise api_error(what, exc.status, exc.reason, exc.body, self.host) from None
        except (HTTPError, OSError) as exc:
            raise DependencyError(
                f"the Kubernetes API at {self.host} did not answer while {what} "
                f"({type(exc).__name__})",
                hint="check that the cluster is up and reachable from here; " + _HINT,
            ) from None

    # --- namespaces ---------------------------------------------------------

    def create_namespace(
        self, name: str, labels: Mapping[str, str], annotations: Mapping[str, str]
    ) -> bool:
        """Create ``name`` with its labels and annotations; False when it already
        exists (or is still terminating): the caller picks another name or reuses it."""
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels), "annotations": dict(annotations)},
        }
        got = self._call(f"creating namespace {name}", self.core.create_namespace, body,
                         ok={409: None})  # fmt: skip
        return got is not None

    def read_namespace(self, name: str) -> Namespace | None:
        """The namespace, or None when there is none of that name."""
        got = self._call(f"reading namespace {name}", self.core.read_namespace, name,
                         ok={404: None})  # fmt: skip
        return None if got is None else _namespace(got)

    def label_namespace(self, name: str, labels: Mapping[str, str]) -> None:
        """Set ``labels`` on the namespace (others are kept)."""
        body = {"metadata": {"labels": dict(labels)}}
        self._call(f"labelling namespace {name}", self.core.patch_namespace, name, body)

    def namespaces(self, selector: str) -> list[Namespace]:
        """The namespaces matching the label ``selector`` (e.g. ``a=b,c``)."""
        got = self._call("listing namespaces", self.core.list_namespace, label_selector=selector)
        return [_namespace(item) for item in got.items or []]

    def delete_namespace(self, name: str) -> bool:
        """Ask for the namespace's deletion (the API finishes it in the background);
        False when it was already gone. One already terminating is fine (True)."""
        got = self._call(f"deleting namespace {name}", self.core.delete_namespace, name,
                         ok={404: False, 409: True})  # fmt: skip
        return got is not False

    def bind_cluster_role(
        self, namespace: str, name: str, role: str, account: str, account_namespace: str
    ) -> None:
        """A RoleBinding ``name`` in ``namespace`` giving ClusterRole ``role`` to the
        service account ``account_namespace/account`` there only (least privilege:
        PLog's chart grants the worker nothing in other namespaces). Already there: fine."""
        from kubernetes import client as k8s

        body = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": account, "namespace": account_namespace}
            ],
        }
        rbac = k8s.RbacAuthorizationV1Api(self.api_client)
        what = f"binding role {role} in namespace {namespace}"
        self._call(what, rbac.create_namespaced_role_binding, namespace, body, ok={409: None})

    # --- a release's pods -----------------------------------------------------

    def release_pods(self, namespace: str, release: str) -> list[Pod]:
        """The pods of release ``release``: those its Deployments and StatefulSets
        select (Helm annotates them with the release's name, whatever the chart's own
        labels), else those labelled app.kubernetes.io/instance."""
        from kubernetes import client as k8s

        apps = k8s.AppsV1Api(self.api_client)
        selectors: list[str] = []
        for kind, lister in (
            ("Deployments", apps.list_namespaced_deployment),
            ("StatefulSets", apps.list_namespaced_stateful_set),
        ):
            # 403: the chart's kinds need no StatefulSets (PLog's job role grants the
            # generic chart's kinds; rbac.extraJobRules adds others).
            got = self._call(
                f"listing the {kind} of release {release}", lister, namespace, ok={403: None}
            )
            for item in (got.items or []) if got is not None else []:
                labels = (item.spec.selector.match_labels or {}) if item.spec.selector else {}
                if _of_release(item.metadata, release) and labels:
                    selectors.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())))
        pods: dict[str, Pod] = {}
        for selector in selectors or [f"{INSTANCE_LABEL}={release}"]:
            got = self._call(
                f"listing the pods of release {release}",
                self.core.list_namespaced_pod,
                namespace,
                label_selector=selector,
            )
            for item in got.items or []:
                pod = _pod(item)
                pods[pod.name] = pod
        return [pods[name] for name in sorted(pods)]

    def pod_events(self, namespace: str, pod: str) -> list[Event]:
        """The events about ``pod``, oldest first."""
        got = self._call(
            f"listing the events of pod {pod}",
            self.core.list_namespaced_event,
            namespace,
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}",
        )
        events = [_event(item) for item in got.items or []]
        return sorted(events, key=lambda e: e.when)

    def container_log(
        self, namespace: str, pod: str, container: str, *, lines: int, previous: bool = False
    ) -> str:
        """The last ``lines`` lines ``container`` printed (``previous``: its run before
        the last restart); empty when there is no log yet. Secrets redacted."""
        text = self._call(
            f"reading the log of {pod}/{container}",
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            tail_lines=lines,
            previous=previous,
            ok={404: "", 400: ""},  # 400: the container has not started yet
        )
        return redact(str(text or ""))

    def release_services(self, namespace: str, release: str) -> list[Service]:
        """The Services of release ``release``: Helm's release annotation, or the label
        app.kubernetes.io/instance (the job's namespace holds only PLog's releases)."""
        got = self._call(
            f"listing the Services of release {release}",
            self.core.list_namespaced_service,
            namespace,
        )
        return [_service(item) for item in got.items or [] if _of_release(item.metadata, release)]

    def service(self, namespace: str, name: str) -> Service | None:
        """The Service ``name``, or None when there is none."""
        got = self._call(f"reading Service {name}", self.core.read_namespaced_service, name,
                         namespace, ok={404: None})  # fmt: skip
        return None if got is None else _service(got)


def api_error(what: str, status: int | None, reason: str | None, body: Any, host: str) -> PlogError:
    """An API server's refusal as DependencyError: the status, the server's own message
    (a Status object's ``message``, redacted, never the request), what to do."""
    message = ""
    try:
        message = str(json.loads(body).get("message", "")) if body else ""
    except (ValueError, AttributeError, TypeError):
        message = ""
    detail = redact(message[:500]) or (reason or "")
    hint = "check that the cluster is up and reachable from here; " + _HINT
    if status in (401, 403):
        hint = (
            "PLog's account may not do this: grant it (PLog's chart has the Role), or use "
            "another context (PLOG_KUBE_CONTEXT)"
        )
    return DependencyError(
        f"the Kubernetes API at {host} refused {what}: {status} {detail}", hint=hint
    )


def _namespace(item: Any) -> Namespace:
    meta = item.metadata
    return Namespace(
        name=str(meta.name),
        labels=dict(meta.labels or {}),
        annotations=dict(meta.annotations or {}),
        phase=str((item.status.phase if item.status else None) or "Active"),
    )


def _container(status: Any) -> ContainerStatus:
    state = status.state
    waiting = state.waiting if state else None
    terminated = state.terminated if state else None
    last = status.last_state.terminated if status.last_state else None
    ended = terminated or last
    return ContainerStatus(
        name=str(status.name),
        ready=bool(status.ready),
        restarts=int(status.restart_count or 0),
        waiting_reason=waiting.reason if waiting else None,
        waiting_message=waiting.message if waiting else None,
        terminated_reason=ended.reason if ended else None,
        exit_code=int(ended.exit_code) if ended and ended.exit_code is not None else None,
    )


def _pod(item: Any) -> Pod:
    status = item.status
    statuses = [*(status.init_container_statuses or []), *(status.container_statuses or [])]
    return Pod(
        name=str(item.metadata.name),
        phase=str(status.phase or "Unknown"),
        containers=tuple(_container(s) for s in statuses),
        reason=status.reason,
    )


def _event(item: Any) -> Event:
    when = item.last_timestamp or item.event_time or item.first_timestamp or ""
    return Event(
        type=str(item.type or ""),
        reason=str(item.reason or ""),
        message=redact(str(item.message or "")),
        count=int(item.count or 1),
        when=when.isoformat() if hasattr(when, "isoformat") else str(when),
    )


def _service(item: Any) -> Service:
    ports = tuple(
        ServicePort(p.name, int(p.port), int(p.node_port) if p.node_port else None)
        for p in item.spec.ports or []
    )
    return Service(str(item.metadata.name), str(item.spec.type or "ClusterIP"), ports)


def _of_release(metadata: Any, release: str) -> bool:
    """Whether an object belongs to Helm release ``release``."""
    annotations = metadata.annotations or {}
    labels = metadata.labels or {}
    return bool(
        annotations.get(RELEASE_ANNOTATION) == release or labels.get(INSTANCE_LABEL) == release
    )
