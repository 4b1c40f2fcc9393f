"""Hostile webhook deliveries (issue 15, kinds 1, 2 and 8): the entry point anyone can reach.

Every delivery here is validly signed (the attacker knows nothing we rely on
being secret, except where the signature is the point). The real ``create_app``
is served over real HTTP on 127.0.0.1; ``plog serve`` itself runs as a
subprocess where its start-up is what is checked. Each case asserts the status
code, the message, that nothing was queued, and (where an address is named)
that a listener standing for that address was never contacted.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

from plog_ci.forge.sources import SourcePolicy
from plog_ci.queue import Queue
from plog_ci.web import create_app
from testing.fake_forge import ConnectionRecorder
from testing.paths import WEBHOOK_DATA as DATA

SECRET = "It's a Secret to Everybody"
HEAD = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
BEFORE = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
ROOT = Path(__file__).resolve().parents[2]


def _push(clone_url: Any = "https://github.com/Codertocat/Hello-World.git") -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(json.loads((DATA / "push_1.payload.json").read_text()))
    data.update(ref="refs/heads/main", before=BEFORE, after=HEAD, deleted=False, created=False)
    data["repository"]["clone_url"] = clone_url
    return data


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


Serve = Callable[..., str]


@pytest.fixture
def serve(plog_home: Path) -> Iterator[Serve]:
    """Start ``create_app(config)`` on 127.0.0.1; every server stops after the test."""
    running: list[tuple[Any, threading.Thread, Any]] = []

    def start(**config: Any) -> str:
        app = create_app({"WEBHOOK_SECRET": SECRET, **config})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread, app))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread, app in running:
        server.shutdown()
        thread.join(timeout=5)
        app.extensions["plog_intake"].close()


def _deliver(
    url: str,
    payload: Any,
    *,
    event: str = "push",
    gitea: bool = False,
    content_type: str = "application/json",
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if gitea:
        headers = {
            "X-Gitea-Event": event,
            "X-Gitea-Delivery": "g-" + hashlib.sha1(body).hexdigest(),
            "X-Gitea-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
        }
    else:
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": "d-" + hashlib.sha1(body).hexdigest(),
            "X-Hub-Signature-256": _sign(body),
        }
    headers["Content-Type"] = content_type
    return httpx.post(f"{url}/webhook", content=body, headers=headers, timeout=15)


def _queued() -> int:
    return len(Queue().jobs())


# -- kind 1: the payload names what to fetch ---------------------------------------------


@pytest.fixture
def victim() -> Iterator[ConnectionRecorder]:
    """A loopback listener standing for an internal address: it must never be contacted."""
    with ConnectionRecorder() as rec:
        yield rec


def _hostile_urls(port: int, other_repo: Path) -> list[tuple[str, str]]:
    return [
        ("file:///etc", "scheme 'file'"),
        ("file:///" + str(other_repo).lstrip("/"), "scheme 'file'"),
        ("http://169.254.169.254/latest/meta-data/", "plain http"),
        ("https://169.254.169.254/latest/meta-data/", "not on the allow-list"),
        ("https://[fd00:ec2::254]/latest/", "not on the allow-list"),
        (f"https://127.0.0.1:{port}/o/r.git", "not on the allow-list"),
        (f"https://localhost:{port}/o/r.git", "not on the allow-list"),
        (f"http://127.0.0.1:{port}/o/r.git", "plain http"),
        ("ext::sh", "transport helper"),
        ("ext::sh -c touch% /tmp/plog-pwned", "spaces or control characters"),
        ("fd::17", "transport helper"),
        ("--upload-pack=touch /tmp/plog-pwned", "option"),
        ("-oProxyCommand=touch", "option"),
        (str(other_repo), "not an allowed repository"),
        ("../../" + other_repo.name, "relative path"),
        ("other.git", "relative path"),
        ("git://github.com/Codertocat/Hello-World.git", "scheme 'git'"),
        ("ssh://git@github.com/Codertocat/Hello-World.git", "ssh, which is not enabled"),
        ("git@github.com:Codertocat/Hello-World.git", "ssh, which is not enabled"),
        ("https://user:tok@github.com/Codertocat/Hello-World.git", "credentials"),
        ("https://github.com:0/Codertocat/Hello-World.git", "port 0"),
        ("https://github.com@169.254.169.254/x.git", "credentials"),
        ("https://evil.example.com/Codertocat/Hello-World.git", "not on the allow-list"),
        ("https://github.com.evil.example/o/r.git", "not on the allow-list"),
        ("https://github.com:22/o/r.git", "not on the allow-list"),
        ("https://github.com/o/../../r.git", "'..'"),
        ("https://github.com/o/r.git?x=1", "query"),
        ("https://github.com/Codertocat/%2e%2e/evil/r.git", "encoded"),
        ("https://github.com/Codertocat%2f..%2fevil/r.git", "encoded"),
        ("https://github.com/o/r\n.git", "control characters"),
        ("ftp://github.com/o/r.git", "scheme 'ftp'"),
    ]


def test_hostile_clone_urls_are_refused_at_intake(
    serve: Serve, victim: ConnectionRecorder, tmp_path: Path
) -> None:
    other = tmp_path / "other.git"
    other.mkdir()
    url = serve()  # GitHub, nothing configured: github.com is the only forge host
    cases = _hostile_urls(victim.port, other)
    for clone_url, reason in cases:
        res = _deliver(url, _push(clone_url))
        assert res.status_code == 403, (clone_url, res.text)
        message = res.json()["error"]
        assert message.startswith("refused: ") and reason in message, (clone_url, message)
    assert _queued() == 0
    assert victim.connections == 0
    assert not (Path(os.environ["PLOG_HOME"]) / "mirrors").exists()


@pytest.mark.parametrize("host_form", ["127.0.0.1", "localhost", "2130706433", "127.1"])
def test_an_allowed_host_that_is_loopback_is_refused_by_its_address(
    serve: Serve, victim: ConnectionRecorder, host_form: str
) -> None:
    # The admin allowed the host name, but it resolves to loopback: refused like Gitea does.
    url = serve(SOURCES=SourcePolicy(hosts=(f"{host_form}:{victim.port}",)))
    res = _deliver(url, _push(f"https://{host_form}:{victim.port}/o/r.git"))
    assert res.status_code == 403
    assert "loopback address" in res.json()["error"]
    assert _queued() == 0 and victim.connections == 0


def test_metadata_and_private_addresses_are_refused_even_when_the_host_is_allowed(
    serve: Serve,
) -> None:
    url = serve(
        SOURCES=SourcePolicy(hosts=("169.254.169.254", "10.1.2.3", "[fe80::1]", "100.100.100.200"))
    )
    for target, kind in [
        ("169.254.169.254", "link-local (metadata)"),
        ("10.1.2.3", "private"),
        ("[fe80::1]", "link-local"),
        ("100.100.100.200", "not public"),
    ]:
        res = _deliver(url, _push(f"https://{target}/o/r.git"))
        assert res.status_code == 403 and kind in res.json()["error"], (target, res.text)
    assert _queued() == 0


def test_allow_net_admits_an_internal_forge_explicitly(serve: Serve) -> None:
    url = serve(SOURCES=SourcePolicy(hosts=("10.1.2.3",), nets=("10.0.0.0/8",)))
    res = _deliver(url, _push("https://10.1.2.3/o/r.git"))
    assert res.status_code == 202 and res.json()["created"] is True
    (job,) = Queue().jobs()
    assert job.spec.clone_url == "https://10.1.2.3/o/r.git"


def test_allow_repo_patterns_admit_only_what_they_name(serve: Serve) -> None:
    url = serve(SOURCES=SourcePolicy(repos=("https://github.com/Codertocat/*",)))
    assert _deliver(url, _push()).status_code == 202
    res = _deliver(url, _push("https://github.com/mallory/Hello-World.git"))
    assert res.status_code == 403 and "not on the allow-list" in res.json()["error"]
    assert _queued() == 1


def test_the_environment_configures_the_allow_list(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLOG_ALLOW_REPOS", "https://gitea.example.com/team/*")
    url = serve()
    ok = _deliver(url, _push("https://gitea.example.com/team/app.git"))
    assert ok.status_code == 202, ok.text
    # With an allow-list given, the forge's default host is no longer implied.
    res = _deliver(url, _push())
    assert res.status_code == 403
    assert _queued() == 1


def test_a_pull_request_from_a_disallowed_url_is_refused(serve: Serve) -> None:
    pr = json.loads((DATA / "pull_request_opened.payload.json").read_text())
    pr["repository"]["clone_url"] = "file:///etc"
    res = _deliver(serve(), pr, event="pull_request")
    assert res.status_code == 403 and "scheme 'file'" in res.json()["error"]
    assert _queued() == 0


# -- kind 2: where the token goes ----------------------------------------------------------


def test_gitea_delivery_without_a_configured_api_url_is_refused(serve: Serve) -> None:
    payload = _push()
    payload["repository"]["html_url"] = "http://127.0.0.1:9/owner/app"  # attacker's choice
    res = _deliver(serve(), payload, gitea=True)
    assert res.status_code == 400
    assert "no Gitea API URL is configured" in res.json()["error"]
    assert _queued() == 0


def test_gitea_statuses_go_to_the_configured_api_url_never_html_url(serve: Serve) -> None:
    url = serve(
        FORGE="gitea",
        FORGE_API_URL="https://gitea.example.com/api/v1",
    )
    payload = _push("https://gitea.example.com/owner/app.git")
    payload["repository"]["html_url"] = "https://evil.example.net/owner/app"
    assert _deliver(url, payload, gitea=True).status_code == 202
    (job,) = Queue().jobs()
    assert job.spec.forge_url == "https://gitea.example.com/api/v1"


def test_create_app_refuses_gitea_without_api_url_and_an_unsafe_api_url(plog_home: Path) -> None:
    from plog_ci.errors import InputError

    with pytest.raises(InputError, match="--forge gitea needs --api-url"):
        create_app({"WEBHOOK_SECRET": SECRET, "FORGE": "gitea"})
    with pytest.raises(InputError, match="plain http"):
        create_app({"WEBHOOK_SECRET": SECRET, "FORGE_API_URL": "http://api.example.com"})
    with pytest.raises(InputError, match="not an https URL"):
        create_app({"WEBHOOK_SECRET": SECRET, "FORGE_API_URL": "file:///etc/passwd"})


def _plog(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PLOG_ALLOW", "PLOG_FORGE"))}
    full = {**clean, "PLOG_WEBHOOK_SECRET": SECRET, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--forge", "gitea"], "--forge gitea needs --api-url"),
        (["--api-url", "http://api.example.com"], "plain http"),
        (["--api-url", "https://api.example.com", "--allow-net", "ten/8"], "not a CIDR"),
        (["--allow-forge-host", "https://x/"], "not a host name"),
    ],
)
def test_plog_serve_refuses_an_unsafe_configuration_with_exit_2(
    plog_home: Path, args: list[str], message: str
) -> None:
    res = _plog("serve", "--port", "0", *args)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr


def test_plog_worker_refuses_an_unsafe_api_url_with_exit_2(plog_home: Path) -> None:
    res = _plog("worker", "--until-idle", "--api-url", "http://10.0.0.1/api/v1")
    assert res.returncode == 2 and "plain http" in res.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_plog_serve_refuses_hostile_urls_and_queues_allowed_ones(
    plog_home: Path, victim: ConnectionRecorder
) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plog_ci",
            "serve",
            "--port",
            str(port),
            "--allow-forge-host",
            f"127.0.0.1:{victim.port}",
            "--allow-repo",
            "https://github.com/Codertocat/*",
        ],
        env={**os.environ, "PLOG_WEBHOOK_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        for clone_url, status in [
            ("file:///etc", 403),
            (f"https://127.0.0.1:{victim.port}/o/r.git", 403),  # allowed host, loopback address
            ("--upload-pack=id", 403),
            ("https://github.com/mallory/r.git", 403),
            ("https://github.com/Codertocat/Hello-World.git", 202),
        ]:
            res = _deliver(url, _push(clone_url))
            assert res.status_code == status, (clone_url, res.text)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    (job,) = Queue().jobs()
    assert job.spec.clone_url == "https://github.com/Codertocat/Hello-World.git"
    assert victim.connections == 0


# -- kind 8: inputs that crashed ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000 + b"]" * 200_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        (
            b'{"ref": "refs/heads/main", "after": "'
            + HEAD.encode()
            + b'", "repository": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}"
        ),
    ],
    ids=["list", "object", "inside-a-push"],
)
def test_deeply_nested_json_is_400_not_500(serve: Serve, body: bytes) -> None:
    url = serve(MAX_BODY=4 * 1024 * 1024)
    res = _deliver(url, body)
    assert res.status_code == 400, res.text
    assert "nested too deeply" in res.json()["error"] or "bad push payload" in res.json()["error"]
    assert _queued() == 0


def test_deeply_nested_form_payload_is_400(serve: Serve) -> None:
    from urllib.parse import quote

    inner = "[" * 100_000 + "]" * 100_000
    body = ("payload=" + quote(inner)).encode()
    res = _deliver(
        serve(MAX_BODY=4 * 1024 * 1024), body, content_type="application/x-www-form-urlencoded"
    )
    assert res.status_code == 400 and "nested too deeply" in res.json()["error"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2, 3], "must be a JSON object"),
        ("just a string", "must be a JSON object"),
        (None, "must be a JSON object"),
        ({"ref": "refs/heads/\ud800", "after": HEAD}, "not valid text"),
        ({"ref": "refs/heads/a\x00b", "after": HEAD}, "NUL"),
        ({"ref": ["refs/heads/main"], "after": HEAD}, "must be a non-empty string"),
    ],
)
def test_malformed_push_payloads_are_400(serve: Serve, payload: Any, message: str) -> None:
    base = _push()
    if isinstance(payload, dict):
        base.update(payload)
        payload = base
    res = _deliver(serve(), payload)
    assert res.status_code == 400 and message in res.json()["error"], res.text
    assert _queued() == 0


def test_malformed_pull_request_payloads_are_400(serve: Serve) -> None:
    url = serve()
    pr = json.loads((DATA / "pull_request_opened.payload.json").read_text())
    pr["pull_request"]["head"] = ["not", "an", "object"]
    res = _deliver(url, pr, event="pull_request")
    assert res.status_code == 400
    res = _deliver(url, [pr], event="pull_request")
    assert res.status_code == 400 and "must be a JSON object" in res.json()["error"]
    assert _queued() == 0


def test_form_payload_that_is_not_utf8_is_400(serve: Serve) -> None:
    res = _deliver(serve(), b"payload=\xff\xfe", content_type="application/x-www-form-urlencoded")
    assert res.status_code == 400 and _queued() == 0


def test_a_branch_name_that_is_not_utf8_is_queued_with_its_bytes(serve: Serve) -> None:
    # git accepts refs/heads/lat\xe9n; a forge that passes the bytes on sends them
    # surrogate-escaped. The job keeps the exact bytes (its lane).
    payload = _push()
    payload["ref"] = "refs/heads/lat\udce9n"
    res = _deliver(serve(), payload)
    assert res.status_code == 202, res.text
    (job,) = Queue().jobs()
    assert job.spec.lane == b"refs/heads/lat\xe9n"


# -- fuzz: random bodies and headers --------------------------------------------------------


def _mutate(rng: Any, node: Any, depth: int = 0) -> Any:
    """A random variant of a payload: fields replaced by hostile values of any type."""
    hostile: list[Any] = [
        None,
        True,
        -1,
        2**70,
        1.5e308,
        "",
        "x" * 5000,
        "\udce9",
        "\ud800",
        "a\x00b",
        "../../etc",
        "--upload-pack=id",
        "file:///etc",
        "ext::sh",
        "http://169.254.169.254/",
        [],
        {},
        [[[[[]]]]],
        "0" * 40,
        HEAD,
        "refs/heads/main",
        "refs/pull/1/head",
    ]
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            roll = rng.random()
            if roll < 0.05:
                continue
            out[key] = rng.choice(hostile) if roll < 0.15 else _mutate(rng, value, depth + 1)
        return out
    if isinstance(node, list):
        return [_mutate(rng, v, depth + 1) for v in node[:5]]
    return rng.choice(hostile) if rng.random() < 0.1 else node


def test_fuzzed_deliveries_never_give_a_500_and_unsigned_ones_never_queue(
    plog_home: Path,
) -> None:
    import random

    rng = random.Random(15)
    app = create_app({"WEBHOOK_SECRET": SECRET, "MAX_BODY": 1024 * 1024})
    client = app.test_client()
    samples = [
        _push(),
        json.loads((DATA / "pull_request_opened.payload.json").read_text()),
        json.loads((DATA / "pull_request_synchronize.payload.json").read_text()),
    ]
    events = ["push", "pull_request", "ping", "star", "", "push\x00", "é"]
    statuses: dict[int, int] = {}
    try:
        for i in range(1500):
            payload = _mutate(rng, rng.choice(samples))
            body = json.dumps(payload).encode()
            if rng.random() < 0.1:
                body = body[: rng.randrange(len(body) + 1)]  # truncated
            if rng.random() < 0.05:
                body = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            signed = rng.random() < 0.7
            headers = {
                "X-GitHub-Event" if rng.random() < 0.7 else "X-Gitea-Event": rng.choice(events),
                "X-GitHub-Delivery": f"fuzz-{i}",
                "Content-Type": rng.choice(
                    ["application/json", "application/x-www-form-urlencoded", "text/plain"]
                ),
            }
            if signed:
                headers["X-Hub-Signature-256"] = _sign(body)
                headers["X-Gitea-Signature"] = _sign(body).removeprefix("sha256=")
            elif rng.random() < 0.5:
                headers["X-Hub-Signature-256"] = f"sha256={rng.getrandbits(256):064x}"
            before = _queued()
            res = client.post("/webhook", data=body, headers=headers)
            statuses[res.status_code] = statuses.get(res.status_code, 0) + 1
            assert res.status_code < 500, (i, res.status_code, body[:200])
            if not signed:
                assert res.status_code in (400, 401) and _queued() == before, i
    finally:
        app.extensions["plog_intake"].close()
    assert statuses.get(401, 0) > 0 and statuses.get(400, 0) > 0


def test_plog_serve_runs_on_waitress_and_ends_on_sigterm_with_130(plog_home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "plog_ci", "serve", "--port", "0"],
        env={**os.environ, "PLOG_WEBHOOK_SECRET": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "plog serve: listening on http://127.0.0.1:PORT"
        url = line.rsplit(" ", 1)[-1].strip()
        assert line.startswith("plog serve: listening on http://127.0.0.1:"), line
        res = httpx.get(f"{url}/healthz", timeout=5)
        assert res.status_code == 200
        assert res.headers["server"] == "plog"  # waitress with its ident, not werkzeug
        # A port in use is a clear error (exit 2), not a traceback or exit 1.
        port = url.rsplit(":", 1)[1]
        busy = _plog("serve", "--port", port)
        assert busy.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr and "--port" in busy.stderr
    finally:
        proc.terminate()
        code = proc.wait(timeout=15)
    assert code == 130
