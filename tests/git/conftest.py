"""Fixtures for the git side: real bare repositories, real pushes, real HTTP servers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

VALID_PLOG = b"version: 1\nservice:\n  run: python app.py\nopenapi: openapi.yaml\n"
INVALID_PLOG = b"version: 1\nservice:\n  runx: python app.py\nopenapi: openapi.yaml\n"
DATA = Path(__file__).resolve().parent.parent / "data" / "webhooks" / "github"


@pytest.fixture
def plog_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "plog-home"
    monkeypatch.setenv("PLOG_HOME", str(home))
    return home


def _git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        PLOG_HOME=str(home),
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(home.parent),
    )
    return env


@dataclass
class GitSetup:
    """A bare 'server' repository and a work tree that pushes to it."""

    bare: Path
    work: Path
    home: Path

    def git(
        self, *args: str | bytes, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or self.work,
            env=_git_env(self.home),
            capture_output=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"git {args!r} failed: {result.stdout.decode(errors='replace')}"
                f"{result.stderr.decode(errors='replace')}"
            )
        return result

    def commit(self, message: str, plog: bytes | None = VALID_PLOG, extra: str = "") -> str:
        if plog is not None:
            (self.work / "plog.yml").write_bytes(plog)
        (self.work / "app.py").write_text(f"# {message}\n{extra}")
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.decode().strip()

    def push(
        self, *refspecs: str | bytes, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return self.git("push", str(self.bare), *refspecs, check=check)

    def bare_git(
        self, *args: str | bytes, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return self.git(*args, cwd=self.bare, check=check)


@pytest.fixture
def git_setup(tmp_path: Path, plog_home: Path) -> GitSetup:
    bare = tmp_path / "server.git"
    work = tmp_path / "work"
    setup = GitSetup(bare, work, plog_home)
    plog_home.mkdir(parents=True, exist_ok=True)
    setup.git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    setup.git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    return setup


@dataclass
class Served:
    url: str
    app: object


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


def python_worker_cmd(code: str) -> Sequence[str]:
    return [sys.executable, "-c", code]
