"""The webhook receiver over real HTTP, with GitHub's example payloads signed by the test."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plog_ci.errors import InputError
from plog_ci.queue import Queue
from plog_ci.web import create_app
from plog_ci.web.signature import verify_github
from testing.paths import WEBHOOK_DATA as DATA
from testing.servers import Served

SECRET = "It's a Secret to Everybody"
HEAD = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
BEFORE = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def test_github_documented_test_vector() -> None:
    sig = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify_github(SECRET.encode(), b"Hello, World!", sig)
    assert not verify_github(SECRET.encode(), b"Hello, World!!", sig)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def branch_push() -> dict[str, Any]:
    data = copy.deepcopy(load("push_1.payload.json"))  # a tag deletion in the fixture
    data.update(ref="refs/heads/main", before=BEFORE, after=HEAD, deleted=False, created=False)
    return data


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def server(plog_home: Path, serve_app: Any) -> Iterator[Served]:
    app = create_app({"WEBHOOK_SECRET": SECRET, "MAX_BODY": 64 * 1024})
    yield serve_app(app)
    app.extensions["plog_intake"].close()


def deliver(
    server: Served,
    event: str,
    payload: dict[str, Any] | bytes,
    *,
    delivery: str = "d-1",
    signature: str | bytes | None = "auto",
    headers: dict[str, Any] | None = None,
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    hdrs: dict[str, Any] = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
    }
    if signature == "auto":
        hdrs["X-Hub-Signature-256"] = sign(body)
    elif signature is not None:
        hdrs["X-Hub-Signature-256"] = signature
    hdrs.update(headers or {})
    return httpx.post(f"{server.url}/webhook", content=body, headers=hdrs, timeout=10)


def test_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(InputError, match="no webhook secret"):
        create_app({"WEBHOOK_SECRET": ""})


def test_ping(server: Served) -> None:
    res = deliver(server, "ping", load("ping_payload.json"))
    assert res.status_code == 200 and res.json()["pong"] is True


def test_push_queues_a_job_and_redeliveries_and_replays_map_to_it(server: Served) -> None:
    payload = branch_push()
    res = deliver(server, "push", payload)
    assert res.status_code == 202 and res.json()["created"] is True
    job_id = res.json()["job"]
    again = deliver(server, "push", payload)  # same X-GitHub-Delivery
    replay = deliver(server, "push", payload, delivery="d-2")  # replayed body
    assert again.json() == {"job": job_id, "created": False}
    assert replay.json() == {"job": job_id, "created": False}
    (job,) = Queue().jobs()
    assert job.spec.head == HEAD and job.spec.base == BEFORE and job.spec.branch == "main"
    assert job.spec.forge == "github" and job.spec.forge_repo == "Codertocat/Hello-World"
    assert job.spec.clone_url == "https://github.com/Codertocat/Hello-World.git"
    status = httpx.get(f"{server.url}/jobs/{job_id}").json()
    assert status["state"] == "pending"


def test_tag_pushes_deletions_labels_and_unknown_events_queue_nothing(server: Served) -> None:
    assert deliver(server, "push", load("push_1.payload.json")).status_code == 202
    deleted = branch_push()
    deleted.update(deleted=True, after="0" * 40)
    assert "ignored" in deliver(server, "push", deleted, delivery="d-2").json()
    res = deliver(server, "star", {"action": "created"}, delivery="d-3")
    assert res.status_code == 202 and "ignored" in res.json()
    labeled = load("pull_request_closed.payload.json")
    labeled["action"] = "labeled"
    ignored = deliver(server, "pull_request", labeled, delivery="d-4")
    assert ignored.status_code == 202 and "ignored" in ignored.json()
    assert Queue().jobs() == []  # a closed one queues its teardown: tests/git/test_pr_closed.py


def test_pull_request_uses_the_base_sha(server: Served) -> None:
    opened = load("pull_request_opened.payload.json")
    res = deliver(server, "pull_request", opened)
    assert res.status_code == 202
    sync = load("pull_request_synchronize.payload.json")
    assert deliver(server, "pull_request", sync, delivery="d-2").json()["created"] is False
    (job,) = Queue().jobs()
    assert job.spec.pr_number == 2 and job.spec.kind == "pull_request"
    assert job.spec.head == opened["pull_request"]["head"]["sha"]
    assert job.spec.base == opened["pull_request"]["base"]["sha"]
    assert job.spec.allow_secrets and not job.spec.fork


def test_pull_request_from_a_fork_runs_without_secrets(server: Served) -> None:
    payload = load("pull_request_opened.with-null-body.json")
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    assert deliver(server, "pull_request", payload).status_code == 202
    (job,) = Queue().jobs()
    assert job.spec.fork and not job.spec.allow_secrets


@pytest.mark.parametrize(
    "signature",
    [
        None,  # missing
        "sha1=" + "0" * 40,  # sha1= only
        "sha256=757107ea0eb2509fc2",  # truncated
        "sha256=" + "é" * 64,  # non-ASCII
        "",
    ],
)
def test_bad_signatures_are_401(server: Served, signature: str | None) -> None:
    headers = None
    sig: str | bytes | None = signature
    if signature and not signature.isascii():
        sig = signature.encode("utf-8")  # raw non-ASCII bytes on the wire
    res = deliver(server, "push", branch_push(), signature=sig, headers=headers)
    assert res.status_code == 401
    assert Queue().jobs() == []


def test_reserialised_body_with_the_original_signature_is_401(server: Served) -> None:
    original = json.dumps(branch_push()).encode()
    reserialised = json.dumps(json.loads(original), indent=2).encode()
    res = deliver(server, "push", reserialised, signature=sign(original))
    assert res.status_code == 401


def test_wrong_secret_is_401(server: Served) -> None:
    body = json.dumps(branch_push()).encode()
    assert deliver(server, "push", body, signature=sign(body, "guess")).status_code == 401


def test_oversized_bodies_are_413_also_when_chunked(server: Served) -> None:
    big = b'{"pad": "' + b"x" * (80 * 1024) + b'"}'
    res = deliver(server, "push", big)
    assert res.status_code == 413

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    res = httpx.post(
        f"{server.url}/webhook",
        content=chunks(),
        timeout=10,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(big)},
    )
    assert res.status_code == 413
    assert Queue().jobs() == []


def test_small_chunked_body_is_read_whole(server: Served) -> None:
    body = json.dumps(branch_push()).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    res = httpx.post(
        f"{server.url}/webhook",
        content=chunks(),
        timeout=10,
        headers={
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "c-1",
            "X-Hub-Signature-256": sign(body),
            "Content-Type": "application/json",
        },
    )
    assert res.status_code == 202 and res.json()["created"] is True


def test_signed_garbage_is_400_not_500(server: Served) -> None:
    assert deliver(server, "push", b"[not json").status_code == 400
    bad = branch_push()
    bad["after"] = "$(id)"
    assert deliver(server, "push", bad, delivery="d-2").status_code == 400
    pr = load("pull_request_opened.payload.json")
    pr["number"] = "2; DROP TABLE jobs"
    assert deliver(server, "pull_request", pr, delivery="d-3").status_code == 400


@pytest.fixture
def gitea_server(plog_home: Path, serve_app: Any) -> Iterator[Served]:
    """A receiver configured for Gitea: statuses go to the configured API URL only."""
    app = create_app(
        {
            "WEBHOOK_SECRET": SECRET,
            "MAX_BODY": 64 * 1024,
            "FORGE": "gitea",
            "FORGE_API_URL": "https://gitea.example.com/api/v1",
        }
    )
    yield serve_app(app)
    app.extensions["plog_intake"].close()


def test_gitea_delivery(gitea_server: Served) -> None:
    server = gitea_server
    payload = branch_push()
    payload["repository"]["html_url"] = "https://gitea.example.com/owner/app"
    payload["repository"]["clone_url"] = "https://gitea.example.com/owner/app.git"
    body = json.dumps(payload).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    res = httpx.post(
        f"{server.url}/webhook",
        content=body,
        timeout=10,
        headers={
            "X-Gitea-Event": "push",
            "X-Gitea-Delivery": "g-1",
            "X-Gitea-Signature": digest,
            "Content-Type": "application/json",
        },
    )
    assert res.status_code == 202
    (job,) = Queue().jobs()
    assert job.spec.forge == "gitea" and job.spec.forge_url == "https://gitea.example.com/api/v1"
    res = httpx.post(
        f"{server.url}/webhook",
        content=body,
        timeout=10,
        headers={"X-Gitea-Event": "push", "X-Gitea-Signature": "0" * 64},
    )
    assert res.status_code == 401


def test_locked_queue_spools_the_delivery(server: Served, plog_home: Path) -> None:
    import sqlite3

    q = Queue()
    q.counts()  # creates the database
    blocker = sqlite3.connect(q.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        res = deliver(server, "push", branch_push())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert res.status_code == 202 and "spooled" in res.json()
    assert len(q.ingest_spool()) == 1


def test_serve_command_refuses_to_start_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, plog_home: Path
) -> None:
    from click.testing import CliRunner

    from plog_ci.cli import cli

    monkeypatch.delenv("PLOG_WEBHOOK_SECRET", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--port", "0"])
    assert result.exit_code != 0 and "no webhook secret" in result.output
