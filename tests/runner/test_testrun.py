"""In-cluster load: PLog's TestRun against the fake cluster, with k6-operator played for real.

The fake API server (testing.fake_kube) checks every request against the Kubernetes
OpenAPI description and k6-operator's CRD and plays the TestRun's stages; its
``on_testrun`` hook here plays k6-operator's runners: it reads the TestRun as PLog
wrote it (parallelism, the script from the ConfigMap, the runner env: BASE_URL and
the capture's remote-write URL, the arguments) and starts that many real k6
processes with the operator's own command fragments (``--execution-segment=``,
``--tag instance_id=<i>``), pushing to PLog's capture. Deleting the TestRun stops
them, as the operator's garbage-collected Jobs would.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from kubernetes import client, config

from plog_ci import proc
from plog_ci.analysis.gates import evaluate
from plog_ci.deploy.process import free_port
from plog_ci.errors import ConfigError, DependencyError, InternalError
from plog_ci.gate_grammar import parse_gate
from plog_ci.runner.merged_gates import CATASTROPHIC
from plog_ci.runner.testrun import (
    KubeTestRunApi,
    capture_listen,
    capture_push_url,
    run_testrun,
)
from testing.fake_kube import FakeCluster
from testing.k6_tools import need_k6
from tests.runner.test_merged_gates import _script, _verdict, segment_server

# Latencies of real load decide these tests: alone among load tests (tests/conftest.py).
pytestmark = pytest.mark.timing

NS = "plog-pets-pr-7"


def _fragments(index: int, total: int) -> list[str]:
    """k6-operator's segmentation.NewCommandFragments (index from 1)."""
    parts = ["0", *(f"{i}/{total}" for i in range(1, total)), "1"]

    def part(i: int) -> str:
        return "0" if i == 0 else "1" if i == total else f"{i}/{total}"

    return [
        f"--execution-segment={part(index - 1)}:{part(index)}",
        f"--execution-segment-sequence={','.join(parts)}",
    ]


class Operator:
    """Plays k6-operator's runners for the fake cluster's TestRuns."""

    def __init__(self, cluster: FakeCluster, workdir: Path) -> None:
        self.cluster, self.workdir = cluster, workdir
        self.seen: list[dict[str, Any]] = []
        self.stopped_by_delete = threading.Event()
        self.pids: list[int] = []

    def _value(self, namespace: str, item: dict[str, Any]) -> str:
        """An env item's value, a secretKeyRef read from the cluster as the kubelet does."""
        if "valueFrom" not in item:
            return str(item["value"])
        ref = item["valueFrom"]["secretKeyRef"]
        secret = self.cluster.get("Secret", namespace, ref["name"])
        assert secret is not None, f"the Secret {ref['name']} must exist before the TestRun"
        if ref["key"] in secret.get("stringData", {}):
            return str(secret["stringData"][ref["key"]])
        return base64.b64decode(secret["data"][ref["key"]]).decode()

    def __call__(self, testrun: dict[str, Any]) -> bool:
        self.seen.append(testrun)
        meta, spec = testrun["metadata"], testrun["spec"]
        namespace, name = meta["namespace"], meta["name"]
        source = spec["script"]["configMap"]
        config_map = self.cluster.get("ConfigMap", namespace, source["name"])
        assert config_map is not None, "the ConfigMap must exist before the TestRun"
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / source["file"]
        script.write_text(config_map["data"][source["file"]], encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "HOME": str(folder)}
        for item in spec["runner"]["env"]:
            env[item["name"]] = self._value(namespace, item)
        total = int(spec["parallelism"])
        processes = []
        for index in range(1, total + 1):
            argv = [
                need_k6(),
                "run",
                "--quiet",
                *_fragments(index, total),
                *spec["arguments"].split(),
                str(script),
                "--address=",  # the operator's 0.0.0.0:6565: one per pod, not per machine
                "--tag",
                f"instance_id={index}",
                "--tag",
                f"testrun_name={name}",
            ]
            processes.append(proc.Process(argv, env=env, log_path=folder / f"k6-{index}.log"))
        self.pids = [p.pid for p in processes]
        try:
            while any(p.poll() is None for p in processes):
                if self.cluster.get("TestRun", namespace, name) is None:
                    self.stopped_by_delete.set()
                    return True
                time.sleep(0.2)
            return all(p.poll() == 0 for p in processes)
        finally:
            for p in processes:
                p.stop(grace=3.0)


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    need_k6()
    # The capture where the stand-in runner pods (local k6) reach it, as PLog's chart
    # sets these for a worker in the cluster.
    port = free_port()
    monkeypatch.setenv("PLOG_CAPTURE_LISTEN", f"127.0.0.1:{port}")
    monkeypatch.setenv("PLOG_CAPTURE_ADVERTISE", f"http://127.0.0.1:{port}")
    with FakeCluster(tmp_path / "kube") as fake:
        api_client = config.new_client_from_config(str(fake.kubeconfig))
        client.CoreV1Api(api_client).create_namespace(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
        )
        operator = Operator(fake, tmp_path / "pods")
        fake.on_testrun(operator)
        yield fake, KubeTestRunApi(api_client), operator
        api_client.close()


def _left(fake: FakeCluster) -> list[str]:
    kinds = ("TestRun", "ConfigMap")
    return [f"{k}/{o['metadata']['name']}" for k in kinds for o in fake.objects(k, NS)]


@pytest.mark.slow
def test_testrun_is_judged_once_on_the_merged_result(cluster, tmp_path):
    fake, api, operator = cluster
    gates = (parse_gate("p95 < 250ms"),)

    def behave(segment: str, n: int) -> tuple[int, float]:
        return 200, 0.5 if segment == "0:1/4" and n % 8 == 0 else 0.0

    with segment_server(behave) as (url, seen):
        script = _script(url, rate=48, duration_s=4, vus=4)
        run = run_testrun(
            api, script, namespace=NS, name="plog-load", runners=4, base_url=url, timeout_s=90
        )
    (testrun,) = operator.seen
    assert testrun["spec"]["parallelism"] == 4
    assert "--no-thresholds" in testrun["spec"]["arguments"].split()
    assert testrun["spec"]["runner"]["image"] == "grafana/k6:1.1.0"
    env = {e["name"]: e.get("value") for e in testrun["spec"]["runner"]["env"]}
    assert env["BASE_URL"] == url and env["K6_PROMETHEUS_RW_SERVER_URL"].endswith("/write/cluster")
    # Each pod kept apart by its instance_id, and merged exactly.
    assert [r.runner for r in run.runners] == ["1", "2", "3", "4"]
    assert sum(r.requests for r in run.runners) == run.result.total.count == sum(seen.values())
    alone = {r.runner: _verdict(gates, r.alone) for r in run.runners}
    assert alone == {"1": "fail", "2": "pass", "3": "pass", "4": "pass"}, run.runners
    assert evaluate(gates, run.result.operations, run.result.total).status == "pass"
    assert run.result.aborted is None and run.runners[0].cpu_percent is None
    assert _left(fake) == [] and fake.errors == []


@pytest.mark.slow
def test_abort_on_the_whole_deletes_the_testrun_and_stops_every_pod(cluster, tmp_path):
    fake, api, operator = cluster

    def behave(segment: str, n: int) -> tuple[int, float]:
        return (200 if segment == "3/4:1" else 500), 0.0

    started = time.monotonic()
    with segment_server(behave) as (url, _):
        script = _script(url, rate=20, duration_s=30, vus=4)
        run = run_testrun(
            api,
            script,
            namespace=NS,
            name="plog-abort",
            runners=4,
            base_url=url,
            timeout_s=90,
            abort_gates=(CATASTROPHIC,),
        )
    assert run.result.aborted is not None and "merged result of 4 runners" in run.result.aborted
    assert run.result.k6_exit_code == 99 and time.monotonic() - started < 25
    assert operator.stopped_by_delete.wait(10)
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(p) for p in operator.pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(psutil.pid_exists(p) for p in operator.pids)
    assert _left(fake) == [] and fake.errors == []


@pytest.mark.slow
def test_stage_error_is_reported_and_cleaned_up(cluster, tmp_path):
    fake, api, _ = cluster
    fake.on_testrun(lambda testrun: False)  # the runners failed
    with segment_server(lambda s, n: (200, 0.0)) as (url, _):
        script = _script(url, rate=4, duration_s=2, vus=1)
        with pytest.raises(
            InternalError, match=r"TestRun plog-pets-pr-7/plog-bad ended in stage error"
        ):
            run_testrun(
                api, script, namespace=NS, name="plog-bad", runners=2, base_url=url, timeout_s=30
            )
    assert _left(fake) == []


@pytest.mark.slow
def test_ctrl_c_deletes_the_testrun_and_its_script(cluster, tmp_path):
    fake, api, operator = cluster

    def interrupt(elapsed: float) -> None:
        if elapsed > 1.5:
            raise KeyboardInterrupt

    with segment_server(lambda s, n: (200, 0.0)) as (url, _):
        script = _script(url, rate=10, duration_s=30, vus=2)
        with pytest.raises(KeyboardInterrupt):
            run_testrun(
                api,
                script,
                namespace=NS,
                name="plog-int",
                runners=2,
                base_url=url,
                timeout_s=60,
                on_tick=interrupt,
            )
    assert _left(fake) == []
    assert operator.stopped_by_delete.wait(10)


@pytest.mark.slow
def test_hard_cap_deletes_the_testrun_and_keeps_what_was_measured(cluster, tmp_path):
    fake, api, operator = cluster
    with segment_server(lambda s, n: (200, 0.0)) as (url, seen):
        script = _script(url, rate=10, duration_s=60, vus=2)
        run = run_testrun(
            api, script, namespace=NS, name="plog-cap", runners=2, base_url=url, timeout_s=5
        )
    assert run.result.aborted is not None and "hard cap of 5s" in run.result.aborted
    assert run.result.k6_exit_code == 105 and 0 < run.result.total.count <= sum(seen.values())
    assert _left(fake) == [] and operator.stopped_by_delete.wait(10)


def test_capture_addresses_come_from_the_environment():
    assert capture_listen({}) == ("127.0.0.1", 0)
    assert capture_listen({"PLOG_CAPTURE_LISTEN": "0.0.0.0:9090"}) == ("0.0.0.0", 9090)
    local = "http://127.0.0.1:41234/write/cluster"
    with pytest.raises(ConfigError, match="PLOG_CAPTURE_ADVERTISE is not set") as unset:
        capture_push_url(local, {})  # a pod's loopback is the pod: it would reach nothing
    assert "PLOG_CAPTURE_LISTEN" in str(unset.value.hint)
    advertised = {"PLOG_CAPTURE_ADVERTISE": "http://plog-capture.plog.svc:9090/"}
    assert capture_push_url(local, advertised) == "http://plog-capture.plog.svc:9090/write/cluster"
    for bad in ("9090", "0.0.0.0:http", ":9090", "$(id):1"):
        with pytest.raises(ConfigError, match="PLOG_CAPTURE_LISTEN"):
            capture_listen({"PLOG_CAPTURE_LISTEN": bad})
    for bad in ("plog-capture:9090", "ftp://x", "http://x/?a=$(id)", "--flag=x"):
        with pytest.raises(ConfigError, match="PLOG_CAPTURE_ADVERTISE"):
            capture_push_url(local, {"PLOG_CAPTURE_ADVERTISE": bad})


def test_the_capture_binds_the_address_in_plog_capture_listen() -> None:
    import socket

    from plog_ci.runner.segments import RunnerCapture

    with socket.socket() as probe:  # a free port, then bound by the capture itself
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listen = capture_listen({"PLOG_CAPTURE_LISTEN": f"127.0.0.1:{port}"})
    with RunnerCapture(("GET /x",), listen=listen) as capture:
        assert capture.url("cluster") == f"http://127.0.0.1:{port}/write/cluster"
    with RunnerCapture(("GET /x",)) as capture:  # unset: loopback, a free port
        assert capture.url().startswith("http://127.0.0.1:")


@pytest.mark.slow
def test_load_auth_reaches_the_runner_pods_through_a_secret_and_only_there(cluster, tmp_path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from plog_ci.config.model import AuthConfig, LoadConfig
    from plog_ci.loadgen.script import generate
    from testing.specs import load_any_spec
    from tests.runner.test_merged_gates import ROOT

    fake, api, operator = cluster
    token = 'tok-4f1d"$(id)${HOME}'
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
        auth = AuthConfig(type="bearer", env="PETS_TOKEN", apply="always")
        load = LoadConfig(rate=10, duration_s=3, vus=2, auth=auth)
        script = generate(spec, [spec.operations["GET /pets"]], load, url)
        assert script.secret_env == ("PETS_TOKEN",)
        run = run_testrun(
            api,
            script,
            namespace=NS,
            name="plog-auth",
            runners=2,
            base_url=url,
            timeout_s=60,
            secret_env={"PETS_TOKEN": token},
        )
    finally:
        server.shutdown()
    assert run.result.total.count > 0 and seen and set(seen) == {f"Bearer {token}"}
    # The token went through the Secret only: not the TestRun, not the ConfigMap.
    assert token not in json.dumps(operator.seen)
    assert _left(fake) == [] and fake.objects("Secret", NS) == []
    assert fake.errors == []


@pytest.mark.slow
def test_runners_whose_results_never_arrive_are_no_verdict_on_the_service(cluster, monkeypatch):
    fake, api, _operator = cluster
    # Advertised where nothing listens: the runners run, their pushes are lost.
    monkeypatch.setenv("PLOG_CAPTURE_ADVERTISE", f"http://127.0.0.1:{free_port()}")
    with segment_server(lambda s, n: (200, 0.0)) as (url, seen):
        script = _script(url, rate=10, duration_s=3, vus=2)
        with pytest.raises(DependencyError, match="no runner pushed its results") as lost:
            run_testrun(
                api, script, namespace=NS, name="plog-lost", runners=2, base_url=url, timeout_s=60
            )
    assert sum(seen.values()) > 0  # the service answered: the fault is not its
    assert "PLOG_CAPTURE_ADVERTISE" in str(lost.value.hint)
    assert _left(fake) == []
