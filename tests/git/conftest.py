"""Fixtures for the git side: real bare repositories, real pushes, real HTTP servers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from testing.git_server import GitSetup
from testing.servers import Served


@pytest.fixture
def plog_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "plog-home"
    monkeypatch.setenv("PLOG_HOME", str(home))
    return home


@pytest.fixture
def git_setup(tmp_path: Path, plog_home: Path) -> GitSetup:
    bare = tmp_path / "server.git"
    work = tmp_path / "work"
    setup = GitSetup(bare, work, plog_home)
    plog_home.mkdir(parents=True, exist_ok=True)
    setup.git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    setup.git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    return setup


@pytest.fixture
def serve_app() -> Iterator[Callable[[object], Served]]:
    """Serve a WSGI app on 127.0.0.1 (a real HTTP server, threaded) for one test."""
    servers = []

    def start(app: object) -> Served:
        server = make_server("127.0.0.1", 0, app, threaded=True)  # type: ignore[arg-type]
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return Served(f"http://127.0.0.1:{server.server_port}", app)

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(timeout=5)
