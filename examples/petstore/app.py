"""Petstore: a small real web API that PLog's demo and tests load-test.

Run it with ``python app.py --port 8080``. Pets live in SQLite (in memory),
so a commit can change how fast a handler is by changing its query.
"""

from __future__ import annotations

import argparse
import sqlite3
import threading
from collections.abc import Callable, Iterable
from time import perf_counter, sleep
from typing import Any

from flask import Flask, jsonify, request

SEED_PETS = 500

# Benchmark knob (bench/verdict_quality.py commits changes to these lines): every
# request of SLOW_OPERATION waits SLOWDOWN x NORMAL_MS more, NORMAL_MS being that
# operation's normal latency as the client sees it (the bench measures its p95),
# e.g. "GET /pets", 0.25 and 6.0 for +25% on a 6 ms p95. Without NORMAL_MS the
# wait is SLOWDOWN x the request's own handling time in Flask, which is only part
# of what the client sees. SLOW_KIND "sleep" waits without the CPU (like slow I/O,
# and beside a busy core much of the wait hides in the wait for the CPU); "cpu"
# spins for the time, holding the CPU and the GIL (like slower code). Off by default.
SLOW_OPERATION = ""
SLOWDOWN = 0.0
NORMAL_MS = 0.0
SLOW_KIND = "sleep"


def create_app() -> Flask:
    app = Flask(__name__)
    db = sqlite3.connect(":memory:", check_same_thread=False)
    lock = threading.Lock()
    db.execute("CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT NOT NULL, tag TEXT)")
    db.executemany(
        "INSERT INTO pets (name, tag) VALUES (?, ?)",
        [(f"pet-{i}", "dog" if i % 2 else "cat") for i in range(1, SEED_PETS + 1)],
    )
    db.commit()

    def row_to_pet(row: tuple[int, str, str | None]) -> dict[str, object]:
        pet: dict[str, object] = {"id": row[0], "name": row[1]}
        if row[2] is not None:
            pet["tag"] = row[2]
        return pet

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify(status="ok")

    @app.get("/pets")
    def list_pets():  # type: ignore[no-untyped-def]
        try:
            limit = int(request.args.get("limit", "20"))
        except ValueError:
            return jsonify(code=400, message="limit must be an integer"), 400
        if not 1 <= limit <= 100:
            return jsonify(code=400, message="limit must be between 1 and 100"), 400
        with lock:
            rows = db.execute("SELECT id, name, tag FROM pets ORDER BY id LIMIT ?", (limit,))
            return jsonify([row_to_pet(r) for r in rows.fetchall()])

    @app.get("/pets/<int:pet_id>")
    def show_pet(pet_id: int):  # type: ignore[no-untyped-def]
        with lock:
            row = db.execute("SELECT id, name, tag FROM pets WHERE id = ?", (pet_id,)).fetchone()
        if row is None:
            return jsonify(code=404, message=f"no pet {pet_id}"), 404
        return jsonify(row_to_pet(row))

    @app.post("/pets")
    def create_pet():  # type: ignore[no-untyped-def]
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            return jsonify(code=400, message="body must be JSON with a non-empty 'name'"), 400
        tag = body.get("tag")
        if tag is not None and not isinstance(tag, str):
            return jsonify(code=400, message="'tag' must be a string"), 400
        with lock:
            cur = db.execute("INSERT INTO pets (name, tag) VALUES (?, ?)", (body["name"], tag))
            db.commit()
            pet_id = cur.lastrowid
        return jsonify(row_to_pet((int(pet_id or 0), body["name"], tag))), 201

    if SLOWDOWN > 0 and SLOW_OPERATION:
        app.wsgi_app = _slowed(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _slowed(inner: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    method, _, path = SLOW_OPERATION.partition(" ")

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = perf_counter()
        body = inner(environ, start_response)
        if environ.get("REQUEST_METHOD") == method and environ.get("PATH_INFO") == path:
            # The server sends the status line with the first body chunk, so the
            # client sees this delay.
            normal_s = NORMAL_MS / 1000 if NORMAL_MS > 0 else perf_counter() - started
            if SLOW_KIND == "cpu":
                _spin(normal_s * SLOWDOWN)
            else:
                sleep(normal_s * SLOWDOWN)
        return body

    return wsgi


def _spin(seconds: float) -> None:
    """Busy for ``seconds`` of wall time: the slowdown of code that got slower."""
    end = perf_counter() + seconds
    while perf_counter() < end:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    create_app().run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
