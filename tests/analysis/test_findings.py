from __future__ import annotations

import subprocess
import sys
import time

from plog_ci.analysis.findings import ResourceSummary, latency_findings, resource_findings
from plog_ci.deploy.resources import ResourceSampler, Sample
from plog_ci.results import OperationStats


def op(
    name: str,
    p50: float,
    p95: float,
    count: int = 1000,
    failures: int = 0,
    errors: dict[str, int] | None = None,
) -> OperationStats:
    return OperationStats(
        name, count, failures, 50.0, 1.0, p50, p50, p95 * 0.9, p95, p95 * 1.2, p95 * 2, errors or {}
    )


def samples(cpu: float, rss0: int, rss1: int, n: int = 10) -> list[Sample]:
    return [Sample(float(i), cpu, rss0 + (rss1 - rss0) * i // (n - 1)) for i in range(n)]


def test_cpu_bound_and_memory_growth() -> None:
    head = ResourceSummary.of(samples(95.0, 50 << 20, 120 << 20))
    kinds = [f.kind for f in resource_findings(head, op("*", 5, 10))]
    assert kinds == ["cpu-bound", "memory-growth"]


def test_quiet_service_has_no_resource_findings() -> None:
    head = ResourceSummary.of(samples(20.0, 50 << 20, 52 << 20))
    assert resource_findings(head, op("*", 5, 10)) == []


def test_cpu_per_request_names_computation_or_waiting() -> None:
    base = ResourceSummary.of(samples(20.0, 1, 1))
    busier = ResourceSummary.of(samples(40.0, 1, 1))
    same = ResourceSummary.of(samples(21.0, 1, 1))
    total = op("*", 5, 10, count=900)
    computing = resource_findings(busier, total, base, total)
    assert computing[0].kind == "cpu-per-request" and "computation" in computing[0].message
    waiting = resource_findings(same, total, base, total)
    assert "waiting" in waiting[0].message


def test_latency_findings_distinguish_shift_from_tail() -> None:
    base = {"GET /a": op("GET /a", 5, 10), "GET /b": op("GET /b", 5, 10)}
    head = {
        "GET /a": op("GET /a", 50, 60),
        "GET /b": op("GET /b", 5.1, 20),
        "GET /new": op("GET /new", 1, 2),
    }
    found = {f.operation: f for f in latency_findings(head, base)}
    assert "every request pays" in found["GET /a"].message
    assert "the tail got worse" in found["GET /b"].message
    assert "GET /new" not in found


def test_errors_are_reported_with_their_statuses() -> None:
    head = {"POST /a": op("POST /a", 5, 10, count=200, failures=20, errors={"500": 20})}
    (finding,) = latency_findings(head, {})
    assert finding.kind == "errors" and finding.severity == "error"
    assert "500: 20" in finding.message


def test_sampler_sees_a_busy_child_tree(tmp_path: object) -> None:
    # A parent that only waits, and a child that spins: the tree's CPU counts both.
    code = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        "'import time\\nend = time.time() + 3\\nwhile time.time() < end: pass'])"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        with ResourceSampler(proc.pid, interval=0.2) as sampler:
            time.sleep(2.0)
        got = sampler.samples
    finally:
        proc.kill()
        proc.wait()
    assert len(got) >= 5
    assert max(s.cpu_percent for s in got) > 50
    assert all(s.rss_bytes > 0 for s in got)
