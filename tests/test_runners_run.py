"""``load.runners`` through the whole ``plog run`` (issue 21, item 3): N local k6
processes, each an execution segment, merged in one capture; the gates judged once,
on the whole; a runner that cannot keep the rate is a finding about the load
generator, not the service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plog_ci.store.sqlite import open_store
from testing.k6_tools import need_k6
from testing.repos import commit_files, plog_run

# Latencies of real load decide these tests: alone among load tests (tests/conftest.py).
pytestmark = pytest.mark.timing

# Answers after DELAY seconds, many at a time (a thread each): the service keeps up,
# the runners' few VUs cannot.
APP = r"""
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY = float(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/health":
            time.sleep(DELAY)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

SPEC = """\
openapi: 3.0.3
info: {title: items, version: "1"}
paths:
  /items:
    get:
      responses: {"200": {description: ok}}
"""


def _plog_yml(delay: float, rate: int, vus: int) -> str:
    return f"""\
version: 1
service:
  run: python app.py {{port}} {delay}
  health: /health
openapi: openapi.yaml
load:
  rate: {rate}
  vus: {vus}
  duration: 4s
  runners: 2
  operations: all
gates:
  - error_rate < 1%
compare:
  mode: "off"
"""


def _findings(home: Path) -> list[dict[str, object]]:
    store = open_store(home)
    try:
        (run,) = store.runs()
        return store.findings(run.id)
    finally:
        store.close()


@pytest.mark.slow
def test_two_runners_measure_the_whole_rate_and_pass(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("items")
    files = {"app.py": APP, "openapi.yaml": SPEC, "plog.yml": _plog_yml(0.0, 20, 4)}
    commit_files(repo, files, "items")
    done = plog_run(repo, plog_home)
    assert done.returncode == 0, done.stdout + done.stderr
    store = open_store(plog_home)
    try:
        (run,) = store.runs()
        record = store.get_run(run.id)
        stats = store.operation_stats(run.id)
        series = store.series(run.id, "GET /items")
    finally:
        store.close()
    assert record.status == "pass"
    # 20/s for 4 s from two segments of one test: about 80 requests, not 2 x 80.
    assert 60 <= stats["GET /items"].count <= 90, stats["GET /items"]
    # One point per second for both runners together: about 20/s, not 10/s twice as
    # many seconds (each runner's push was a point of its own).
    seconds = [p.second for p in series]
    assert len(seconds) == len(set(seconds)) and len(seconds) <= 6, seconds
    assert sum(p.count for p in series) == stats["GET /items"].count
    assert max(p.count for p in series) >= 15, [p.count for p in series]
    assert "load-generator" not in [f["kind"] for f in _findings(plog_home)]


@pytest.mark.slow
def test_runners_that_cannot_keep_the_rate_are_named_as_the_load_generators_limit(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("items")
    # 1 VU per runner, 0.5 s per answer: each runner sends ~2/s of its 10/s.
    files = {"app.py": APP, "openapi.yaml": SPEC, "plog.yml": _plog_yml(0.5, 20, 2)}
    commit_files(repo, files, "items")
    done = plog_run(repo, plog_home)
    assert done.returncode == 0, done.stdout + done.stderr
    found = [f for f in _findings(plog_home) if f["kind"] == "load-generator"]
    assert len(found) == 1, _findings(plog_home)
    assert "dropped" in str(found[0]["message"])
    assert "dropped" in done.stdout + done.stderr  # said while the run ended, too
