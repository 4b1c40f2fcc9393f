"""Job namespaces: names that are DNS labels whatever the repository is called, the
labels and expiry every one carries, and the reaper (against the fake cluster)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from plog_ci.deploy import namespaces
from plog_ci.deploy.kube import Namespace

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
