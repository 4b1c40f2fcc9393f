"""A fake GitHub / Gitea API that checks each request against the documented endpoints.

Only these exist (anything else is a 404, a bad body a 422, so a client bug
fails the test):

GitHub REST (2022-11-28)                         Gitea API v1 (prefix /api/v1)
POST  /repos/{o}/{r}/statuses/{sha}              same path
GET   /repos/{o}/{r}/issues/{n}/comments         same path
POST  /repos/{o}/{r}/issues/{n}/comments         same path
PATCH /repos/{o}/{r}/issues/comments/{id}        same path

Status body: state (GitHub: error|failure|pending|success; Gitea also
warning), target_url, description (GitHub: at most 140 characters), context.
Comment body: {"body": str} (GitHub: at most 65,536 characters).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, jsonify, request

TOKEN = "ghp_s3cretTOKENvalue"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def make_fake(flavor: str) -> Flask:
    app = Flask(f"fake-{flavor}")
    prefix = "/api/v1" if flavor == "gitea" else ""
    auth = f"token {TOKEN}" if flavor == "gitea" else f"Bearer {TOKEN}"
    states = {"error", "failure", "pending", "success"} | (
        {"warning"} if flavor == "gitea" else set()
    )
    calls: list[tuple[str, str, Any]] = []
    script: list[tuple[int, dict[str, str]]] = []  # (status, headers) answered first
    app.config["calls"] = calls
    app.config["script"] = script
    comments: dict[int, list[dict[str, Any]]] = {}
    next_id = [100]

    def problem(status: int, message: str) -> tuple[Response, int]:
        return jsonify({"message": message}), status

    @app.before_request
    def gate() -> Any:
        calls.append((request.method, request.path, request.get_json(silent=True)))
        if request.headers.get("Authorization") != auth:
            # Echo what we got: the client must not leak it into its errors.
            return problem(401, f"Bad credentials: {request.headers.get('Authorization')}")
        if script:
            status, headers = script.pop(0)
            resp = jsonify({"message": "scripted failure"})
            resp.status_code = status
            resp.headers.update(headers)
            return resp
        return None

    def body_dict(allowed: set[str], required: set[str]) -> dict[str, Any] | None:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not required <= set(data) or not set(data) <= allowed:
            return None
        return data

    @app.post(f"{prefix}/repos/<owner>/<repo>/statuses/<sha>")
    def status(owner: str, repo: str, sha: str) -> tuple[Response, int]:
        data = body_dict({"state", "target_url", "description", "context"}, {"state"})
        if data is None or not _SHA.match(sha) or data["state"] not in states:
            return problem(422, "Validation Failed")
        if flavor == "github" and len(data.get("description") or "") > 140:
            return problem(422, "description is too long (maximum is 140 characters)")
        return jsonify({"id": 1, **data}), 201

    @app.get(f"{prefix}/repos/<owner>/<repo>/issues/<int:number>/comments")
    def list_comments(owner: str, repo: str, number: int) -> tuple[Response, int]:
        items = comments.get(number, [])
        if flavor == "github":
            per_page = int(request.args.get("per_page", 30))
            page = int(request.args.get("page", 1))
            if not 1 <= per_page <= 100:
                return problem(422, "per_page")
            items = items[(page - 1) * per_page : page * per_page]
        return jsonify(items), 200

    @app.post(f"{prefix}/repos/<owner>/<repo>/issues/<int:number>/comments")
    def create_comment(owner: str, repo: str, number: int) -> tuple[Response, int]:
        data = body_dict({"body"}, {"body"})
        if data is None or not isinstance(data["body"], str):
            return problem(422, "Validation Failed")
        if flavor == "github" and len(data["body"]) > 65536:
            return problem(422, "body is too long (maximum is 65536 characters)")
        next_id[0] += 1
        item = {"id": next_id[0], "body": data["body"]}
        comments.setdefault(number, []).append(item)
        return jsonify(item), 201

    @app.patch(f"{prefix}/repos/<owner>/<repo>/issues/comments/<int:cid>")
    def edit_comment(owner: str, repo: str, cid: int) -> tuple[Response, int]:
        data = body_dict({"body"}, {"body"})
        if data is None or not isinstance(data["body"], str):
            return problem(422, "Validation Failed")
        if flavor == "github" and len(data["body"]) > 65536:
            return problem(422, "body is too long (maximum is 65536 characters)")
        for items in comments.values():
            for item in items:
                if item["id"] == cid:
                    item["body"] = data["body"]
                    return jsonify(item), 200
        return problem(404, "Not Found")

    app.config["comments"] = comments
    return app


class ConnectionRecorder:
    """A TCP listener on 127.0.0.1 that records every connection made to it and closes it.

    It stands for an address PLog must never reach (the metadata service, an
    internal host): a test asserts ``connections == 0``. Use it as a context
    manager; it stops itself on exit (and its thread is a daemon).
    """

    def __init__(self) -> None:
        import socket
        import threading

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="conn-recorder", daemon=True)

    def __enter__(self) -> ConnectionRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def redirect_app(location: str) -> Any:
    """A WSGI app that answers every request with a 302 to ``location`` (a forge that
    redirects git to an address PLog must not reach)."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("302 Found", [("Location", location), ("Content-Length", "0")])
        return [b""]

    return app
