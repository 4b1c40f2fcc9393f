"""A closed pull request (issue 21): the webhook queues a teardown in the PR's lane,
which cancels the PR's waiting runs; the worker removes the PR's job namespaces on
the installation's cluster (the fake Kubernetes API) and posts nothing: no run took
place. Other pull requests' and other repositories' namespaces stay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plog_ci.deploy import namespaces
from plog_ci.deploy.kube import Access, connect
from plog_ci.queue import JobSpec, Queue
from plog_ci.web import create_app
from plog_ci.worker import Worker
from testing.fake_kube import FakeCluster
from testing.servers import Served
from testing.worker_jobs import RecordingForge, records
from tests.git.test_webhooks import SECRET, deliver, load

REPO = "Codertocat/Hello-World"  # the example payloads' repository


@pytest.fixture
def server(plog_home: Path, serve_app: Any) -> Iterator[Served]:
    app = create_app({"WEBHOOK_SECRET": SECRET, "MAX_BODY": 64 * 1024})
    yield serve_app(app)
    app.extensions["plog_intake"].close()


def _job_namespace(cluster: Any, name: str, repository: str, pr: int | None) -> None:
    ends = namespaces.expiry(time.time(), 3600)  # not expired: only the close removes it
    labels, notes = namespaces.namespace_metadata("7", repository, pr, ends)
    assert cluster.create_namespace(name, labels, notes)


def test_a_closed_pull_request_removes_its_namespaces_and_posts_nothing(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = load("pull_request_opened.payload.json")
    closed = load("pull_request_closed.payload.json")
    number = closed["number"]
    assert opened["number"] == number and closed["repository"]["full_name"] == REPO
    with FakeCluster(tmp_path / "kube", namespace_delete_delay=0.1) as fake:
        monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig))
        with connect(Access(str(fake.kubeconfig), None)) as api:
            _job_namespace(api, f"plog-hello-world-pr-{number}", REPO, number)
            _job_namespace(api, "plog-hello-world-pr-99", REPO, 99)
            _job_namespace(api, f"plog-other-pr-{number}", "someone/other", number)
        assert deliver(server, "pull_request", opened).json()["created"] is True
        res = deliver(server, "pull_request", closed, delivery="d-2")
        assert res.status_code == 202 and res.json()["created"] is True
        jobs = {j.spec.kind: j for j in Queue().jobs()}
        assert jobs["pull_request"].state == "cancelled"  # a closed PR is not tested
        assert jobs["teardown"].state == "pending" and jobs["teardown"].spec.pr_number == number

        log = tmp_path / "statuses.jsonl"

        def no_run(job: Any, home: Path) -> Any:
            raise AssertionError(f"job {job.id} ran")

        worker = Worker(runner=no_run, forge_factory=lambda job: RecordingForge(log))  # type: ignore[arg-type]
        worker.run_until_idle(timeout_s=30)
        (teardown,) = [j for j in Queue().jobs() if j.spec.kind == "teardown"]
        assert (teardown.state, teardown.result, teardown.published) == ("finished", "pass", True)
        assert teardown.summary == "pull request closed: removed 1 namespace(s)"
        assert records(log) == []  # nothing posted: neither pending nor final
        deadline = time.monotonic() + 10  # Terminating for a moment, then gone
        while time.monotonic() < deadline:
            left = sorted(ns["metadata"]["name"] for ns in fake.objects("Namespace"))
            if f"plog-hello-world-pr-{number}" not in left:
                break
            time.sleep(0.05)
        assert f"plog-hello-world-pr-{number}" not in left
        assert {"plog-hello-world-pr-99", f"plog-other-pr-{number}"} <= set(left)
        assert fake.errors == []


def test_a_teardown_without_a_cluster_ends_quietly_and_a_broken_one_says_why(
    plog_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "statuses.jsonl"
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    for pr, kubeconfig in ((3, None), (4, tmp_path / "missing")):
        if kubeconfig is not None:
            monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        spec = JobSpec(repo="github:a/b", head="a" * 40, pr_number=pr, kind="teardown")
        Queue().enqueue(spec)
        worker = Worker(forge_factory=lambda job: RecordingForge(log))  # type: ignore[arg-type]
        worker.run_until_idle(timeout_s=10)
    quiet, broken = sorted(Queue().jobs(), key=lambda j: j.spec.pr_number or 0)
    assert (quiet.state, quiet.result) == ("finished", "pass")
    assert quiet.summary == "pull request closed: removed 0 namespace(s)"
    assert (broken.state, broken.result) == ("finished", "error")
    assert broken.summary is not None and "missing" in broken.summary
    assert records(log) == []  # nothing posted either way
    # The same head as the PR's last run is still another job than that run.
    run = JobSpec(repo="github:a/b", head="a" * 40, pr_number=3)
    assert (
        JobSpec(**{**run.__dict__, "kind": "teardown"}).idempotency_key() != run.idempotency_key()
    )


def test_the_worker_removes_expired_job_namespaces_as_it_goes(
    plog_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeCluster(tmp_path / "kube", namespace_delete_delay=0.0) as fake:
        monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig))
        with connect(Access(str(fake.kubeconfig), None)) as api:
            for name, ends in (("plog-a-pr-1", -60.0), ("plog-b-pr-2", 3600.0)):
                labels, notes = namespaces.namespace_metadata(
                    "1", "a/b", 1, namespaces.expiry(time.time() + ends, 0)
                )
                assert api.create_namespace(name, labels, notes)
        worker = Worker(forge_factory=lambda job: RecordingForge(tmp_path / "log"))  # type: ignore[arg-type]
        worker.run_once()  # a pass with no job: the reaper's thread starts beside it
        deadline = time.monotonic() + 10
        names: set[str] = set()
        while time.monotonic() < deadline:
            names = {ns["metadata"]["name"] for ns in fake.objects("Namespace")}
            if "plog-a-pr-1" not in names:
                break
            time.sleep(0.05)
        assert "plog-a-pr-1" not in names and "plog-b-pr-2" in names
        started = worker.namespaces_reaped_at
        worker.run_once()  # not again before NAMESPACE_REAP_EVERY_S
        assert worker.namespaces_reaped_at == started
