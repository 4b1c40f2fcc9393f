"""A real results store and queue in the test's PLOG_HOME, and the app over them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from plog_ci.store.sqlite import ResultsStore, open_store
from plog_ci.web import create_app

SECRET = "dashboard-test-secret"


@pytest.fixture
def store(plog_home: Path) -> Iterator[ResultsStore]:
    s = open_store(plog_home)
    yield s
    s.close()


def add_run(
    store: ResultsStore,
    *,
    repo: str = "/srv/shop",
    branch: str | None = "main",
    sha: str = "0123456789abcdef0123456789abcdef01234567",
    status: str = "pass",
    verdict: dict[str, Any] | None = None,
    finished: bool = True,
) -> int:
    """One run written the way the pipeline writes it (start_run, then finish_run)."""
    run_id = store.start_run(
        repo=repo,
        commit_sha=sha,
        parent=None,
        base_sha=None,
        branch=branch,
        profile="smoke",
        config_hash="c" * 64,
        spec_hash=None,
        environment={},
    )
    if finished:
        store.finish_run(run_id, status, verdict or {"status": status, "reason": "ok"}, None)
    return run_id


@pytest.fixture
def make_app(plog_home: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = create_app({"WEBHOOK_SECRET": SECRET, "PLOG_HOME": str(plog_home), **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["plog_intake"].close()
