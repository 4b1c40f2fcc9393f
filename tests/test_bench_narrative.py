"""The grounding bar's benchmark (bench.narrative_grounding): its faults, its
figures, and a smoke run against the real llama.cpp server with SmolLM2 (slow)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench import narrative_grounding as bench
from plog_ci.report.grounding import Claim, ungrounded_numbers
from plog_ci.report.narrative import Narrative
from testing.paths import EXAMPLE


def _row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": "synthetic-0", "source": "synthetic", "fault": "cpu", "operation": None,
        "items": 9, "bundle_tokens": 500, "ungrounded": [], "ungrounded_in_report": [],
        "report_claims": 1, "numbers_filled": 2, "kept": 1,
        "dropped": {"literal-number": 3}, "missing": None, "latency_s": 10.0, "claims": [],
    }  # fmt: skip
    return {**row, **over}


def test_the_summary_counts_claims_by_reason_and_fails_the_bar_on_one_number() -> None:
    rows = [
        _row(),
        _row(key="real-0", source="plog run", dropped={"literal-number": 2, "no-evidence": 1}),
        _row(kept=0, dropped={}, missing="the answer was cut at max_tokens (9): over-long",
             latency_s=30.0),
    ]  # fmt: skip
    summary = bench.summarise(rows)
    assert summary["narratives"] == 3 and summary["with_narrative"] == 2
    assert summary["by_source"] == {"synthetic": 2, "plog run": 1}
    assert summary["claims_kept"] == 2 and summary["claims_written"] == 8
    assert summary["claims_dropped"] == {"literal-number": 5, "no-evidence": 1}
    assert summary["latency_s"]["median"] == 10.0 and summary["latency_s"]["max"] == 30.0
    assert summary["bar_met"] and summary["ungrounded_numbers"] == 0
    assert "(bar 0: met)" in bench.render(summary)
    rows[0]["ungrounded"] = ["42"]
    failed = bench.summarise(rows)
    assert failed["ungrounded_numbers"] == 1 and not failed["bar_met"]
    assert "NOT met" in bench.render(failed)
    assert not bench.summarise([])["bar_met"]
    rows[0]["ungrounded"] = []
    rows[1]["ungrounded_in_report"] = ["7"]
    assert bench.summarise(rows)["ungrounded_numbers"] == 1


def test_the_report_shows_each_claim_once_and_its_numbers_are_read_back() -> None:
    case = next(bench.synthetic_cases(1, seed=3, evidence_tokens=600))
    hostile = 'p95 of GET /pets rose by 12345.678% "><img onerror=x> <script> ${x}'
    claims = (
        Claim(hostile, "impact", ("e1",)),
        Claim("look at the_cache first", "suggestion", ("e1", "e2")),
    )
    narrative = Narrative("smollm2", "", claims, {"literal-number": 2})
    shown = bench.report_claims(narrative, case.bundle)
    assert shown == [hostile, "look at the_cache first"]
    assert ungrounded_numbers(" ".join(shown), case.bundle) == ["12345.678"]
    missing = Narrative("smollm2", "", missing="no answer within 5 s (timeout)")
    assert bench.report_claims(missing, case.bundle) == []


def test_synthetic_cases_cycle_the_faults_and_are_the_same_for_a_seed() -> None:
    first = list(bench.synthetic_cases(6, seed=3, evidence_tokens=600))
    again = list(bench.synthetic_cases(6, seed=3, evidence_tokens=600))
    assert [c.fault for c in first] == ["slowdown", "cpu", "memory", "errors", "none", "slowdown"]
    assert [c.bundle for c in first] == [c.bundle for c in again]
    assert all(c.bundle.tokens <= 600 for c in first)
    other = list(bench.synthetic_cases(1, seed=4, evidence_tokens=600))
    assert other[0].bundle != first[0].bundle


def _load_app(text: str, tmp_path: Path, name: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_the_real_faults_turn_the_apps_knobs_and_the_error_hook_answers_500s(
    tmp_path: Path,
) -> None:
    sleep = bench._app_with("slowdown-sleep")
    assert 'SLOW_OPERATION = "GET /pets"' in sleep and "SLOWDOWN = 3.0" in sleep
    assert 'SLOW_KIND = "sleep"' in sleep
    assert 'SLOW_KIND = "cpu"' in bench._app_with("slowdown-cpu")
    assert bench._app_with("cpu-hog") == (EXAMPLE / "app.py").read_text(encoding="utf-8")
    app = _load_app(bench._app_with("errors"), tmp_path, "petstore_errors").create_app()
    client = app.test_client()
    statuses = [client.get("/pets").status_code for _ in range(200)]
    assert 10 <= statuses.count(500) <= 90 and statuses.count(200) >= 110
    assert {client.get("/pets/1").status_code for _ in range(20)} == {200}
    failed = next(r for r in (client.get("/pets") for _ in range(100)) if r.status_code == 500)
    assert failed.get_json()["message"] == "injected <script>alert(1)</script>"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_smoke_two_narratives_by_the_real_server_hold_no_ungrounded_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from testing.llama_server import require_local_server

    require_local_server()
    out = tmp_path / "grounding.json"
    result = bench.main(["--smoke", "--json", str(out)])
    assert json.loads(out.read_text(encoding="utf-8")) == result
    summary = result["summary"]
    assert summary["narratives"] == 2 and summary["by_source"] == {"synthetic": 2}
    assert summary["ungrounded_numbers"] == 0 and summary["bar_met"]
    assert summary["claims_written"] + len(summary["missing"]) > 0
    for row in result["narratives"]:
        assert row["latency_s"] > 0 and row["ungrounded"] == []
        cases = bench.synthetic_cases(2, result["settings"]["seed"], 600)
        bundle = next(c.bundle for c in cases if c.key == row["key"])
        for claim in row["claims"]:
            assert ungrounded_numbers(claim["text"], bundle) == []
    printed = capsys.readouterr().out
    assert "numbers in narratives not in the bundle: 0 (bar 0: met)" in printed
    assert result["settings"]["xllamacpp"] == "2026.10.11549"
