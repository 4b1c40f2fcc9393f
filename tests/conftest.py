"""Shared fixtures: real git repositories in tmp dirs, an isolated PLOG_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "petstore"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "PLog Test",
    "GIT_AUTHOR_EMAIL": "test@plog.invalid",
    "GIT_COMMITTER_NAME": "PLog Test",
    "GIT_COMMITTER_EMAIL": "test@plog.invalid",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def commit_files(repo: Path, files: dict[str, str | bytes], message: str = "change") -> str:
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def require_server(binary: str, reason: str) -> str:
    """Path of ``binary``; skip when missing, but fail under CI=true (CI must run it all)."""
    found = shutil.which(binary) or (
        f"/usr/bin/{binary}" if Path(f"/usr/bin/{binary}").exists() else None
    )
    if found:
        return found
    message = f"{binary} is not installed: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: missing servers are failures)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def plog_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "plog-home"
    monkeypatch.setenv("PLOG_HOME", str(home))
    return home


@pytest.fixture
def new_repo(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "repo") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch=main")
        return repo

    return make


FAST_PLOG_YML = """\
version: 1
service:
  run: python app.py --port {port}
  health: /health
  startup_timeout: 20s
openapi: openapi.yaml
load:
  rate: 10
  vus: 4
  duration: 2s
  operations: all
gates:
  - p95 < 2s
  - error_rate < 1%
compare:
  blocks: 2
"""


@pytest.fixture
def petstore_repo(new_repo: Callable[..., Path]) -> Path:
    """The example service committed with a short load test (2 s)."""
    repo = new_repo("petstore")
    files: dict[str, str | bytes] = {
        "app.py": (EXAMPLE / "app.py").read_text(encoding="utf-8"),
        "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8"),
        "plog.yml": FAST_PLOG_YML,
    }
    commit_files(repo, files, "petstore")
    return repo
