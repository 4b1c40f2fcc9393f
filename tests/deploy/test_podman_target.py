"""Deploy target podman (plog_ci.deploy.podman) with real podman.

A tiny image (the test base + a stdlib HTTP server whose behaviour ``MODE`` picks)
is built once per session; every container carries ``plog.test=<uuid>`` and the test
fails unless none is left with it afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plog_ci.deploy import podman
from plog_ci.deploy.containers import Containers
from plog_ci.deploy.podman import ContainerService, reap_containers
from plog_ci.errors import ServiceError
from testing.container_tools import base_image, containers, registry
from testing.paths import ROOT

APP = """\
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode = os.environ.get("MODE", "serve")
print("starting", mode, "token", os.environ.get("API_TOKEN", ""), flush=True)
if mode == "exit":
    print("cannot start: <script>alert(1)</script>", flush=True)
    sys.exit(3)
if mode == "busy":
    while True:
        pass
if mode == "hog":
    chunks = []
    while True:
        chunks.append(b"x" * (4 << 20))
        time.sleep(0.02)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(dict(os.environ) if self.path == "/env" else {"status": "ok"})
        self.send_response(503 if mode == "unhealthy" else 200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""
CONTAINERFILE = 'FROM {base}\nCOPY app.py /app.py\nCMD ["python3", "/app.py"]\n'
IMAGE = "localhost/plog-test-podman-target:1"
HOSTILE = {
    "GREETING": '<script>alert(1)</script> "><img onerror=x> ${HOME} $(id) `id`',
    "LINK": "javascript:alert(1)",
    "SPACED": "  both ends  ",
    "EQUALS": "a=b=c",
}


@pytest.fixture(scope="session")
def tools() -> Containers:
    return containers()


@pytest.fixture(scope="session")
def image(tools: Containers, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test image's id (built once; the layer cache makes a rebuild ~1 s)."""
    context = tmp_path_factory.mktemp("podman-target")
    (context / "app.py").write_text(APP, encoding="utf-8")
    (context / "Containerfile").write_text(CONTAINERFILE.format(base=base_image(tools)))
    iid = context / "iid"
    tools.podman("build", "--layers", "--iidfile", str(iid), "-t", IMAGE, str(context))
    return iid.read_text(encoding="utf-8").strip().removeprefix("sha256:")


@pytest.fixture
def label(tools: Containers) -> Iterator[str]:
    """``plog.test=<uuid>``: after the test, no container may carry it."""
    value = uuid.uuid4().hex
    yield value
    left = tools.labelled(f"plog.test={value}")
    tools.remove_labelled(f"plog.test={value}")
    assert left == [], f"containers left behind: {left}"


def service(
    tools: Containers, label: str, tmp_path: Path, mode: str = "serve", **kw: object
) -> ContainerService:
    options: dict[str, object] = {
        "container_port": 8080,
        "env": {"MODE": mode},
        "cpus": 1.0,
        "memory_bytes": 256 << 20,
        "health": "/health",
        "startup_timeout_s": 15.0,
        "labels": {"plog.test": label, "plog.run": "7"},
        "name": f"plog-test-{uuid.uuid4().hex[:12]}",
        "log_path": tmp_path / "service.log",
    }
    options.update(kw)
    ref = str(options.pop("image_ref", IMAGE))
    return ContainerService(tools, ref, **options)  # type: ignore[arg-type]


@pytest.mark.slow
def test_starts_healthy_with_env_labels_limits_then_leaves_nothing(
    tools: Containers,
    image: str,
    label: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the env file goes
    canary = f"canary-{uuid.uuid4().hex}"
    env = {"MODE": "serve", "API_TOKEN": canary, **HOSTILE}
    started = time.monotonic()
    with service(tools, label, tmp_path, env=env, expect_image_id=f"sha256:{image}") as svc:
        healthy_s = svc.wait_healthy()
        to_healthy = time.monotonic() - started
        assert list(tmp_path.glob("plog-run-env-*")) == []  # the env file went after start
        seen = httpx.get(f"{svc.base_url}/env").json()
        assert {k: seen[k] for k in HOSTILE} == HOSTILE  # as given: no expansion, no quotes
        assert seen["API_TOKEN"] == canary
        assert svc.base_url.startswith("http://127.0.0.1:")
        info = json.loads(tools.podman("inspect", svc.container_id).stdout)[0]
        assert info["Config"]["Labels"]["plog.test"] == label
        assert info["Config"]["Labels"]["plog.run"] == "7"
        assert info["Config"]["Labels"][podman.OWNER_PID_LABEL] == str(os.getpid())
        assert (info["HostConfig"]["Memory"], info["HostConfig"]["NanoCpus"]) == (
            256 << 20,
            10**9,
        )
        assert canary not in " ".join(info["Config"].get("CreateCommand") or [])
        assert svc.pids == [info["State"]["Pid"]] and svc.pids[0] > 0
        assert svc.state.image_id == image
        stop_start = time.monotonic()
        svc.stop()
        stop_s = time.monotonic() - stop_start
    svc.stop()  # idempotent
    assert tools.labelled(f"plog.test={label}") == []
    log = (tmp_path / "service.log").read_text()
    assert "starting serve token ***" in log and canary not in log
    with pytest.raises(httpx.HTTPError):
        httpx.get(svc.base_url + "/health", timeout=2)
    with capsys.disabled():
        print(f"\n  podman: start->healthy {to_healthy:.2f}s (wait {healthy_s:.2f}s), "
              f"stop {stop_s:.2f}s")  # fmt: skip


@pytest.mark.slow
def test_a_container_that_exits_at_once_says_its_code_and_log(
    tools: Containers, image: str, label: str, tmp_path: Path
) -> None:
    with service(tools, label, tmp_path, "exit") as svc, pytest.raises(ServiceError) as err:
        svc.wait_healthy()
    message = err.value.message
    assert "exited with code 3 before becoming healthy" in message
    assert "cannot start: <script>alert(1)</script>" in message  # as text, from podman logs


@pytest.mark.slow
def test_one_never_healthy_times_out_with_the_last_answer(
    tools: Containers, image: str, label: str, tmp_path: Path
) -> None:
    svc = service(tools, label, tmp_path, "unhealthy", startup_timeout_s=2.0)
    with svc, pytest.raises(ServiceError) as err:
        svc.wait_healthy()
    assert "did not become healthy within 2s" in err.value.message
    assert "HTTP 503" in err.value.message
    assert "starting unhealthy" in err.value.message


@pytest.mark.slow
def test_another_image_than_expected_is_refused_and_removed(
    tools: Containers, image: str, label: str, tmp_path: Path
) -> None:
    with pytest.raises(ServiceError, match="not the pushed 000000000000"):
        service(tools, label, tmp_path, expect_image_id="0" * 64)


@pytest.mark.slow
def test_a_taken_port_is_retried(
    tools: Containers, image: str, label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy])
        monkeypatch.setattr(podman, "free_port", lambda: next(ports, 0) or _free())
        with service(tools, label, tmp_path) as svc:
            assert svc.port != busy
            svc.wait_healthy()


def _free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_line_break_in_env_is_refused_before_podman(
    tools: Containers, label: str, tmp_path: Path
) -> None:
    with pytest.raises(ServiceError, match="line break"):
        service(tools, label, tmp_path, env={"A": "one\nB=two"})
    with pytest.raises(ServiceError, match="not a variable name"):
        service(tools, label, tmp_path, env={"A B": "x"})


CHILD = """\
import signal, sys, time
from pathlib import Path
from plog_ci.cli import _terminate
from plog_ci.deploy.podman import ContainerService
from testing.container_tools import containers

signal.signal(signal.SIGTERM, _terminate)  # as plog's main does
svc = ContainerService(
    containers(), sys.argv[1], container_port=8080, env={"MODE": "serve"}, cpus=None,
    memory_bytes=None, health="/health", startup_timeout_s=15,
    labels={"plog.test": sys.argv[2]}, name="plog-test-" + sys.argv[2][:12],
    log_path=Path(sys.argv[3]),
)
with svc:
    print(svc.container_id, flush=True)
    time.sleep(60)
"""


def _child(image: str, label: str, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    with open(tmp_path / "child.err", "w") as err:  # the child keeps its own copy
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, IMAGE, label, str(tmp_path / "child.log")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert child.stdout is not None
    cid = child.stdout.readline().strip()
    assert len(cid) == 64, (tmp_path / "child.err").read_text()
    return child, cid


@pytest.mark.slow
def test_sigterm_removes_the_container_and_a_killed_owner_leaves_it_to_the_reaper(
    tools: Containers, image: str, label: str, tmp_path: Path
) -> None:
    child, cid = _child(image, label, tmp_path)
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=20)
    assert tools.labelled(f"plog.test={label}") == []

    child, cid = _child(image, label, tmp_path)
    # The owner is alive: its container is not an orphan, whatever its age.
    assert reap_containers(tools, f"plog.test={label}", older_than_s=0) == []
    child.kill()  # SIGKILL: no handler runs
    child.wait(timeout=10)
    assert tools.labelled(f"plog.test={label}") == [cid]  # conmon outlived PLog
    assert reap_containers(tools, f"plog.test={label}") == [cid]
    assert tools.podman("ps", "-a", "-q", "--filter", f"label=plog.test={label}").stdout == ""


@pytest.mark.slow
def test_runs_by_digest_what_was_pushed(
    tools: Containers, image: str, label: str, tmp_path: Path
) -> None:
    with registry(tmp_path / "registry", tls=False) as reg, reg.authfile() as auth:
        digestfile = tmp_path / "digest"
        target = f"{reg.host}/team/svc"
        tools.podman(
            "push", *reg.tls_args(), "--authfile", str(auth), "--digestfile", str(digestfile),
            IMAGE, f"{target}:1", secret=[reg.password],
        )  # fmt: skip
        by_digest = f"{target}@{digestfile.read_text().strip()}"
        pull = [*reg.tls_args(), "--authfile", str(auth)]
        try:
            with ContainerService(
                tools, by_digest, container_port=8080, env={"MODE": "serve"}, cpus=0.5,
                memory_bytes=128 << 20, health="/health", startup_timeout_s=15,
                labels={"plog.test": label}, name=f"plog-test-{label[:12]}",
                log_path=tmp_path / "svc.log", expect_image_id=image, pull_args=pull,
                secrets=[reg.password],
            ) as svc:  # fmt: skip
                svc.wait_healthy()
                name = tools.podman("inspect", "--format", "{{.ImageName}}", svc.container_id)
                assert name.stdout.strip() == by_digest
        finally:
            tools.podman("rmi", "-i", by_digest, check=False)
    with pytest.raises(ServiceError, match="could not pull"):
        service(tools, label, tmp_path, image_ref=f"{target}@sha256:{'1' * 64}")
