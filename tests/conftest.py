"""Shared fixtures: real git repositories in tmp dirs, an isolated PLOG_HOME, and the
lock that keeps timing tests alone among the load tests when the suite runs on both
cores (pytest-xdist)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testing.load_lock import load_lock
from testing.paths import EXAMPLE
from testing.repos import FAST_PLOG_YML, commit_files, git


@pytest.fixture(autouse=True)
def plog_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "plog-home"
    monkeypatch.setenv("PLOG_HOME", str(home))
    return home


# Fixtures whose tests load the CPU without being ``slow`` (a page in Chromium).
CPU_FIXTURES = frozenset({"tab"})


@pytest.fixture(autouse=True)
def _load_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """A ``timing`` test (its assertions read latencies of real load) holds the lock
    exclusively; a ``slow`` test or one using a CPU_FIXTURES fixture holds it shared.
    Module-scoped heavy fixtures take it themselves (``load_lock(False)``): they are
    set up before this one."""
    node = request.node
    exclusive = node.get_closest_marker("timing") is not None
    shared = node.get_closest_marker("slow") is not None or bool(
        CPU_FIXTURES.intersection(request.fixturenames)
    )
    if not (exclusive or shared):
        yield
        return
    with load_lock(exclusive):
        yield


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
