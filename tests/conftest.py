"""Shared fixtures: real git repositories in tmp dirs, an isolated PLOG_HOME."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from testing.paths import EXAMPLE
from testing.repos import FAST_PLOG_YML, commit_files, git


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
