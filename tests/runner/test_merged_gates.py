"""One verdict on the whole: N real k6 processes, one merged capture, gates judged once.

The service below is a real HTTP server on 127.0.0.1 that answers each request by
the execution segment of the k6 process that sent it: it looks the peer's socket
up among this machine's connections (psutil) and reads that process's
``--execution-segment`` argument. So one runner can be made slow or failing while
the others are not, and what each runner alone would judge (k6-operator judges
per pod) differs from the whole, which PLog judges.

A quantile or rate ceiling that every runner passes alone cannot fail on the
whole (the whole's distribution is the runners' mixture: at the limit, each has
at least 95% of its requests below it, so the whole does too). "Pass on each,
fail on the whole" is therefore built with a throughput ceiling; "fail on one,
pass on the whole" with a p95 ceiling.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil
import pytest

from plog_ci.analysis.gates import evaluate
from plog_ci.config.model import Caps, LoadConfig
from plog_ci.gate_grammar import parse_gate
from plog_ci.loadgen.script import generate
from plog_ci.results import OperationStats
from plog_ci.runner.merged_gates import CATASTROPHIC, AbortWatch, abort_gates
from plog_ci.runner.segments import run_merged
from testing.k6_tools import need_k6
from testing.paths import ROOT
from testing.specs import load_any_spec

# Latencies of real load decide these tests: alone among load tests (tests/conftest.py).
pytestmark = pytest.mark.timing

Behave = Callable[[str, int], tuple[int, float]]  # (segment, its n-th request) -> status, delay


def _segment_of(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--execution-segment" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--execution-segment="):
            return arg.split("=", 1)[1]
    return "?"


def _socket_inode(peer_port: int, own_port: int) -> str | None:
    """The inode of the client socket 127.0.0.1:peer_port -> :own_port (/proc/net/tcp)."""
    with open("/proc/net/tcp", encoding="ascii") as fh:
        for line in fh.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1].split(":"), fields[2].split(":")
            if int(local[1], 16) == peer_port and int(remote[1], 16) == own_port:
                return fields[9]
    return None


def _sender_segment(peer_port: int, own_port: int) -> str:
    """The execution segment of the k6 process holding the client end of a connection
    (only k6 processes' descriptors are read: a few dozen, fast enough per connection)."""
    inode = _socket_inode(peer_port, own_port)
    if inode is None:
        return "?"
    target = f"socket:[{inode}]"
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if not any(a.startswith("--execution-segment") for a in argv):
            continue
        try:
            fds = os.listdir(f"/proc/{process.pid}/fd")
            if any(os.readlink(f"/proc/{process.pid}/fd/{fd}") == target for fd in fds):
                return _segment_of(argv)
        except OSError:
            continue
    return "?"


@contextmanager
def segment_server(behave: Behave) -> Iterator[tuple[str, dict[str, int]]]:
    """A loopback JSON service answering by the sender's execution segment; yields its
    URL and the requests it saw per segment."""
    seen: dict[str, int] = {}
    by_port: dict[int, str] = {}
    lock = threading.Lock()

    def sender(peer_port: int, own_port: int) -> str:
        with lock:
            if peer_port in by_port:
                return by_port[peer_port]
        found = _sender_segment(peer_port, own_port)
        with lock:
            by_port[peer_port] = found
        return found

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            segment = sender(self.client_address[1], self.server.server_address[1])
            with lock:
                seen[segment] = n = seen.get(segment, 0) + 1
            status, delay = behave(segment, n)
            if delay:
                time.sleep(delay)
            body = b"[]"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _script(url: str, **load: Any):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    return generate(spec, [spec.operations["GET /pets"]], LoadConfig(**load), url)


def _verdict(gates, stats: OperationStats) -> str:
    return evaluate(gates, {"GET /pets": replace(stats, operation="GET /pets")}, stats).status


@pytest.mark.slow
def test_fail_on_one_runner_pass_on_the_whole(tmp_path):
    need_k6()
    gates = (parse_gate("p95 < 250ms"),)

    def behave(segment: str, n: int) -> tuple[int, float]:
        # Runner 1 (segment 0:1/4): every 8th request takes 500 ms (12.5% of its share,
        # about 3% of the whole): its p95 is slow, the whole's is not.
        return 200, 0.5 if segment == "0:1/4" and n % 8 == 0 else 0.0

    with segment_server(behave) as (url, seen):
        script = _script(url, rate=48, duration_s=4, vus=4)
        run = run_merged(script, url, tmp_path / "k6", 4, timeout_s=60)
    result = run.result
    assert set(seen) == {"0:1/4", "1/4:1/2", "1/2:3/4", "3/4:1"}
    assert result.total.count == sum(seen.values()) == sum(r.requests for r in run.runners)
    alone = {r.runner: _verdict(gates, r.alone) for r in run.runners}
    assert alone == {"1": "fail", "2": "pass", "3": "pass", "4": "pass"}, run.runners
    # PLog judges the whole: 5-6 slow requests of ~190 are under 5%.
    assert _verdict(gates, result.total) == "pass", result.total
    assert evaluate(gates, result.operations, result.total).status == "pass"
    # No runner judged its own share: k6 would have exited 99 on runner 1's p95.
    assert result.k6_exit_code == 0 and result.aborted is None


@pytest.mark.slow
def test_pass_on_each_runner_fail_on_the_whole(tmp_path):
    need_k6()
    gates = (parse_gate("rps < 25"),)
    with segment_server(lambda segment, n: (200, 0.0)) as (url, _):
        script = _script(url, rate=40, duration_s=4, vus=4)
        run = run_merged(script, url, tmp_path / "k6", 4, timeout_s=60)
    alone = {r.runner: _verdict(gates, r.alone) for r in run.runners}
    assert alone == {"1": "pass", "2": "pass", "3": "pass", "4": "pass"}, run.runners
    assert all(8 <= r.alone.rps <= 12 for r in run.runners), run.runners
    verdict = evaluate(gates, run.result.operations, run.result.total)
    assert verdict.status == "fail" and "rps" in verdict.reason, verdict
    assert 38 <= run.result.total.rps <= 42


@pytest.mark.slow
def test_abort_gate_on_the_whole_stops_every_runner(tmp_path):
    need_k6()

    def behave(segment: str, n: int) -> tuple[int, float]:
        # Three runners of four get only errors: 75% of the whole, over the 50% line.
        # Runner 4 alone is healthy and would never abort.
        return (200 if segment == "3/4:1" else 500), 0.0

    started = time.monotonic()
    with segment_server(behave) as (url, seen):
        script = _script(url, rate=20, duration_s=30, vus=4)
        run = run_merged(script, url, tmp_path / "k6", 4, timeout_s=90, abort_gates=(CATASTROPHIC,))
    took = time.monotonic() - started
    result = run.result
    assert result.aborted is not None and "error_rate < 50%" in result.aborted, result.aborted
    assert (
        "merged result of 4 runners" in result.aborted and "stopped every runner" in result.aborted
    )
    assert result.k6_exit_code == 99
    assert took < 20, took  # stopped after ~5 s of data, not the 30 s planned
    healthy = next(r for r in run.runners if r.segment == "3/4:1")
    assert healthy.alone.failures == 0 and 0 < healthy.requests < 5 * 15
    assert result.total.error_rate > 0.5 and seen["3/4:1"] == healthy.requests
    # The runners' failed exchanges are kept, merged, as for one k6 (3 per operation).
    kept = result.exchanges["GET /pets"]
    assert len(kept) == 3 and all("500" in str(item) for item in kept), kept
    # Every k6 process is gone.
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]


@pytest.mark.slow
def test_runner_saturation_is_the_load_generators_limit(tmp_path):
    need_k6()

    def behave(segment: str, n: int) -> tuple[int, float]:
        return 200, 1.0 if segment == "0:1/4" else 0.0  # runner 1's requests take 1 s

    with segment_server(behave) as (url, _):
        # 8 VUs in all (2 per runner) for 40/s (10/s per runner): runner 1 can send ~2/s.
        script = _script(url, rate=40, duration_s=4, vus=2, caps=Caps(vus=8))
        run = run_merged(script, url, tmp_path / "k6", 4, timeout_s=60)
    by_runner = {r.runner: r for r in run.runners}
    assert by_runner["1"].dropped_iterations >= 15, run.runners
    # The fast runners keep their rate (a busy machine may make k6 drop one at the start).
    assert all(by_runner[k].dropped_iterations <= 2 for k in "234"), run.runners
    note = run.saturation
    assert note is not None and "could not keep the planned rate" in note
    assert f"runner 1 (segment 0:1/4) dropped {by_runner['1'].dropped_iterations} " in note
    # The runner that dropped most comes first; the cause is named as the generator's.
    assert note.index("runner 1 ") < min(
        (note.index(f"runner {k} ") for k in "234" if f"runner {k} " in note), default=len(note)
    )
    assert "not the service's" in note
    assert by_runner["1"].cpu_percent is not None


def test_a_healthy_run_has_no_saturation_note():
    from plog_ci.results import LoadResult
    from plog_ci.runner.segments import MergedRun, RunnerTally

    stats = OperationStats("*", 10, 0, 1.0, 1, 1, 1, 1, 1, 1, 1)
    runner = RunnerTally("1", "0:1", 10, 0, 12.0, stats)
    run = MergedRun(LoadResult({}, stats, 1.0, 0, ""), (runner,))
    assert run.saturation is None
    dropped = replace(runner, dropped_iterations=3)
    assert "dropped 3 and sent 10, its k6 at 12% of a core" in (
        replace(run, runners=(dropped,)).saturation or ""
    )


def _stats(op: str, count: int, failures: int, p95: float, rps: float = 10.0) -> OperationStats:
    return OperationStats(op, count, failures, rps, 1.0, p95, p95, p95, p95, p95, p95)


def test_abort_gates_mirror_k6_thresholds():
    gates = (
        parse_gate("p95 < 100ms"),
        parse_gate("p95 <= +10%"),  # relative: needs a baseline, never aborts
        parse_gate("error_rate < 1%", level="warn"),  # warnings never abort
        parse_gate("count > 1000"),  # a floor cannot hold early in a run
        parse_gate("rps > 5"),
    )
    assert abort_gates(gates, breakpoint=False) == (CATASTROPHIC,)
    assert abort_gates(gates, breakpoint=True) == (CATASTROPHIC, gates[0], gates[4])


def test_abort_watch_judges_the_merged_state_after_the_delay():
    watch = AbortWatch((CATASTROPHIC, parse_gate("p95 < 100ms", operation="GET /pets/{id}")), 4)
    assert not watch.due(4.9)
    assert watch.due(5.0) and not watch.due(5.5) and watch.due(6.0)
    fine = {"GET /pets/{petId}": _stats("GET /pets/{petId}", 100, 10, 50.0)}
    assert watch.judge(fine, _stats("*", 100, 10, 50.0)) is None
    slow = {"GET /pets/{petId}": _stats("GET /pets/{petId}", 100, 10, 150.0)}
    reason = watch.judge(slow, _stats("*", 100, 10, 150.0))
    assert reason is not None and "GET /pets/{petId}" in reason and "p95 = 150.0ms" in reason
    broken = watch.judge(fine, _stats("*", 100, 60, 50.0))
    assert broken is not None and "the whole run" in broken and "60.00%" in broken
    # No requests yet: nothing to judge.
    assert watch.judge({}, _stats("*", 0, 0, 0.0)) is None
