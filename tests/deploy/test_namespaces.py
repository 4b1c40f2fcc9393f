"""Job namespaces: names that are DNS labels whatever the repository is called, the
labels and expiry every one carries, and the reaper (against the fake cluster)."""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plog_ci.deploy import namespaces
from plog_ci.deploy.kube import Access, Cluster, Namespace, connect
from plog_ci.deploy.target import reap_expired_namespaces
from plog_ci.errors import DependencyError
from testing.fake_kube import FakeCluster
from tests.deploy.helm_jobs import (  # noqa: F401 - fixtures, used by their names
    api_fixture,
    fake_fixture,
)

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
SHA = "0123456789abcdef0123456789abcdef01234567"
HOSTILE = [
    "--upload-pack=x",
    "Ünïcode-Sërvice",
    "x" * 200,
    "UPPER.Case.Repo",
    "dots...and___underscores",
    "$(id)",
    "${HOME}",
    "<script>alert(1)</script>",
    "a/b/c.git",
    "",
    "-",
    "日本語",
    "repo\nname\x00",
]


@pytest.mark.parametrize("repository", HOSTILE)
@pytest.mark.parametrize("pr", [None, 7, 123456789])
def test_names_are_dns_labels(repository: str, pr: int | None) -> None:
    name = namespaces.namespace_name(repository, pr, SHA)
    assert DNS_LABEL.match(name), name
    assert len(name) <= 63
    assert name.startswith("plog-")
    assert name.endswith(f"-pr-{pr}") or f"-pr-{pr}-" in name if pr else SHA[:12] in name


def test_readable_names() -> None:
    assert namespaces.namespace_name("petstore", 12, SHA) == "plog-petstore-pr-12"
    assert namespaces.namespace_name("/srv/git/Pet.Store.git", None, SHA) == (
        "plog-pet-store-0123456789ab"
    )
    assert namespaces.namespace_name("Ünïcode", 3, SHA) == "plog-unicode-pr-3"
    assert namespaces.namespace_name("--upload-pack=x", 3, SHA) == "plog-upload-pack-x-pr-3"
    assert namespaces.namespace_name("日本語", 3, SHA) == "plog-repo-pr-3"


def test_a_hostile_commit_stays_a_label() -> None:
    name = namespaces.namespace_name("svc", None, "--upload-pack=x")
    assert DNS_LABEL.match(name) and name == "plog-svc-upload-pack"


def test_cut_names_keep_the_job_and_differ_by_hash() -> None:
    one = namespaces.namespace_name("a" * 100 + "one", 5, SHA)
    two = namespaces.namespace_name("a" * 100 + "two", 5, SHA)
    assert one != two
    assert len(one) == len(two) == 63
    assert "-pr-5-" in one and re.search(r"-[0-9a-f]{8}\Z", one)
    # The same inputs give the same name (a retried job finds its namespace).
    assert one == namespaces.namespace_name("a" * 100 + "one", 5, SHA)


def test_with_tail_stays_a_label() -> None:
    long = namespaces.namespace_name("b" * 80, 9, SHA)
    tailed = namespaces.with_tail(long, "abc123")
    assert DNS_LABEL.match(tailed) and len(tailed) <= 63 and tailed.endswith("-abc123")


def test_metadata_and_expiry() -> None:
    now = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC).timestamp()
    ends = namespaces.expiry(now, 21600)
    assert ends.text == "2026-11-30T16:00:00Z"
    assert ends.unix == int(now) + 21600
    labels, notes = namespaces.namespace_metadata("42", "$(id)/Ünï.git", 8, ends)
    assert labels == {
        "app.kubernetes.io/managed-by": "plog",
        "plog.dev/job": "42",
        "plog.dev/repo": "uni",
        "plog.dev/expires-unix": str(ends.unix),
        "plog.dev/pr": "8",
    }
    assert notes == {"plog.dev/expires": "2026-11-30T16:00:00Z"}
    label_value = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
    for repository in HOSTILE:
        labels, _ = namespaces.namespace_metadata("7", repository, None, ends)
        assert all(label_value.match(v) and len(v) <= 63 for v in labels.values()), labels


def _ns(labels: dict[str, str], notes: dict[str, str] | None = None) -> Namespace:
    return Namespace("plog-x", labels, notes or {}, "Active")


def test_expiry_is_read_from_the_label_else_the_annotation() -> None:
    assert namespaces.expires_at(_ns({"plog.dev/expires-unix": "100"})) == 100
    at = namespaces.expires_at(_ns({}, {"plog.dev/expires": "1970-01-01T00:02:00Z"}))
    assert at == 120
    # Unreadable: never reaped (None), whatever the text.
    assert namespaces.expires_at(_ns({"plog.dev/expires-unix": "-5"})) is None
    assert namespaces.expires_at(_ns({}, {"plog.dev/expires": "soon"})) is None
    assert namespaces.expires_at(_ns({})) is None


# --- against the fake cluster ---------------------------------------------------------

NOW = 1_800_000_000.0


def _create(api: Cluster, name: str, labels: dict[str, str], expires: float | None) -> None:
    notes = {}
    if expires is not None:
        labels = {**labels, namespaces.EXPIRES_LABEL: str(int(expires))}
        notes = {namespaces.EXPIRES_ANNOTATION: namespaces.expiry(expires, 0).text}
    assert api.create_namespace(name, labels, notes)


def _names(fake: FakeCluster) -> set[str]:
    return {ns["metadata"]["name"] for ns in fake.objects("Namespace")}


PLOG = {namespaces.MANAGED_BY: "plog", namespaces.JOB_LABEL: "1"}


def test_reaper_removes_expired_plog_namespaces_only(api: Cluster, fake: FakeCluster) -> None:
    _create(api, "plog-old", PLOG, NOW - 1)
    _create(api, "plog-just-now", PLOG, NOW)
    _create(api, "plog-young", PLOG, NOW + 60)
    _create(api, "plog-no-expiry", PLOG, None)
    _create(api, "not-ours", {namespaces.MANAGED_BY: "helm"}, NOW - 1000)
    _create(api, "unlabelled", {}, NOW - 1000)
    _create(api, "plog-annotation-only", {namespaces.MANAGED_BY: "plog"}, None)
    api.label_namespace("plog-annotation-only", {"other": "x"})
    removed = namespaces.reap_namespaces(api, NOW)
    assert removed == ["plog-just-now", "plog-old"]
    deleted = {r.path for r in fake.requests if r.method == "DELETE"}
    assert deleted == {"/api/v1/namespaces/plog-just-now", "/api/v1/namespaces/plog-old"}
    time.sleep(0.6)
    assert _names(fake) >= {"plog-young", "plog-no-expiry", "not-ours", "unlabelled"}
    assert not {"plog-old", "plog-just-now"} & _names(fake)
    # The list was filtered by the server with PLog's label selector.
    lists = [r for r in fake.requests if r.method == "GET" and r.path == "/api/v1/namespaces"]
    assert lists and all(r.query.get("labelSelector") == namespaces.SELECTOR for r in lists[:1])


def test_reaper_tolerates_races(api: Cluster, fake: FakeCluster) -> None:
    _create(api, "plog-a", PLOG, NOW - 5)
    _create(api, "plog-b", PLOG, NOW - 5)
    assert api.delete_namespace("plog-a")  # another reaper got there first: Terminating
    assert namespaces.reap_namespaces(api, NOW) == ["plog-b"]
    assert api.delete_namespace("plog-b")  # deleting one terminating is fine
    time.sleep(0.6)
    assert not api.delete_namespace("plog-a")  # gone: fine
    assert namespaces.reap_namespaces(api, NOW) == []


def test_a_taken_name_gets_a_fresh_one_and_nothing_is_touched(
    api: Cluster, fake: FakeCluster
) -> None:
    labels, notes = namespaces.namespace_metadata("7", "svc", 3, namespaces.expiry(NOW, 60))
    assert namespaces.create_job_namespace(api, "plog-svc-pr-3", labels, notes) == "plog-svc-pr-3"
    # The same job again (a retried step): its own namespace.
    assert namespaces.create_job_namespace(api, "plog-svc-pr-3", labels, notes) == "plog-svc-pr-3"
    other, _ = namespaces.namespace_metadata("8", "svc", 3, namespaces.expiry(NOW, 60))
    fresh = namespaces.create_job_namespace(api, "plog-svc-pr-3", other, notes)
    assert re.fullmatch(r"plog-svc-pr-3-[0-9a-f]{6}", fresh)
    stored = fake.get("Namespace", "", "plog-svc-pr-3")
    assert stored is not None and stored["metadata"]["labels"][namespaces.JOB_LABEL] == "7"


def test_pull_request_closed_removes_its_namespaces(api: Cluster) -> None:
    for job, pr, repo in (("1", 3, "svc"), ("2", 3, "svc"), ("3", 4, "svc"), ("4", 3, "other")):
        labels, notes = namespaces.namespace_metadata(job, repo, pr, namespaces.expiry(NOW, 600))
        namespaces.create_job_namespace(api, f"plog-{repo}-pr-{pr}", labels, notes)
    removed = namespaces.reap_pull_request(api, "/srv/svc.git", 3)
    assert len(removed) == 2 and all(n.startswith("plog-svc-pr-3") for n in removed)


def test_refusals_are_dependency_errors_without_the_token(
    fake: FakeCluster, tmp_path: Path
) -> None:
    doc = fake.kubeconfig_doc()
    doc["users"][0]["user"]["token"] = "wrong-token-value"
    config = tmp_path / "wrong"
    config.write_text(json.dumps(doc))  # JSON is YAML
    with connect(Access(str(config), None)) as api, pytest.raises(DependencyError) as info:
        api.namespaces(namespaces.SELECTOR)
    text = str(info.value)
    assert "401" in text and "wrong-token-value" not in text and fake.token not in text
    assert "grant it" in text


def test_an_unreachable_cluster_is_a_dependency_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t0ps3cr3t-value}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    with connect(Access(str(config), None)) as api, pytest.raises(DependencyError) as info:
        namespaces.reap_namespaces(api, NOW)
    assert "did not answer" in str(info.value) and "t0ps3cr3t" not in str(info.value)


def test_the_workers_reaper_needs_no_cluster_and_reaps_one(
    fake: FakeCluster, api: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PLOG_KUBE_JOB_ROLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert reap_expired_namespaces(NOW) == []  # no cluster configured: nothing to do
    _create(api, "plog-old", PLOG, NOW - 1)
    _create(api, "plog-young", PLOG, NOW + 1)
    monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig))
    assert reap_expired_namespaces(NOW) == ["plog-old"]
