"""Adaptive interleaved comparisons (issue 22): the monitor's looks, the verdict's line,
the gates it decides, and the real pipeline on the example service stopping early on a
large slowdown and running to compare.max_duration on an A/A."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plog_ci.analysis.relative_gates import evaluate_with_comparisons
from plog_ci.analysis.sequential_run import Monitor, family
from plog_ci.gate_grammar import parse_gate
from plog_ci.report.assemble import secondary_note
from plog_ci.results import OperationStats
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.repos import commit_files, plog_run

# Latencies of real load decide these tests: alone among load tests (tests/conftest.py).
pytestmark = pytest.mark.timing

OPS = ("GET /pets", "GET /pets/{petId}")


def _stats(op: str, p95: float, count: int = 150) -> OperationStats:
    return OperationStats(op, count, 0, count / 1.5, 1.0, p95 / 2, p95 / 2, p95, p95, p95, p95)


def _rounds(n: int, slow: float, seed: int = 3) -> dict[str, list[dict[str, OperationStats]]]:
    rng = np.random.default_rng(seed)
    out: dict[str, list[dict[str, OperationStats]]] = {"base": [], "head": []}
    for _ in range(n):
        for side, factor in (("base", 1.0), ("head", slow)):
            out[side].append(
                {
                    OPS[0]: _stats(OPS[0], 3.0 * math.exp(rng.normal(0, 0.03))),
                    OPS[1]: _stats(OPS[1], 3.0 * factor * math.exp(rng.normal(0, 0.03))),
                }
            )
    return out


def _monitor(gates: list[str], max_rounds: int = 40) -> tuple[Monitor, list[dict[str, Any]]]:
    docs: list[dict[str, Any]] = []
    limits, decisive = family([parse_gate(g) for g in gates], OPS)
    monitor = Monitor(limits, decisive, 0.01, 5.0, 20, max_rounds, 1.5, on_look=docs.append)
    return monitor, docs


def test_a_large_slowdown_stops_at_the_minimum_rounds_and_fails_its_gate() -> None:
    monitor, docs = _monitor(["p95 <= +10%"])
    rounds = _rounds(40, 1.38)
    stopped_at = None
    for n in range(1, 41):
        if monitor.look({side: r[:n] for side, r in rounds.items()}):
            stopped_at = n
            break
    assert stopped_at == 8  # the minimum: no decision before 8 rounds
    run = monitor.close({side: r[:stopped_at] for side, r in rounds.items()})
    assert run.early and run.seconds == 12.0
    line = run.line()
    assert re.fullmatch(
        r"stopped after 12 s on a regression: GET /pets/\{petId\} \+3\d% \[\+\d+%, \+\d+%\]; "
        r"GET /pets no verdict \[.*\]",
        line,
    ), line
    # The document keeps every look, and the last one is final.
    assert [look["rounds"] for look in docs[-1]["looks"]] == list(range(1, 9))
    assert docs[-1]["final"] is True and docs[-1]["line"] == line
    total = _stats("*", 3.0)
    gates = (parse_gate("p95 <= +10%"), parse_gate("error_rate < 1%"))
    verdict = evaluate_with_comparisons(gates, {}, total, None, run)
    assert verdict.status == "fail" and verdict.reason.startswith(line + "; gate p95 <= +10%")
    failed = [o for o in verdict.outcomes if o.passed is False]
    assert [o.operation for o in failed] == ["GET /pets/{petId}"]
    assert failed[0].detail.startswith("adaptive: ")


def test_no_change_is_decided_within_or_given_no_verdict_at_the_end() -> None:
    monitor, _ = _monitor(["p95 <= +20%"], max_rounds=30)
    rounds = _rounds(30, 1.0)
    n = 0
    for n in range(1, 31):
        if monitor.look({side: r[:n] for side, r in rounds.items()}):
            break
    run = monitor.close({side: r[:n] for side, r in rounds.items()})
    decisions = {d.key[0]: d.decision for d in run.verdict.decisions}
    assert set(decisions.values()) <= {"within", "no-verdict"}
    if run.early:  # both within: "decided after N s: ... within +20% (at most +X%)"
        assert re.search(r"within \+20% \(at most [+-]\d+\.\d%\)", run.line()) and n < 30
    gates = (parse_gate("p95 <= +20%"),)
    verdict = evaluate_with_comparisons(gates, {}, _stats("*", 3.0), None, run)
    assert verdict.status in ("pass", "no-verdict")


def test_the_line_at_max_duration_says_no_verdict_where_it_straddles() -> None:
    monitor, _ = _monitor(["p95 <= +5%"], max_rounds=10)
    rounds = _rounds(10, 1.05, seed=9)
    for n in range(1, 10):
        monitor.look({side: r[:n] for side, r in rounds.items()})
    run = monitor.close(rounds)
    assert not run.early and run.line().startswith("ran the full 15 s: ")
    assert "no verdict [" in run.line()
    assert run.line().endswith(
        "(for a verdict: less noise per round (a higher load.rate, compare.replicas) "
        "or a longer compare.max_duration)"
    )
    # The gate's row says "no verdict" once, and names the adaptive test.
    gates = (parse_gate("p95 <= +5%"),)
    verdict = evaluate_with_comparisons(gates, {}, _stats("*", 3.0), None, run)
    details = [o.detail for o in verdict.outcomes if o.passed is None]
    assert details and all(d.startswith("adaptive: no verdict after 10 rounds") for d in details)
    # A fixed run's comparison table leads with its remedies; an adaptive run's with
    # a line saying the sequences judge the gates, and no "more blocks".
    note = secondary_note(run)
    assert note is not None and "judged by the adaptive test's confidence sequences" in note
    assert "decided" not in note.split("(")[0]
    assert secondary_note(None) is None


def test_without_a_relative_gate_there_is_no_family() -> None:
    limits, decisive = family([parse_gate("p95 < 300ms"), parse_gate("error_rate <= +1%")], OPS)
    assert limits == {} and decisive == set()


def test_warn_gates_do_not_stop_the_run_on_a_regression() -> None:
    limits, decisive = family([parse_gate("p95 <= +10%", level="warn")], OPS)
    assert len(limits) == 2 and decisive == set()


# --- the real pipeline on the example service ---------------------------------------

PLOG_YML = """\
version: 1
service:
  run: python app.py --port {{port}}
  health: /health
openapi: openapi.yaml
load:
  rate: 30
  duration: {duration}
  operations: ["GET /pets", "GET /pets/{{petId}}"]
gates:
  - error_rate < 1%
  - {gate}
compare:
  mode: interleaved
  blocks: {blocks}
  length: adaptive
  max_duration: {max_duration}
"""


def _adaptive_run(
    new_repo: Callable[..., Path], home: Path, head_app: str, yml: str
) -> tuple[int, str, dict[str, Any]]:
    need_k6()
    repo = new_repo("adaptive")
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    files: dict[str, str | bytes] = {
        "app.py": app,
        "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8"),
        "plog.yml": yml,
    }
    commit_files(repo, files, "base")
    commit_files(repo, {"app.py": head_app}, "head")
    done = plog_run(repo, home, timeout=180)
    output = done.stdout + done.stderr
    run_id = int(re.findall(r"run(\d+)\.md", done.stdout)[-1])
    report = next(home.rglob(f"*run{run_id}.md"), None) or next(repo.rglob(f"*run{run_id}.md"))
    from plog_ci.store.sqlite import open_store

    store = open_store(home)
    with store.transaction() as conn:
        (data,) = conn.execute(
            "SELECT data FROM run_documents WHERE run_id = ? AND name = 'sequence'", (run_id,)
        ).fetchone()
    return done.returncode, output + report.read_text(encoding="utf-8"), json.loads(data)


@pytest.mark.slow
def test_a_large_slowdown_is_decided_before_load_duration(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    from bench.verdict_quality import slowed_app

    # +40 ms: far beyond what a busy neighbour adds to a base block p95 of a few ms
    slow = slowed_app((EXAMPLE / "app.py").read_text(encoding="utf-8"), 10.0, 4.0)
    yml = PLOG_YML.format(duration="16s", blocks=16, gate="p95 <= +20%", max_duration="32s")
    code, text, doc = _adaptive_run(new_repo, plog_home, slow, yml)
    assert code != 0, text
    found = re.search(
        r"(?:decided|stopped) after (\d+) s(?: on a regression)?: "
        r"GET /pets \+\d+% \[\+\d+%, \+\d+%\]",
        text,
    )
    assert found is not None, text
    assert 8 <= int(found[1]) < 16  # before load.duration, not before the minimum rounds
    assert "aborted" not in text.lower() and "stopped the test early" not in text
    assert doc["final"] is True and doc["looks"][-1]["rounds"] == int(found[1])


@pytest.mark.slow
def test_an_aa_runs_to_max_duration_without_a_regression(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8") + "\n# head\n"
    yml = PLOG_YML.format(duration="6s", blocks=6, gate="p95 <= +5%", max_duration="10s")
    code, text, doc = _adaptive_run(new_repo, plog_home, app, yml)
    assert code == 0, text
    assert "ran the full 10 s: " in text, text
    assert "no verdict" in text or "within +5% (at most +" in text
    looks = doc["looks"]
    assert looks[-1]["rounds"] == 10 and len(looks) >= 5
    widths = [i[2] - i[1] for look in looks for i in look["intervals"][:1] if i[1] is not None]
    assert widths and widths[-1] <= widths[0]  # the interval only narrows
