"""Shared fixtures: real git repositories in tmp dirs, an isolated PLOG_HOME, and the
lock that keeps timing tests alone among the load tests when the suite runs on both
cores (pytest-xdist)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testing.paths import EXAMPLE
from testing.repos import FAST_PLOG_YML, commit_files, git


@pytest.fixture(autouse=True)
def plog_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "plog-home"
    monkeypatch.setenv("PLOG_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _load_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under xdist, a ``timing`` test (its assertions read latencies of real load)
    holds the run's lock exclusively and a ``slow`` test (real load, servers) holds it
    shared: timing tests never share the machine with another load, the rest run
    side by side. Serial runs take no lock."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    node = request.node
    exclusive = node.get_closest_marker("timing") is not None
    if not run or not (exclusive or node.get_closest_marker("slow") is not None):
        yield
        return
    with open(Path("/tmp") / f"plog-pytest-{run}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
