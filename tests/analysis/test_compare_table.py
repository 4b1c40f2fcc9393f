"""benchstat-style tables against golden files.

Regenerate after an intended change with ``PLOG_UPDATE_GOLDEN=1 pytest tests/analysis``
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from plog_ci.analysis.compare_table import render_json, render_text
from plog_ci.analysis.comparison import Comparison, StatsSettings
from plog_ci.analysis.samples import OperationSamples
from plog_ci.analysis.stats import compare_runs

GOLDEN = Path(__file__).parent / "golden"


def _samples(
    rng: np.random.Generator, op: str, shift: float, blocks: int, error_rate: float
) -> OperationSamples:
    p95 = 20.0 * shift * np.exp(rng.normal(0.0, 0.05, blocks))
    counts = rng.poisson(200, blocks)
    failures = rng.binomial(counts, error_rate)
    return OperationSamples(
        op,
        block_p50s=tuple((p95 / 2).round(3).tolist()),
        block_p95s=tuple(p95.round(3).tolist()),
        counts=tuple(int(c) for c in counts),
        failures=tuple(int(f) for f in failures),
    )


def _comparisons() -> tuple[list[Comparison], StatsSettings]:
    rng = np.random.default_rng(42)
    old = {
        "GET /pets": _samples(rng, "GET /pets", 1.0, 30, 0.0),
        "GET /pets/{petId}": _samples(rng, "GET /pets/{petId}", 1.0, 30, 0.01),
        "POST /pets": _samples(rng, "POST /pets", 1.0, 30, 0.01),
        "DELETE /pets/{petId}": _samples(rng, "DELETE /pets/{petId}", 1.0, 4, 0.0),
    }
    new = {
        "GET /pets": _samples(rng, "GET /pets", 1.25, 30, 0.0),
        "GET /pets/{petId}": _samples(rng, "GET /pets/{petId}", 1.0, 30, 0.05),
        "POST /pets": _samples(rng, "POST /pets", 0.8, 30, 0.01),
        "DELETE /pets/{petId}": _samples(rng, "DELETE /pets/{petId}", 1.0, 4, 0.0),
        "PUT /pets/{petId}": _samples(rng, "PUT /pets/{petId}", 1.0, 30, 0.0),
    }
    settings = StatsSettings(metrics=("p50", "p95", "error_rate", "rps"))
    return compare_runs(old, new, settings), settings


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PLOG_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path}"


def test_text_table_matches_golden() -> None:
    comparisons, settings = _comparisons()
    _check("compare.txt", render_text(comparisons, settings))


def test_json_matches_golden_and_parses() -> None:
    comparisons, settings = _comparisons()
    text = render_json(comparisons, settings)
    _check("compare.json", text)
    data = json.loads(text)
    verdicts = {(c["operation"], c["metric"]): c["verdict"] for c in data["comparisons"]}
    assert verdicts[("GET /pets", "p95")] == "regression"
    assert verdicts[("POST /pets", "p95")] == "improvement"
    assert verdicts[("GET /pets/{petId}", "error_rate")] == "regression"
    assert verdicts[("DELETE /pets/{petId}", "p95")] == "no-verdict"
    assert verdicts[("PUT /pets/{petId}", "p95")] == "no-verdict"


def test_empty_comparison() -> None:
    assert render_text([]).startswith("no operations to compare\n")
    assert json.loads(render_json([]))["comparisons"] == []


@pytest.mark.parametrize("name", ["GET /x\nregression  forged", "GET /\x1b[31mred", "GET /\u2028x"])
def test_hostile_operation_names_cannot_forge_rows(name: str) -> None:
    rng = np.random.default_rng(1)
    old = {name: _samples(rng, name, 1.0, 10, 0.0)}
    new = {name: _samples(rng, name, 1.0, 10, 0.0)}
    text = render_text(compare_runs(old, new, StatsSettings(metrics=("p95",))))
    assert "\x1b" not in text and "\u2028" not in text
    assert len(text.splitlines()) == 4  # header, one row, blank, summary
    assert json.loads(render_json(compare_runs(old, new)))["comparisons"][0]["operation"] == name
