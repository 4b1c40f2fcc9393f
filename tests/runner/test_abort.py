"""A test that k6 stops early reads as aborted, never as a complete one (issue 17, item 4).

A real service that fails every request drives the error rate over the
threshold that always aborts (``abortOnFail`` after 5 s); the real ``plog run``
must report the time k6 really ran and why it stopped, in the report, the
stored verdict and the terminal, and compute rates over that time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from plog_ci.runner.k6 import aborted_reason
from plog_ci.store.sqlite import open_store
from testing.k6_tools import need_k6
from testing.repos import commit_files, plog_run

APP = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/health"
        self.send_response(200 if ok else 500)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"no")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

SPEC = """\
openapi: 3.0.3
info: {title: broken, version: "1"}
paths:
  /items:
    get:
      responses: {"200": {description: ok}}
"""

PLOG_YML = """\
version: 1
service:
  run: python app.py {port}
  health: /health
openapi: openapi.yaml
load:
  rate: 10
  duration: 20s
  operations: all
gates:
  - p95 < 2s
compare:
  mode: "off"
"""


def test_k6s_abort_message_is_recognised() -> None:
    log = (
        'time="2026-11-29T21:33:06Z" level=error msg="thresholds on metrics '
        "'http_req_failed' were crossed; at least one has abortOnFail enabled, "
        'stopping test prematurely"'
    )
    assert aborted_reason(99, log) == (
        "a threshold on http_req_failed was crossed (abortOnFail): k6 stopped the test early"
    )
    assert aborted_reason(0, log) is None  # only a threshold exit (99) is an abort
    assert aborted_reason(99, "thresholds crossed at the end") is None


def test_an_aborted_test_is_reported_as_aborted(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("broken")
    commit_files(repo, {"app.py": APP, "openapi.yaml": SPEC, "plog.yml": PLOG_YML}, "broken")
    done = plog_run(repo, plog_home)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out  # the error rate fails the run
    assert "FAIL" in out and "the load test was aborted after" in out
    store = open_store(plog_home)
    try:
        record = store.get_run(1)
    finally:
        store.close()
    verdict = record.verdict or {}
    aborted = verdict["aborted"]
    assert "abortOnFail" in aborted["reason"]
    assert 4.0 <= aborted["after_s"] < 15.0, aborted  # stopped about 5 s in, not at 20 s
    report = Path(str(record.report_path)).read_text(encoding="utf-8")
    found = re.search(r"\*\*aborted\*\* after ([0-9.]+) s of 20\.0 s: a threshold", report)
    assert found is not None, report
    assert float(found.group(1)) == aborted["after_s"]


def test_k6_past_its_hard_cap_is_stopped_and_what_it_measured_stands(tmp_path: Path) -> None:
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from plog_ci.config.model import LoadConfig
    from plog_ci.loadgen.script import generate
    from plog_ci.openapi.load import load_spec_bytes
    from plog_ci.runner.k6 import run_k6

    need_k6()

    class Stalls(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(30)  # every request outlives the test

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stalls)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = load_spec_bytes(SPEC.encode(), "openapi.yaml")
        script = generate(spec, list(spec.operations.values()), LoadConfig(rate=5, duration_s=2))
        started = time.monotonic()
        result = run_k6(
            script, f"http://127.0.0.1:{server.server_address[1]}", tmp_path, timeout_s=4.0
        )
        assert time.monotonic() - started < 20  # stopped at the cap, not at the timeouts
    finally:
        server.shutdown()
    assert result.aborted is not None and "hard cap of 4s" in result.aborted
    assert result.duration_s == 2.0  # rates over the test asked for, no more
