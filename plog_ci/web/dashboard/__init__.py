"""The dashboard: server-rendered, read-only pages over the results store and the queue.

``dashboard_blueprint(home, token=..., require_token=...)`` is registered by
``plog_ci.web.create_app``. Routes (GET and HEAD only; anything else is 405):

=================  ==========================================================
``/``, ``/runs``   the runs list (HTML): filters ``repo``, ``branch``,
                   ``status``; ``before`` (a run id) and ``limit`` page it
``/api/runs``      the same as JSON (``RunsView.to_json``)
``/dashboard.css`` the stylesheet (no inline style or script anywhere)
=================  ==========================================================

Safe by default (issue 18, item 6):

* every response of the app carries ``Content-Security-Policy: default-src 'self'``
  (no ``'unsafe-inline'``; ``frame-ancestors 'none'``), ``X-Content-Type-Options:
  nosniff``, ``Referrer-Policy: no-referrer`` and ``X-Frame-Options: DENY``;
* a token is needed when one is set (``PLOG_DASHBOARD_TOKEN``) or when the server
  listens beyond loopback (``require_token``). It is sent as ``Authorization:
  Bearer <token>`` or as the password of HTTP Basic authentication (any user
  name; browsers ask for it), compared in constant time (``hmac.compare_digest``).
  A non-loopback server without a token answers every dashboard request 401 with
  what to set: the webhook goes on working, the dashboard shows nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from pathlib import Path

from flask import Blueprint, Response, jsonify, request

from plog_ci.templating import render
from plog_ci.web.dashboard import history, job_page, run_page, static_files
from plog_ci.web.dashboard.runs import STATUSES, BadQuery, RunsView, parse_filter, runs_view

TOKEN_ENV = "PLOG_DASHBOARD_TOKEN"  # noqa: S105 - the variable's name, not a token
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
HTML = "text/html; charset=utf-8"


def secure_headers(response: Response) -> Response:
    """Add ``SECURITY_HEADERS`` (those not already set) to ``response``."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def presented_token() -> bytes | None:
    """The token the request carries (Bearer, or Basic's password), as bytes."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value.encode("utf-8", "surrogateescape")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(b":")[2]
    return None


def _refused(message: str, *, ask: bool = True) -> Response:
    """401 with ``message``; ``ask``: invite the browser's login prompt (only when a
    token is set: with none, no password can work)."""
    response = jsonify({"error": message})
    response.status_code = 401
    if ask:
        response.headers["WWW-Authenticate"] = 'Basic realm="plog dashboard", charset="UTF-8"'
    return response


def dashboard_blueprint(
    home: Path, *, token: str | None, require_token: bool, max_streams: int = run_page.MAX_STREAMS
) -> Blueprint:
    """The dashboard over ``home`` (the results store and queue of ``$PLOG_HOME``).

    ``token``: the dashboard's token (None or empty: none set); ``require_token``:
    the server listens beyond loopback, so a token is needed even if none is set;
    ``max_streams``: live streams open at once at most (``run_page``).
    """
    bp = Blueprint("dashboard", __name__)
    key = token.encode("utf-8") if token else None

    @bp.after_app_request
    def headers(response: Response) -> Response:
        return secure_headers(response)

    @bp.before_request
    def authorise() -> Response | None:
        if key is None and not require_token:
            return None
        if key is None:
            return _refused(
                f"the dashboard needs a token on a server that listens beyond loopback: "
                f"set {TOKEN_ENV} and restart plog serve, or serve on 127.0.0.1 behind a "
                "reverse proxy that does the login",
                ask=False,
            )
        given = presented_token()
        if given is None or not hmac.compare_digest(given, key):
            return _refused(
                f"token missing or wrong: send {TOKEN_ENV}'s value as 'Authorization: "
                "Bearer <token>' or as the password of HTTP Basic authentication"
            )
        return None

    def view() -> RunsView | str:
        """The runs list the query asks for, or what is wrong with the query."""
        try:
            return runs_view(home, parse_filter(request.args))
        except BadQuery as exc:
            return str(exc)

    @bp.get("/")
    @bp.get("/runs")
    def runs_page() -> Response:
        found = view()
        if isinstance(found, str):
            body = render("dashboard/error.html.j2", message=found)
            return Response(body, status=400, content_type=HTML)
        body = render("dashboard/runs.html.j2", view=found, statuses=STATUSES)
        return Response(body, content_type=HTML)

    @bp.get("/api/runs")
    def runs_api() -> tuple[Response, int]:
        found = view()
        if isinstance(found, str):
            return jsonify({"error": found}), 400
        return jsonify(found.to_json()), 200

    @bp.get("/dashboard.css")
    def stylesheet() -> Response:
        body = render("dashboard/dashboard.css.j2")
        response = Response(body, content_type="text/css; charset=utf-8")
        response.headers["Cache-Control"] = "max-age=300"
        return response

    static_files.register(bp)
    job_page.register(bp)
    run_page.register(bp, home / "results.sqlite3", max_streams=max_streams)
    history.register(bp, home)
    return bp
