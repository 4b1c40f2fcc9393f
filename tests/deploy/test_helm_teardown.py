"""Teardown that cannot leak (issue 21): a job's namespace goes after success, an
exception, Ctrl-C (also during Helm's wait); the bar: 20 jobs with failures and killed
workers leave no PLog namespace once the reaper passed their expiry. And the whole
side as target.start_side makes it: built, pushed to a real registry, run by digest."""

from __future__ import annotations

import _thread
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from plog_ci.build.harbor_scan import ImageFacts
from plog_ci.config.helm import HelmConfig
from plog_ci.config.model import ServiceConfig
from plog_ci.config.parse import parse_config
from plog_ci.deploy import namespaces
from plog_ci.deploy.helm import HelmSide, start_helm_side
from plog_ci.deploy.kube import Cluster
from plog_ci.deploy.target import sampler_for, start_side
from plog_ci.errors import ServiceError
from testing.container_tools import base_image, containers, registry
from testing.fake_kube import FakeCluster, Rollout
from testing.paths import EXAMPLE
from tests.deploy.helm_jobs import (  # noqa: F401 - fixtures, used by their names
    DIGEST,
    HEALTH,
    NAMESPACE,
    Services,
    api_fixture,
    fake_fixture,
    helm_config,
    kube_env_fixture,
    plog_namespaces,
    services_fixture,
    start,
    where,
)


@pytest.mark.usefixtures("kube_env")
def test_teardown_after_an_exception_and_after_ctrl_c(
    api: Cluster, fake: FakeCluster, services: Services, tmp_path: Path
) -> None:
    helm = helm_config(services.port)
    with pytest.raises(RuntimeError), ExitStack() as stack:
        start(helm, tmp_path, stack, 3, "head")
        assert plog_namespaces(api) == ["plog-pet-store-pr-7"]
        raise RuntimeError("the load failed")
    assert plog_namespaces(api) == []
    with pytest.raises(KeyboardInterrupt), ExitStack() as stack:
        start(helm, tmp_path, stack, 4, "head")
        start(helm, tmp_path, stack, 4, "base")
        raise KeyboardInterrupt
    assert plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_ctrl_c_during_the_rollout_wait_cancels_it(
    api: Cluster, fake: FakeCluster, services: Services, tmp_path: Path
) -> None:
    fake.set_rollout(Rollout("never_ready"))
    threading.Timer(2.0, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), ExitStack() as stack:
        start(helm_config(services.port, timeout_s=60), tmp_path, stack, 5, "head")
    assert time.monotonic() - started < 30  # not the 60 s of the wait
    assert plog_namespaces(api) == []


_KILLED_JOB = """
import os, signal, sys
from contextlib import ExitStack
from pathlib import Path
from plog_ci.config.helm import HelmConfig
from plog_ci.config.model import ServiceConfig
from plog_ci.deploy.helm import start_helm_side
from plog_ci.deploy.target import Where

run_id, pr, port, tree = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
helm = HelmConfig(port=port, timeout_s=20, url="http://127.0.0.1:{port}/{namespace}/{release}")
where = Where(sys.argv[5], "head", run_id, tree / "home", tree, "/srv/git/Pet.Store.git",
              int(pr) if pr else None)
stack = ExitStack()
start_helm_side(helm, ServiceConfig(run="x", health="/healthz"), tree, where, stack,
                image_repository="reg.example/team/pet", image_digest=sys.argv[6])
print("installed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the worker dies: no teardown runs
"""


@pytest.mark.slow
@pytest.mark.usefixtures("kube_env")
def test_twenty_jobs_with_failures_and_kills_leave_no_plog_namespace(
    api: Cluster, fake: FakeCluster, services: Services, tmp_path: Path
) -> None:
    """The teardown bar: 20 jobs (successes, failed installs, errors and Ctrl-C
    mid-run, killed workers); after the reaper's pass past the expiry, the cluster
    holds no PLog namespace, and nothing else was removed."""
    assert api.create_namespace("team-prod", {"app.kubernetes.io/managed-by": "helm",
                                              namespaces.EXPIRES_LABEL: "1"}, {})  # fmt: skip
    helm = helm_config(services.port, timeout_s=3)
    killed: list[str] = []
    outcomes: dict[str, int] = {}
    for job in range(1, 21):
        kind = ("killed", "install fails", "raises", "ctrl-c", "passes")[job % 5]
        outcomes[kind] = outcomes.get(kind, 0) + 1
        pr = job if job % 2 else None
        fake.set_rollout(Rollout("image_pull" if kind == "install fails" else "ready"))
        sha = f"{job:02d}" * 20
        if kind == "killed":
            done = subprocess.run(
                [sys.executable, "-c", _KILLED_JOB, str(job), str(pr or ""),
                 str(services.port), str(tmp_path), sha, DIGEST],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == -signal.SIGKILL and "installed" in done.stdout, done.stderr
            killed.append(namespaces.namespace_name("Pet.Store", pr, sha))
            continue
        try:
            with ExitStack() as stack:
                for side in ("head", "base"):
                    side_where = replace(where(tmp_path, job, side, pr=pr), commit=sha)
                    service = ServiceConfig(run="x", health=HEALTH, startup_timeout_s=10)
                    started = start_helm_side(
                        helm, service, tmp_path, side_where, stack,
                        image_repository="reg.example/team/pet", image_digest=DIGEST,
                    )  # fmt: skip
                    started.wait_healthy()
                if kind == "raises":
                    raise RuntimeError("the load failed mid-run")
                if kind == "ctrl-c":
                    raise KeyboardInterrupt
        except (ServiceError, RuntimeError, KeyboardInterrupt) as exc:
            expected = {"install fails": ServiceError, "raises": RuntimeError,
                        "ctrl-c": KeyboardInterrupt}[kind]  # fmt: skip
            assert type(exc) is expected
        else:
            assert kind == "passes"
    assert outcomes == {"killed": 4, "install fails": 4, "raises": 4, "ctrl-c": 4, "passes": 4}
    # What killed workers left is there, labelled, and not yet expired.
    assert plog_namespaces(api) == sorted(killed)
    assert namespaces.reap_namespaces(api, time.time()) == []
    # Past the expiry, the reaper removes exactly those.
    later = time.time() + HelmConfig().ttl_s + 1
    assert namespaces.reap_namespaces(api, later) == sorted(killed)
    assert plog_namespaces(api) == []
    left = {ns["metadata"]["name"] for ns in fake.objects("Namespace")}
    assert "team-prod" in left and "default" in left and "kube-system" in left
    assert fake.errors == []


@pytest.mark.slow
@pytest.mark.usefixtures("kube_env")
def test_start_side_builds_pushes_and_installs_by_digest(
    api: Cluster,
    fake: FakeCluster,
    services: Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """target.start_side with deploy.target helm: the tree's image built and pushed as
    for podman (a real registry), and the release runs exactly the pushed digest."""
    tools = containers()
    base = base_image(tools)
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("app.py", "openapi.yaml", "Containerfile"):
        (tree / name).write_text((EXAMPLE / name).read_text(encoding="utf-8"), encoding="utf-8")
    with registry(tmp_path / "registry", tls=False) as reg:
        monkeypatch.setenv("PLOG_TEST_REGISTRY_PASSWORD", reg.password)
        config = parse_config(
            "version: 1\nservice: {run: python app.py, health: /healthz}\n"
            "openapi: openapi.yaml\n"
            "deploy:\n  target: helm\n"
            f"  build: {{args: {{BASE: '{base}'}}}}\n"
            f"  registry: {{url: 'http://{reg.host}', repository: team/pet, "
            f"username: {reg.username}, password_env: PLOG_TEST_REGISTRY_PASSWORD}}\n"
            f"  helm: {{port: {services.port}, timeout: 20s, "
            "url: 'http://127.0.0.1:{port}/{namespace}/{release}'}\n"
        )
        images: list[ImageFacts] = []
        with ExitStack() as stack:
            side = start_side(
                config, config.service, tree, where(tmp_path, 30, "head"), stack,
                on_image=images.append,
            )  # fmt: skip
            assert isinstance(side, HelmSide)
            side.wait_healthy()
            [image] = images
            assert image.reference == f"{reg.host}/team/pet@{image.digest}"
            [deployment] = fake.objects("Deployment", "plog-pet-store-pr-7")
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == image.reference
            # The registry holds that very manifest.
            got = httpx.head(
                f"http://{reg.host}/v2/team/pet/manifests/{image.digest}",
                auth=(reg.username, reg.password),
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                         "application/vnd.docker.distribution.manifest.v2+json"},
                timeout=10,
            )  # fmt: skip
            assert got.status_code == 200
            assert sampler_for(side, stack).stop() == []
    assert plog_namespaces(api) == []
