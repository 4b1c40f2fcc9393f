"""``FakeCluster``: the fake API server, its store and control plane, as one context."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml  # type: ignore[import-untyped]

from plog_ci.runner.operator import crd_schema
from testing.fake_kube.api import Api
from testing.fake_kube.kubelet import TESTRUNS, Kubelet, ReadyHook, Rollout, TestRunHook
from testing.fake_kube.registry import Registry
from testing.fake_kube.schema import strict
from testing.fake_kube.server import KubeHTTPServer, Request
from testing.fake_kube.spec import KubeSpec, Resource, builtin_doc
from testing.fake_kube.store import Store
from testing.fake_kube.tls import make_certificates
from testing.paths import ROOT

SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
TESTRUN = Resource("k6.io", "v1alpha1", "TestRun", "testruns", True)
STATUS_SCHEMA = ROOT / "tests" / "data" / "kubernetes" / "k6.io_testruns_status.json"


def testrun_schema() -> dict[str, Any]:
    """k6-operator's TestRun, strict: PLog's CRD excerpt plus the CRD's status excerpt."""
    schema: dict[str, Any] = json.loads(json.dumps(crd_schema()))
    status = json.loads(STATUS_SCHEMA.read_text(encoding="utf-8"))
    status.pop("$comment")
    schema["properties"]["status"] = strict(status)
    return schema


class FakeCluster:
    """A Kubernetes API server on 127.0.0.1 (see the package docstring for a tour).

    ``url`` the server (https; ``certificates.ca`` the CA file clients trust),
    ``token`` the bearer token it accepts, ``kubeconfig`` a kubeconfig file (in
    ``folder``) naming all three, with context ``fake``.
    ``namespace_delete_delay`` seconds a deleted namespace stays Terminating.
    """

    def __init__(self, folder: Path, *, namespace_delete_delay: float = 0.05) -> None:
        self.folder = Path(folder)
        self.token = secrets.token_urlsafe(24)
        self.spec = KubeSpec(builtin_doc())
        self.spec.add_custom_resource(TESTRUN, testrun_schema())
        self.store = Store()
        self.registry = Registry(self.spec, self.store, namespace_delete_delay)
        self.kubelet = Kubelet(self.registry)
        namespaces = self.spec.resource_for("v1/namespaces")
        for name in SYSTEM_NAMESPACES:
            self.registry.create(namespaces, "", {"metadata": {"name": name}})
        self._server: KubeHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.kubeconfig = self.folder / "kubeconfig"
        self.certificates = make_certificates(self.folder / "tls")

    def __enter__(self) -> FakeCluster:
        api = Api(self.registry, self.token, self.kubelet.pod_logs, "127.0.0.1")
        self._server = KubeHTTPServer(api, self.certificates.server_context())
        port = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{port}"
        api.host = f"127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-kube"
        )
        self._thread.start()
        self.kubeconfig.write_text(yaml.safe_dump(self.kubeconfig_doc()), encoding="utf-8")
        self.kubeconfig.chmod(0o600)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.store.close()
        self.registry.close()
        self.kubelet.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def kubeconfig_doc(self, namespace: str = "default") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fake",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(
                            self.certificates.ca.read_bytes()
                        ).decode(),
                    },
                }
            ],
            "users": [{"name": "fake", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake", "namespace": namespace},
                }
            ],
            "current-context": "fake",
        }

    # -- what tests set -------------------------------------------------------------
    def set_rollout(self, rollout: Rollout, deployment: str = "*") -> None:
        """How pods of ``deployment`` (every one: ``"*"``) end; see ``Rollout``."""
        self.kubelet.rollouts[deployment] = rollout

    def on_ready(self, hook: ReadyHook | None) -> None:
        """Call ``hook(deployment)`` before a Deployment is reported ready."""
        self.kubelet.on_ready = hook

    def on_testrun(self, hook: TestRunHook | None) -> None:
        """Play k6-operator: ``hook(testrun)`` runs (on its own thread) once the TestRun
        is ``started``; it returns False for stage ``error``, else the stage is
        ``finished``. A hook that raises also gives ``error``, and lands in ``errors``.
        A hook that runs long can poll ``get("TestRun", ns, name)`` to see a delete."""
        self.kubelet.on_testrun = hook

    # -- what tests read -------------------------------------------------------------
    def resource(self, kind: str) -> Resource:
        for resource in self.spec.resources.values():
            if kind in (resource.kind, resource.plural, resource.key):
                return resource
        raise KeyError(f"no resource {kind!r} in the fake's spec")

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """The stored objects of ``kind`` (``Pod``, ``pods`` or ``v1/pods``), by name."""
        return self.store.objects(self.resource(kind).key, namespace)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get(self.resource(kind).key, namespace, name)

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in order (method, path, query, content_type, code, body)."""
        assert self._server is not None
        with self._server.log_lock:
            return list(self._server.log)

    @property
    def errors(self) -> list[str]:
        """What went wrong inside the fake (control plane, or a request it could not
        answer: 500); a test asserts it is []."""
        server = [] if self._server is None else self._server.api.internal_errors
        return list(self.kubelet.errors) + list(server)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait for the control plane to act on every change seen so far."""
        self.kubelet.settle(timeout)

    def set_logs(self, namespace: str, pod: str, container: str, lines: list[str]) -> None:
        self.kubelet.logs[(namespace, pod, container)] = list(lines)


__all__ = ["TESTRUNS", "FakeCluster", "Rollout"]
