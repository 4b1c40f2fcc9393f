"""``plog cluster reap`` end to end: a real plog process against the fake cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from plog_ci.deploy import namespaces
from plog_ci.deploy.kube import Access, connect
from plog_ci.errors import ExitCode
from testing.fake_kube import FakeCluster
from tests.deploy.helm_jobs import fake_fixture  # noqa: F401 - a fixture, used by its name


def _plog(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "PLOG_KUBE"))}
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_reap_prints_what_it_removed(fake: FakeCluster, tmp_path: Path) -> None:
    now = time.time()
    with connect(Access(str(fake.kubeconfig), None)) as api:
        for name, job, ends in (("plog-a-pr-1", "1", now - 10), ("plog-b-pr-2", "2", now + 600)):
            labels, notes = namespaces.namespace_metadata(job, name, 1, namespaces.expiry(ends, 0))
            assert api.create_namespace(name, labels, notes)
        # Not PLog's, though expired by the same label: kept.
        assert api.create_namespace("team-a", {namespaces.EXPIRES_LABEL: "1"}, {})
    env = {"KUBECONFIG": str(fake.kubeconfig), "HOME": str(tmp_path)}
    done = _plog(env, "cluster", "reap")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["removed namespace plog-a-pr-1"]
    again = _plog(env, "cluster", "reap")
    assert again.returncode == 0 and again.stdout.strip() == "no expired PLog namespace"
    assert fake.token not in done.stdout + done.stderr + again.stderr
    left = {ns["metadata"]["name"] for ns in fake.objects("Namespace")}
    assert {"team-a", "plog-b-pr-2", "kube-system"} <= left


def test_no_cluster_access_is_a_clear_error(tmp_path: Path) -> None:
    done = _plog({"HOME": str(tmp_path)}, "cluster", "reap")
    assert done.returncode == ExitCode.MISSING_DEPENDENCY
    assert "no Kubernetes cluster access is configured" in done.stderr
    assert "KUBECONFIG" in done.stderr


def test_an_unknown_context_is_a_clear_error(fake: FakeCluster, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(fake.kubeconfig), "HOME": str(tmp_path), "PLOG_KUBE_CONTEXT": "$(id)"}
    done = _plog(env, "cluster", "reap")
    assert done.returncode == ExitCode.MISSING_DEPENDENCY
    assert "cannot use the cluster's configuration" in done.stderr and "$(id)" in done.stderr
    assert fake.token not in done.stderr


def test_a_malformed_kubeconfig_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    for index, text in enumerate(("garbage: [", "hello", "- a", "clusters: 7")):
        path = tmp_path / f"kubeconfig-{index}"
        path.write_text(text, encoding="utf-8")
        done = _plog({"KUBECONFIG": str(path), "HOME": str(tmp_path)}, "cluster", "reap")
        assert done.returncode == ExitCode.MISSING_DEPENDENCY, (text, done.stderr)
        assert "cannot use the cluster's configuration" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "bug in PLog" not in done.stderr
