"""The Flask app: webhook receiver (and the job pages the statuses link to).

``create_app(config)`` keys:

===============  =============================================================
WEBHOOK_SECRET   required; the shared secret of the webhook (str or bytes)
WEBHOOK          False: the dashboard alone (no secret needed; ``/webhook``
                 answers 503); default True
PLOG_HOME        state directory (queue, spool); default ``$PLOG_HOME``
MAX_BODY         largest delivery in bytes (default 25 MiB, GitHub's own cap)
FORGE            ``github`` (default) or ``gitea``
FORGE_API_URL    API base URL for statuses (default: GitHub's; required for
                 Gitea); never derived from a payload
SOURCES          ``plog_ci.forge.sources.SourcePolicy``: the repositories the
                 worker may fetch (default: from ``PLOG_ALLOW_*``, else the
                 forge's own host)
DASHBOARD_TOKEN  the dashboard's token (default: none; see
                 ``plog_ci.web.dashboard``)
DASHBOARD_REQUIRE_TOKEN
                 True when the server listens beyond loopback: the dashboard
                 then answers 401 without the token (default False)
===============  =============================================================

The dashboard (``plog_ci.web.dashboard``: ``/``, ``/runs``, ``/api/runs``) reads the
results store and the queue of the same ``PLOG_HOME``; it changes nothing.

A delivery whose ``clone_url`` the policy refuses is answered 403 with the
reason, and nothing is queued. A body nested too deeply to parse is a 400.
Every error, the router's own (404, 405) included, is JSON: ``{"error": ...}``.

Every delivery is answered from the queue alone (one SQLite transaction), so
the forge gets its answer in milliseconds; the worker does the work.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from plog_ci.errors import InputError
from plog_ci.forge.sources import SourcePolicy, SourceRefused, api_url_allowed
from plog_ci.queue import Queue
from plog_ci.templating import render
from plog_ci.web import events, signature
from plog_ci.web.dashboard import dashboard_blueprint
from plog_ci.web.dashboard.negotiation import wants_page
from plog_ci.web.dashboard.run_page import MAX_STREAMS
from plog_ci.web.intake import Intake

DEFAULT_MAX_BODY = 25 * 1024 * 1024
log = logging.getLogger("plog.web")


def _header_bytes(name: str) -> bytes | None:
    # WSGI hands headers over as latin-1 strings: this gives back the wire bytes.
    value = request.environ.get("HTTP_" + name.upper().replace("-", "_"))
    return value.encode("latin-1") if isinstance(value, str) else None


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None when it is over ``limit`` (also for chunked bodies).

    Reads the stream itself instead of trusting MAX_CONTENT_LENGTH, which
    truncates chunked bodies silently in some Werkzeug versions.
    """
    length = request.content_length
    if length is not None and length > limit:
        return None
    stream = request.stream
    buf = bytearray()
    while True:
        chunk = stream.read(min(65536, limit + 1 - len(buf)))
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > limit:
            return None


def _provider() -> str | None:
    if request.headers.get("X-Gitea-Event") or request.headers.get("X-Forgejo-Event"):
        return "gitea"
    if request.headers.get("X-GitHub-Event"):
        return "github"
    return None


def _event(provider: str) -> str:
    if provider == "gitea":
        return request.headers.get("X-Gitea-Event") or request.headers.get("X-Forgejo-Event", "")
    return request.headers.get("X-GitHub-Event", "")


def _delivery(provider: str) -> str | None:
    names = (
        ("X-Gitea-Delivery", "X-Forgejo-Delivery", "X-GitHub-Delivery")
        if (provider == "gitea")
        else ("X-GitHub-Delivery",)
    )
    for name in names:
        value = request.headers.get(name)
        if value:
            return f"{provider}:{value[:200]}"
    return None


def _verified(provider: str, secret: bytes, body: bytes) -> bool:
    if provider == "gitea":
        header = _header_bytes("X-Gitea-Signature") or _header_bytes("X-Forgejo-Signature")
        if header is not None:
            return signature.verify_gitea(secret, body, header)
    return signature.verify_github(secret, body, _header_bytes("X-Hub-Signature-256"))


def _payload(body: bytes) -> Any:
    if request.mimetype == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        return json.loads(form.get("payload", [""])[0])
    return json.loads(body)


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def check_api_url(forge: str, api_url: str | None, policy: SourcePolicy) -> None:
    """Refuse a configuration that would send the token somewhere unsafe (exit 2)."""
    if forge not in ("github", "gitea"):
        raise InputError(f"unknown forge {forge!r}", hint="use 'github' or 'gitea'")
    if forge == "gitea" and not api_url:
        raise InputError(
            "--forge gitea needs --api-url (the Gitea API base, e.g. "
            "https://gitea.example.com/api/v1)",
            hint="the token is only ever sent to a configured API URL, never to a host "
            "a webhook payload names",
        )
    if api_url:
        why = api_url_allowed(api_url, allow_http_loopback=policy.allow_http_loopback)
        if why:
            raise InputError(f"--api-url {api_url!r} cannot be used: {why}")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = dict(config or {})
    secret = settings.get("WEBHOOK_SECRET")
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    webhook_on = settings.get("WEBHOOK", True) is not False
    if not webhook_on:
        secret = None
    elif not secret:
        raise InputError(
            "no webhook secret configured",
            hint="set PLOG_WEBHOOK_SECRET to the secret entered in the forge's webhook "
            "settings, or serve the dashboard alone with --no-webhook",
        )
    app = Flask("plog_ci.web", static_folder=None)  # /static/ is the dashboard's
    # The body limit is enforced in _read_body; Flask's own would truncate.
    app.config["MAX_CONTENT_LENGTH"] = None
    home = settings.get("PLOG_HOME")
    queue = Queue(Path(home) if home else None, busy_timeout_s=1.5)
    limit = int(settings.get("MAX_BODY") or DEFAULT_MAX_BODY)
    forge = str(settings.get("FORGE") or "github")
    sources = settings.get("SOURCES")
    if sources is None:
        sources = SourcePolicy.from_env()
    if not isinstance(sources, SourcePolicy):
        raise InputError("SOURCES must be a SourcePolicy")
    api_url: str | None = settings.get("FORGE_API_URL") or sources.api_url or None
    policy: SourcePolicy = sources.merged(api_url=api_url).with_forge_default(forge)
    check_api_url(forge, api_url, policy)
    key: bytes | None = secret or None
    intake = Intake(queue, wait_s=2.0)
    app.extensions["plog_queue"] = queue
    app.extensions["plog_intake"] = intake  # close() it when the server stops
    app.register_blueprint(
        dashboard_blueprint(
            queue.home,
            token=settings.get("DASHBOARD_TOKEN") or None,
            require_token=bool(settings.get("DASHBOARD_REQUIRE_TOKEN")),
            max_streams=int(settings.get("DASHBOARD_MAX_STREAMS") or MAX_STREAMS),
        )
    )

    @app.post("/webhook")
    def webhook() -> tuple[Response, int]:
        if key is None:
            return _error(503, "this server shows the dashboard only (plog serve --no-webhook)")
        body = _read_body(limit)
        if body is None:
            return _error(413, f"delivery larger than {limit} bytes")
        provider = _provider()
        if provider is None:
            return _error(400, "not a GitHub or Gitea delivery (no event header)")
        if not _verified(provider, key, body):
            return _error(401, "signature missing or wrong")
        event = _event(provider)
        if event == "ping":
            return jsonify({"ok": True, "pong": True}), 200
        if event not in ("push", "pull_request"):
            return jsonify({"ignored": f"event {event[:50]!r} needs no run"}), 202
        try:
            data = _payload(body)
            if event == "push":
                spec = events.from_push(provider, data, api_url=api_url)
            else:
                spec = events.from_pull_request(provider, data, api_url=api_url)
        except RecursionError:
            return _error(400, f"bad {event} payload: nested too deeply")
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"bad {event} payload: {str(exc)[:300]}")
        if isinstance(spec, events.Ignored):
            return jsonify({"ignored": spec.reason}), 202
        try:
            # A host that does not resolve now is left to the worker, which checks again.
            policy.check(spec.clone_url, resolve=True, unresolved_ok=True)
        except SourceRefused as exc:
            log.warning("delivery refused: %s", exc.message)
            return _error(403, f"refused: {exc.message}")
        found = intake.submit(spec, _delivery(provider))
        if isinstance(found, Path):
            log.warning("queue unavailable; delivery spooled as %s", found.name)
            return jsonify({"spooled": found.name}), 202
        return jsonify({"job": found.job_id, "created": found.created}), 202

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if wants_page():  # a browser on a dashboard path: the error as a page
            response = Response(
                render("dashboard/error.html.j2", heading=exc.name, message=exc.description),
                content_type="text/html; charset=utf-8",
            )
        else:
            response = jsonify({"error": exc.name})
        response.status_code = exc.code or 500
        for name, value in exc.get_headers():  # Allow, for a 405
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify({"ok": True}), 200

    return app
