"""Shared parts of the helm target's tests against the fake cluster: the cluster and a
client on it, a real HTTP server standing in for the releases' pods, and a side's
start as the measurement makes it. The fixtures ``fake``, ``api``, ``services`` and
``kube_env``: import their ``*_fixture`` functions into the test module."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from plog_ci.config.helm import HelmConfig
from plog_ci.config.model import ServiceConfig
from plog_ci.deploy import namespaces
from plog_ci.deploy.helm import HelmSide, start_helm_side
from plog_ci.deploy.kube import Access, Cluster, connect
from plog_ci.deploy.target import Where
from testing.fake_kube import FakeCluster

DIGEST = "sha256:" + "ab" * 32
HEALTH = "/healthz"
SHA = "feedc0de" * 5
NAMESPACE = "plog-pet-store-pr-7"  # of where(...) with its defaults


@pytest.fixture(name="fake")
def fake_fixture(tmp_path: Path) -> Iterator[FakeCluster]:
    with FakeCluster(tmp_path / "kube", namespace_delete_delay=0.2) as cluster:
        yield cluster
        assert cluster.errors == []


@pytest.fixture(name="api")
def api_fixture(fake: FakeCluster) -> Iterator[Cluster]:
    with connect(Access(str(fake.kubeconfig), None)) as cluster:
        yield cluster


class Services:
    """A real HTTP server standing in for the releases' pods: ``/<ns>/<release>/healthz``
    answers 200 once the fake cluster calls the Deployment ready (``on_ready``), 503
    before; the URL template sends each release there."""

    def __init__(self) -> None:
        self.ready: set[str] = set()
        ready = self.ready

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = 200 if self.path.removesuffix(HEALTH) in ready else 503
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on_ready(self, deployment: dict[str, Any]) -> None:
        meta = deployment["metadata"]
        self.ready.add(f"/{meta['namespace']}/{meta['labels']['app.kubernetes.io/instance']}")


@pytest.fixture(name="services")
def services_fixture(fake: FakeCluster) -> Iterator[Services]:
    made = Services()
    fake.on_ready(made.on_ready)
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture(name="kube_env")
def kube_env_fixture(fake: FakeCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KUBERNETES_SERVICE_HOST", "PLOG_KUBE_CONTEXT", "PLOG_KUBE_JOB_ROLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig))


def helm_config(port: int, **kw: Any) -> HelmConfig:
    kw.setdefault("timeout_s", 20)
    return HelmConfig(port=port, url="http://127.0.0.1:{port}/{namespace}/{release}", **kw)


def where(tmp_path: Path, run_id: int, side: str, pr: int | None = 7) -> Where:
    return Where(SHA, side, run_id, tmp_path / "home", tmp_path, "/srv/git/Pet.Store.git", pr)


def start(
    helm: HelmConfig, tmp_path: Path, stack: ExitStack, run_id: int, side: str, **kw: Any
) -> HelmSide:
    service = ServiceConfig(run="unused", health=HEALTH, startup_timeout_s=10)
    return start_helm_side(
        helm, service, tmp_path, where(tmp_path, run_id, side, **kw), stack,
        image_repository="reg.example/team/pet", image_digest=DIGEST,
    )  # fmt: skip


def plog_namespaces(api: Cluster, *, wait_s: float = 3.0) -> list[str]:
    """PLog's namespaces once deletions in progress are done (the fake's delay)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = api.namespaces(namespaces.SELECTOR)
        if not any(n.phase == "Terminating" for n in found) or time.monotonic() > deadline:
            return sorted(n.name for n in found)
        time.sleep(0.05)
