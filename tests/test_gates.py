from __future__ import annotations

import pytest

from plog_ci.analysis.gates import evaluate
from plog_ci.errors import ConfigError
from plog_ci.gate_grammar import parse_gate
from plog_ci.results import OperationStats


def stats(
    name: str, p95: float, failures: int = 0, count: int = 100, rps: float = 50.0
) -> OperationStats:
    return OperationStats(
        name, count, failures, rps, 1.0, p95 / 2, p95 / 2, p95 * 0.9, p95, p95 * 1.1, p95 * 1.2
    )


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold", "relative"),
    [
        ("p95 < 300ms", "p95", "<", 300.0, False),
        ("p(99)<1s", "p99", "<", 1000.0, False),
        ("avg <= 250us", "mean", "<=", 0.25, False),
        ("p95 < 300", "p95", "<", 300.0, False),
        ("error_rate < 1%", "error_rate", "<", 0.01, False),
        ("error_rate < 0.05", "error_rate", "<", 0.05, False),
        ("rps > 200", "rps", ">", 200.0, False),
        ("p95 <= +10%", "p95", "<=", 10.0, True),
        ("mean >= -5%", "mean", ">=", -5.0, True),
    ],
)
def test_parse(text: str, metric: str, op: str, threshold: float, relative: bool) -> None:
    gate = parse_gate(text)
    assert (gate.metric, gate.op, gate.threshold, gate.relative) == (
        metric,
        op,
        threshold,
        relative,
    )


@pytest.mark.parametrize(
    "text",
    [
        "p95",
        "p95 < fast",
        "latency < 3ms",
        "p95 < 10%",
        "error_rate < 3s",
        "rps > 10ms",
        "p95 <= +10ms",
        "p95 == 3",
    ],
)
def test_parse_errors_carry_a_hint(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_gate(text)
    assert info.value.hint


def test_global_gate_fails_on_the_slow_operation_and_names_it() -> None:
    ops = {"GET /a": stats("GET /a", 10), "GET /b": stats("GET /b", 500)}
    verdict = evaluate((parse_gate("p95 < 300ms"),), ops, stats("*", 480))
    assert verdict.status == "fail"
    assert "GET /b" in verdict.reason and "500.0ms" in verdict.reason
    assert [o.operation for o in verdict.decisive] == ["GET /b"]


def test_warn_gate_does_not_fail() -> None:
    ops = {"GET /a": stats("GET /a", 500)}
    verdict = evaluate((parse_gate("p95 < 300ms", level="warn"),), ops, stats("*", 500))
    assert verdict.status == "pass"
    assert verdict.outcomes[0].passed is False


def test_key_gate_decides_first() -> None:
    ops = {"GET /a": stats("GET /a", 500, failures=50)}
    gates = (parse_gate("p95 < 300ms"), parse_gate("error_rate < 1%", key=True))
    verdict = evaluate(gates, ops, stats("*", 500))
    assert verdict.status == "fail" and verdict.reason.startswith("key gate error_rate")


def test_operation_gate_and_no_data() -> None:
    ops = {"GET /a": stats("GET /a", 10)}
    verdict = evaluate((parse_gate("p95 < 300ms", operation="GET /missing"),), ops, stats("*", 10))
    assert verdict.status == "no-verdict"


def test_relative_gate_without_baseline_gives_no_verdict_never_fail() -> None:
    ops = {"GET /a": stats("GET /a", 10)}
    verdict = evaluate((parse_gate("p95 <= +10%"),), ops, stats("*", 10))
    assert verdict.status == "no-verdict"
    # Relative gates are decided by the statistics (tests/analysis/test_relative_gates.py);
    # the absolute evaluation never fails on them.
    verdict = evaluate((parse_gate("p95 <= +10%"), parse_gate("p95 < 1s")), ops, stats("*", 10))
    assert verdict.status == "pass"
    assert verdict.outcomes[0].passed is None
    # Passing, but not "all gates held": the undecided gate is named (a new user's finding).
    assert verdict.reason == "no gate failed; gate p95 <= +10% gave no verdict on the whole run"
    held = evaluate((parse_gate("p95 < 1s"),), ops, stats("*", 10))
    assert (held.status, held.reason) == ("pass", "all gates held")


def test_throughput_gate_reads_the_total() -> None:
    ops = {"GET /a": stats("GET /a", 10, rps=20)}
    verdict = evaluate((parse_gate("rps > 100"),), ops, stats("*", 10, rps=150))
    assert verdict.status == "pass"
    assert verdict.outcomes[0].operation == "*"


def test_verdict_serialises_its_outcomes_for_the_store() -> None:
    ops = {"GET /a": stats("GET /a", 10), "GET /b": stats("GET /b", 500)}
    gates = (parse_gate("p95 < 300ms"), parse_gate("p95 < 1s", level="warn"))
    verdict = evaluate(gates, ops, stats("*", 480))
    rows = verdict.outcome_rows()
    assert [(r["gate"], r["operation"], r["level"], r["passed"], r["decisive"]) for r in rows] == [
        ("p95 < 300ms", "GET /a", "fail", True, False),
        ("p95 < 300ms", "GET /b", "fail", False, True),
        ("p95 < 1s", "GET /a", "warn", True, False),
        ("p95 < 1s", "GET /b", "warn", True, False),
    ]
    assert set(rows[1]) == {"gate", "operation", "level", "value", "passed", "decisive", "detail"}
    assert rows[1]["value"] == 500.0
    assert rows[1]["detail"] == "p95 = 500.0ms (limit < 300.0ms)"
    doc = verdict.to_json()
    assert list(doc) == ["status", "reason", "decided_by", "outcomes"]
    assert (doc["status"], doc["reason"]) == (verdict.status, verdict.reason)
    assert doc["decided_by"] == [
        {
            "gate": "p95 < 300ms",
            "operation": "GET /b",
            "value": 500.0,
            "detail": "p95 = 500.0ms (limit < 300.0ms)",
        }
    ]
    assert doc["outcomes"][1] == {
        "gate": "p95 < 300ms",
        "operation": "GET /b",
        "value": 500.0,
        "passed": False,
        "level": "fail",
        "detail": "p95 = 500.0ms (limit < 300.0ms)",
    }
    assert len(doc["outcomes"]) == 4


def _unanswered(name: str, count: int, errors: dict[str, int]) -> OperationStats:
    return OperationStats(name, count, sum(errors.values()), 0.0, *([0.0] * 7), errors)


def test_an_operation_loaded_but_never_answered_fails_without_any_gate() -> None:
    ops = {"GET /pets": _unanswered("GET /pets", 0, {}), "GET /a": stats("GET /a", 10)}
    verdict = evaluate((), ops, stats("*", 10))
    assert verdict.status == "fail"
    assert verdict.reason.startswith("GET /pets: 0 requests completed")
    assert "timed out" in verdict.reason
    assert [o.operation for o in verdict.decisive] == ["GET /pets"]


def test_timeouts_and_dropped_connections_are_counted_in_the_reason() -> None:
    ops = {"GET /pets": _unanswered("GET /pets", 40, {"error 1050": 40})}
    verdict = evaluate((parse_gate("p95 < 300ms"),), ops, stats("*", 10))
    assert verdict.status == "fail"
    assert verdict.reason == "GET /pets: 0 of 40 requests completed (40 timed out)"
    ops = {"GET /pets": _unanswered("GET /pets", 12, {"error 1050": 2, "no response": 10})}
    verdict = evaluate((parse_gate("p95 <= +10%"),), ops, stats("*", 10))
    assert verdict.status == "fail"
    assert verdict.reason == (
        "GET /pets: 0 of 12 requests completed (2 timed out; 10 with no response)"
    )


def test_an_operation_that_answered_with_errors_is_left_to_the_gates() -> None:
    # 500s are answers: error_rate gates judge them; no gate, no failure.
    ops = {"GET /pets": _unanswered("GET /pets", 10, {"500": 10})}
    assert evaluate((), ops, stats("*", 10)).status == "pass"
    # One answer among the timeouts: completed, the gates decide.
    ops = {"GET /pets": _unanswered("GET /pets", 10, {"error 1050": 9})}
    assert evaluate((), ops, stats("*", 10)).status == "pass"


def test_an_operation_never_loaded_stays_without_a_verdict() -> None:
    ops = {"GET /a": stats("GET /a", 10)}
    gate = parse_gate("p95 < 300ms", operation="GET /not-loaded")
    verdict = evaluate((gate,), ops, stats("*", 10))
    assert verdict.status == "no-verdict"
    assert verdict.outcomes[0].detail == "no requests measured"
