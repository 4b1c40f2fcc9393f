"""The dashboard is safe by default (issue 18, item 6): security headers on every
response, read-only routes, and a token beyond loopback, while the webhook goes on
working as before."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from flask import Flask

from plog_ci.commands.serve import is_loopback
from plog_ci.queue import JobSpec, Queue
from plog_ci.store.sqlite import ResultsStore
from tests.web.conftest import SECRET, add_run

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-dashboard-token"
PAGES = (
    "/",
    "/runs",
    "/api/runs",
    "/dashboard.css",
    "/runs/1",
    "/api/runs/1",
    "/api/runs/1/points",
    "/runs/1/events",
    "/jobs/1",
    "/history",
    "/compare?a=1&b=2",
    "/static/run.js",
)


def assert_secure(res: object) -> None:
    headers = res.headers  # type: ignore[attr-defined]
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"


def test_every_dashboard_response_carries_the_security_headers(
    store: ResultsStore, plog_home: Path, make_app: Callable[..., Flask]
) -> None:
    add_run(store)
    add_run(store)  # /compare?a=1&b=2
    Queue(plog_home).enqueue(JobSpec(repo="org/shop", head="a" * 40, branch="main"))
    client = make_app().test_client()
    for path in PAGES:
        res = client.get(path)
        assert res.status_code == 200, path
        assert_secure(res)
        head = client.head(path)
        assert head.status_code == 200 and head.data == b""
        assert_secure(head)
    for res in (client.get("/?limit=0"), client.post("/"), client.get("/nope")):
        assert res.status_code in (400, 404, 405)
        assert_secure(res)


def test_no_inline_script_or_style_in_the_page(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    add_run(store)
    page = make_app().test_client().get("/").get_data(as_text=True)
    assert "<script" not in page and "<style" not in page and " style=" not in page
    assert " on" not in page.replace(" one", "")  # no onclick= and the like


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_dashboard_is_read_only(
    method: str, store: ResultsStore, make_app: Callable[..., Flask], plog_home: Path
) -> None:
    run_id = add_run(store)
    before = (plog_home / "results.sqlite3").stat().st_mtime_ns
    client = make_app().test_client()
    for path in PAGES:
        res = client.open(path, method=method, data={"status": "fail"})
        assert res.status_code == 405, (method, path)
        assert set(res.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
        assert "POST" not in res.headers["Allow"]
    assert store.get_run(run_id).status == "pass"
    assert (plog_home / "results.sqlite3").stat().st_mtime_ns == before


def basic(password: str, user: str = "me") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_beyond_loopback_without_a_token_every_page_is_401_and_says_what_to_set(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(DASHBOARD_REQUIRE_TOKEN=True).test_client()
    for path in PAGES:
        res = client.get(path, headers={"Authorization": "Bearer anything"})
        assert res.status_code == 401, path
        assert "PLOG_DASHBOARD_TOKEN" in res.get_json()["error"]
        # No token is set, so no password can work: the browser is not asked for one.
        assert "WWW-Authenticate" not in res.headers
        assert_secure(res)
    assert client.get("/healthz").status_code == 200


def test_a_token_is_checked_as_bearer_or_basic_password(make_app: Callable[..., Flask]) -> None:
    client = make_app(DASHBOARD_TOKEN=TOKEN, DASHBOARD_REQUIRE_TOKEN=True).test_client()
    wrong = [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Token {TOKEN}"},
        {"Authorization": basic(TOKEN[:-1])},
        {"Authorization": "Basic !!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(TOKEN.encode()).decode()},  # no ':'
        {"Authorization": basic("", user=TOKEN)},  # the token as the user name
    ]
    for headers in wrong:
        res = client.get("/api/runs", headers=headers)
        assert res.status_code == 401, headers
        assert "token missing or wrong" in res.get_json()["error"]
        assert res.headers["WWW-Authenticate"].startswith("Basic ")  # the browser asks
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"Authorization": basic(TOKEN)}):
        assert client.get("/api/runs", headers=headers).status_code == 200
    assert client.get(f"/api/runs?token={TOKEN}").status_code == 401  # never in a URL
    # A token set on loopback is required too.
    local = make_app(DASHBOARD_TOKEN=TOKEN).test_client()
    assert local.get("/").status_code == 401
    assert local.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_webhook_needs_no_dashboard_token(make_app: Callable[..., Flask]) -> None:
    client = make_app(DASHBOARD_REQUIRE_TOKEN=True).test_client()
    body = json.dumps({"zen": "Keep it logically awesome."}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    res = client.post(
        "/webhook",
        data=body,
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": sig,
            "Content-Type": "application/json",
        },
    )
    assert res.status_code == 200 and res.get_json() == {"ok": True, "pong": True}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("ci.example.com", False),
    ],
)
def test_which_binds_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_plog_serve_beyond_loopback_guards_the_dashboard(plog_home: Path) -> None:
    """``plog serve --host 0.0.0.0``: without PLOG_DASHBOARD_TOKEN it says so at start and
    the pages are 401; the webhook's health check answers; with the token, the pages open."""
    env = {k: v for k, v in os.environ.items() if k != "PLOG_DASHBOARD_TOKEN"}
    env["PLOG_WEBHOOK_SECRET"] = SECRET
    for token in (None, TOKEN):
        if token:
            env["PLOG_DASHBOARD_TOKEN"] = token
        proc = subprocess.Popen(
            [sys.executable, "-m", "plog_ci", "serve", "--host", "0.0.0.0", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line.startswith("plog serve: listening on http://0.0.0.0:"), line
            url = "http://127.0.0.1:" + line.rsplit(":", 1)[1].strip()
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            res = httpx.get(f"{url}/", timeout=5)
            assert res.status_code == 401
            if token is None:
                assert "dashboard off" in proc.stderr.readline()
            else:
                auth = {"Authorization": f"Bearer {token}"}
                assert httpx.get(f"{url}/", headers=auth, timeout=5).status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=15)
