"""Load from inside the cluster: a k6-operator TestRun of N pods, judged once by PLog.

PLog applies the script's ConfigMap and a ``TestRun`` (``runner.operator``) with
``parallelism: N``; k6-operator runs N pods, each an execution segment started
with ``--tag instance_id=<i>``, all pushing remote-write to PLog's capture,
which keeps them apart by that label and merges them exactly
(``runner.segments.RunnerCapture``). PLog waits for ``status.stage`` finished
(or error), judges the abort gates on the merged state each second and, when
one fails, deletes the TestRun (k6-operator's runner Jobs and pods go with it).
The TestRun and the ConfigMap are deleted at the end whatever happens (error,
timeout, Ctrl-C).

Where the pods reach the capture: ``PLOG_CAPTURE_ADVERTISE`` (a URL base such
as ``http://plog-capture.plog.svc:9090``, read here only); the capture binds
``PLOG_CAPTURE_LISTEN`` (``host:port``, default ``127.0.0.1:0``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from plog_ci import proc
from plog_ci.errors import ConfigError, DependencyError, InternalError
from plog_ci.gate_grammar import Gate
from plog_ci.loadgen.script import Script
from plog_ci.results import SeriesPoint
from plog_ci.runner.k6 import HardCapReached, finish
from plog_ci.runner.merged_gates import CATASTROPHIC, AbortWatch
from plog_ci.runner.operator import testrun_manifests
from plog_ci.runner.segments import MergedRun, RunnerCapture, judge_each_second, segment_sequence
from plog_ci.runner.segments import tallies as runner_tallies

GROUP, VERSION, PLURAL = "k6.io", "v1alpha1", "testruns"
LISTEN_ENV = "PLOG_CAPTURE_LISTEN"
ADVERTISE_ENV = "PLOG_CAPTURE_ADVERTISE"
# Every pod pushes to this one path; the capture tells them apart by instance_id.
PUSH_PATH = "cluster"
ENDED = ("finished", "stopped")
REQUEST_TIMEOUT_S = 30.0
# The k6 PLog's capture reads (its metric names, native histograms): not the operator's
# default grafana/k6:latest.
RUNNER_IMAGE = "grafana/k6:1.1.0"
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|[0-9A-Fa-f:.]+)$")


class TestRunApi(Protocol):
    """What PLog needs of the cluster for a TestRun, in one namespace at a time.

    ``get_testrun`` returns the object (with ``status``) or None when it does not
    exist; the deletes ignore an object that is already gone. Other failures
    raise ``PlogError`` (DependencyError: cluster unreachable or refusing)."""

    def create_config_map(self, namespace: str, body: Mapping[str, Any]) -> None: ...

    def delete_config_map(self, namespace: str, name: str) -> None: ...

    def create_testrun(self, namespace: str, body: Mapping[str, Any]) -> None: ...

    def get_testrun(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def delete_testrun(self, namespace: str, name: str) -> None: ...

    def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None: ...

    def delete_secret(self, namespace: str, name: str) -> None: ...


class KubeTestRunApi:
    """``TestRunApi`` over the official client (CoreV1Api, CustomObjectsApi) on
    ``api_client`` (a ``kubernetes.client.ApiClient``, e.g. ``deploy.kube``'s
    ``Cluster.api_client``)."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client as k8s

        self.core = k8s.CoreV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """``fn(...)``; None on 404, DependencyError for any other refusal."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT_S, **kw)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise DependencyError(
                f"the Kubernetes API refused {what}: {exc.status} {exc.reason}",
                hint="PLog's service account needs configmaps and k6.io testruns "
                "(create, get, delete) in the job's namespace, and k6-operator installed",
            ) from None
        except (HTTPError, OSError) as exc:
            raise DependencyError(
                f"the Kubernetes API did not answer while {what} ({type(exc).__name__})"
            ) from None

    def create_config_map(self, namespace: str, body: Mapping[str, Any]) -> None:
        self._call(
            "creating the script's ConfigMap",
            self.core.create_namespaced_config_map,
            namespace,
            dict(body),
        )

    def delete_config_map(self, namespace: str, name: str) -> None:
        self._call(
            "deleting the script's ConfigMap",
            self.core.delete_namespaced_config_map,
            name,
            namespace,
        )

    def create_testrun(self, namespace: str, body: Mapping[str, Any]) -> None:
        self._call(
            "creating the TestRun",
            self.custom.create_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            dict(body),
        )

    def get_testrun(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self._call(
            "reading the TestRun",
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
        )
        return dict(found) if isinstance(found, dict) else None

    def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None:
        self._call(
            "creating the load's credentials Secret",
            self.core.create_namespaced_secret,
            namespace,
            dict(body),
        )

    def delete_secret(self, namespace: str, name: str) -> None:
        self._call(
            "deleting the load's credentials Secret",
            self.core.delete_namespaced_secret,
            name,
            namespace,
        )

    def delete_testrun(self, namespace: str, name: str) -> None:
        self._call(
            "deleting the TestRun",
            self.custom.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            propagation_policy="Background",
        )


def capture_listen(env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """Where the capture binds: ``PLOG_CAPTURE_LISTEN`` (``host:port``), else 127.0.0.1:0.
    Raises ConfigError for a value that is not ``host:port``."""
    value = (os.environ if env is None else env).get(LISTEN_ENV, "").strip()
    if not value:
        return "127.0.0.1", 0
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not _HOST.match(host) or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{LISTEN_ENV}={value!r} is not host:port (e.g. 0.0.0.0:9090)")
    return host, int(port)


def capture_push_url(local_url: str, env: Mapping[str, str] | None = None) -> str:
    """The remote-write URL runner pods push to: ``PLOG_CAPTURE_ADVERTISE`` (a URL base)
    with the capture's path. Raises ConfigError when it is unset (a pod's 127.0.0.1
    is the pod itself: the capture's own URL reaches no runner, and every request
    would look lost) or not an http(s) URL base."""
    advertised = (os.environ if env is None else env).get(ADVERTISE_ENV, "").strip()
    if not advertised:
        raise ConfigError(
            f"load.runners in the cluster: {ADVERTISE_ENV} is not set, so the runner pods "
            "could not send their results to PLog's capture",
            hint=f"set {LISTEN_ENV} (e.g. 0.0.0.0:9090) and {ADVERTISE_ENV} to the URL the "
            "pods reach it at (PLog's chart sets both; outside the cluster: a NodePort or "
            "an ingress in front of PLog's capture), or use load.runners: 1",
        )
    parts = urlsplit(advertised)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(
            f"{ADVERTISE_ENV}={advertised!r} is not an http(s) URL base",
            hint="e.g. http://plog-capture.plog.svc:9090 (a Service in front of the capture)",
        )
    return advertised.rstrip("/") + urlsplit(local_url).path


def _stage_error(run: Mapping[str, Any]) -> str:
    conditions = run.get("status", {}).get("conditions") or []
    said = [
        f"{c.get('type')}: {c.get('reason')}: {c.get('message')}"
        for c in conditions
        if isinstance(c, dict) and c.get("message")
    ]
    return "; ".join(said[-3:]) or "k6-operator gave no condition message"


def run_testrun(
    api: TestRunApi,
    script: Script,
    *,
    namespace: str,
    name: str,
    runners: int,
    base_url: str,
    timeout_s: float,
    abort_gates: tuple[Gate, ...] = (CATASTROPHIC,),
    image: str = RUNNER_IMAGE,
    on_tick: Callable[[float], None] | None = None,
    on_second: Callable[[list[SeriesPoint]], None] | None = None,
    poll_s: float = 0.5,
    secret_env: Mapping[str, str] | None = None,
    capture: RunnerCapture | None = None,
    targets: Mapping[str, str] | None = None,
) -> MergedRun:
    """Run ``script`` as a TestRun of ``runners`` pods in ``namespace``; the merged result.

    ``timeout_s`` bounds the whole TestRun (pods starting included): past it the
    TestRun is deleted and the result says so (``aborted``). Raises InternalError
    when the TestRun ends in stage ``error`` (with k6-operator's conditions) or
    disappears from outside; the TestRun and ConfigMap are deleted in every case.
    ``secret_env``: the values of the script's credential variables (``load.auth``),
    put in the Secret ``<name>-auth`` the runner pods read them from (never in the
    TestRun or the ConfigMap), deleted with them.
    ``capture``: the (unstarted) capture to push to, when the caller reads more from it
    (a two-sided script's followers per side and round); built with ``capture_listen()``.
    ``targets``: more environment variables naming URLs for the pods (a two-sided
    script's side URLs, ``loadgen.script.side_urls``), each host in the allow-list.
    ``on_tick`` raising ``HardCapReached`` (or a subclass: a decision to stop) deletes
    the TestRun and keeps what was measured, as at the hard cap (code 105, ``aborted``).
    """
    _, segments = segment_sequence(runners)
    watch = AbortWatch(abort_gates, runners)
    if capture is None:
        capture = RunnerCapture(script.operations, on_second=on_second, listen=capture_listen())
    with capture:
        push_url = capture_push_url(capture.url(PUSH_PATH))
        config_map, testrun = testrun_manifests(
            script,
            name=name,
            parallelism=runners,
            base_url=base_url,
            namespace=namespace,
            capture_url=push_url,
            image=image,
            targets=targets,
        )
        created = time.monotonic()
        started: float | None = None
        aborted: str | None = None
        code = 0
        secret = _auth_secret(script, name, namespace, secret_env or {})
        try:
            if secret is not None:
                api.create_secret(namespace, secret)
            api.create_config_map(namespace, config_map)
            api.create_testrun(namespace, testrun)
            while True:
                now = time.monotonic()
                if now - created > timeout_s:
                    aborted = f"the TestRun ran past its hard cap of {timeout_s:g}s and was deleted"
                    code = 105
                    break
                run = api.get_testrun(namespace, name)
                if run is None:
                    raise InternalError(
                        f"the TestRun {namespace}/{name} was deleted before it finished",
                        hint="something else removed it (a person, or the namespace's reaper)",
                    )
                stage = run.get("status", {}).get("stage", "")
                if stage == "error":
                    raise InternalError(
                        f"the TestRun {namespace}/{name} ended in stage error: {_stage_error(run)}",
                        hint=f"kubectl -n {namespace} describe testrun {name}; "
                        "and the runner pods' logs",
                    )
                if stage in ENDED:
                    break
                if stage == "started" and started is None:
                    started = now
                if started is not None:
                    elapsed = now - started
                    if on_tick is not None:
                        try:
                            on_tick(elapsed)
                        except HardCapReached as stop:
                            aborted, code = stop.message, 105
                            break
                    reason = judge_each_second(capture, watch, elapsed)
                    if reason is not None:
                        aborted, code = reason, 99
                        break
                time.sleep(poll_s)
        finally:
            # Also on error and Ctrl-C: deleting the TestRun stops every runner pod.
            api.delete_testrun(namespace, name)
            api.delete_config_map(namespace, config_map["metadata"]["name"])
            if secret is not None:
                api.delete_secret(namespace, secret["metadata"]["name"])
        if capture.pushes == 0 and aborted is None:
            # Not the service's fault: no runner's results arrived at all.
            raise DependencyError(
                f"the TestRun {namespace}/{name} ended but no runner pushed its results to "
                f"PLog's capture at {push_url}",
                hint=f"check that the runner pods reach {ADVERTISE_ENV} and that PLog's "
                f"capture listens there ({LISTEN_ENV}); the runners' logs say what failed",
            )
        elapsed = time.monotonic() - (started if started is not None else created)
        result = finish(capture, script, [code], elapsed, None, aborted)
        # k6-operator numbers its runners from 1 (instance_id).
        return MergedRun(result, runner_tallies(capture, segments, result.duration_s, None, 1))


def _auth_secret(
    script: Script, name: str, namespace: str, values: Mapping[str, str]
) -> dict[str, Any] | None:
    """The Secret ``<name>-auth`` holding the script's credential variables (the names
    ``operator.testrun_manifests`` refers to), or None when the script has none."""
    if not script.secret_env:
        return None
    for value in values.values():
        proc.register_secret(value)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{name}-auth", "namespace": namespace},
        "type": "Opaque",
        "stringData": {env: values.get(env, "") for env in script.secret_env},
    }
