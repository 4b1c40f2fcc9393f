"""Adaptive against fixed, side by side on the same rounds (issue 22).

Every adaptive trial of a ``bench.verdict_quality --length adaptive`` sitting is an
interleaved run whose rounds are stored (``--home``). Its first ``compare.blocks``
rounds are exactly the fixed-length test's rounds (the adaptive schedule keeps the
fixed block length), so judging them with the fixed test (the pooled paired
randomization test, as the pipeline does at the end of a fixed run) gives both
verdicts on one run: what the 30-s test would have said and what the adaptive test
said, and how long each ran. No load runs; it reads the sitting's JSON and store.

    python -m bench adaptive_vs_fixed --json bench/results/FILE.json --home HOME

prints one row per scenario and runner (hog or not): trials, the adaptive test's
regressions, no-verdicts and median length, and the fixed test's regressions and
no-verdicts on the first rounds. Trials without a stored run are skipped and counted.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from plog_ci.analysis.comparison import StatsSettings
from plog_ci.analysis.samples import OperationSamples
from plog_ci.analysis.stored_runs import RunSamples, compare_stored, interleaved_sides
from plog_ci.errors import PlogError
from plog_ci.store.sqlite import open_store

# The sitting's own names (bench.verdict_quality): the slowed operation and verdicts.
SLOWED = "GET /pets"


def first_rounds(samples: RunSamples, n: int) -> RunSamples:
    """``samples`` cut to its first ``n`` blocks (every per-block field)."""
    fields = (
        "block_p50s",
        "block_p95s",
        "block_p99s",
        "counts",
        "failures",
        "durations_s",
        "histograms",
    )

    def cut(s: OperationSamples) -> OperationSamples:
        return replace(s, **{f: getattr(s, f)[:n] for f in fields})

    return replace(samples, samples={op: cut(s) for op, s in samples.samples.items()})


def fixed_verdict(home: Path, run_id: int, rounds: int, scenario: str) -> str:
    """The fixed test's verdict on the run's first ``rounds`` rounds: "regression" (for
    A/A: any operation; else the slowed one), "pass" or "no-verdict"."""
    store = open_store(home)
    try:
        old, new = interleaved_sides(store, run_id)
    except PlogError:
        return "no-verdict"
    finally:
        store.close()
    found = compare_stored(
        first_rounds(old, rounds),
        first_rounds(new, rounds),
        StatsSettings(paired=True, metrics=("p95",)),
    )
    if any(
        c.verdict == "regression" and (scenario == "A/A" or c.operation == SLOWED) for c in found
    ):
        return "regression"
    slowed = next((c for c in found if c.operation == SLOWED), None)
    return "no-verdict" if slowed is None or slowed.verdict == "no-verdict" else "pass"


def table(data: dict[str, Any], home: Path) -> list[dict[str, Any]]:
    """One row per (scenario, hog) with both tests' counts."""
    rounds = int(data["settings"]["blocks"])
    cells: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    skipped = 0
    for t in data["trials"]:
        if t.get("run_id") is None or t.get("verdict") == "error":
            skipped += 1
            continue
        cells.setdefault((t["scenario"], bool(t["hog"])), []).append(t)
    rows = []
    for (scenario, hog), trials in sorted(cells.items()):
        fixed = [fixed_verdict(home, int(t["run_id"]), rounds, scenario) for t in trials]
        lengths = [float(t["length_s"]) for t in trials if t.get("length_s") is not None]
        rows.append(
            {
                "scenario": scenario,
                "cpu_hog": "yes" if hog else "no",
                "trials": len(trials),
                "adaptive_regressions": sum(t["verdict"] == "regression" for t in trials),
                "adaptive_no_verdict": sum(t["verdict"] == "no-verdict" for t in trials),
                "adaptive_median_length_s": statistics.median(lengths) if lengths else None,
                "fixed_rounds": rounds,
                "fixed_regressions": fixed.count("regression"),
                "fixed_no_verdict": fixed.count("no-verdict"),
                "skipped": skipped,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--json", type=Path, required=True, help="the sitting's results file")
    parser.add_argument("--home", type=Path, required=True, help="the sitting's results store")
    args = parser.parse_args(argv)
    data = json.loads(args.json.read_text(encoding="utf-8"))
    if data["settings"].get("length") != "adaptive":
        raise SystemExit(f"{args.json}: not an adaptive sitting (settings.length)")
    print(
        "scenario  hog  trials  adaptive: flagged  no-verdict  median length  |  "
        "fixed, first rounds: flagged  no-verdict"
    )
    for r in table(data, args.home):
        length = r["adaptive_median_length_s"]
        print(
            f"{r['scenario']:8s}  {r['cpu_hog']:3s}  {r['trials']:6d}  "
            f"{r['adaptive_regressions']:16d}  {r['adaptive_no_verdict']:10d}  "
            f"{'-' if length is None else f'{length:.0f} s':>13s}  |  "
            f"{r['fixed_rounds']:3d} rounds: {r['fixed_regressions']:7d}  "
            f"{r['fixed_no_verdict']:10d}"
        )
    print(
        "flagged: regressions on the slowed operation (A/A: on any); the fixed test is the "
        "pipeline's pooled paired test at compare.alpha on the run's first compare.blocks rounds"
    )


if __name__ == "__main__":
    main()
