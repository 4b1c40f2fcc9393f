"""Re-judge the stored runs of a ``verdict_quality`` run with the current statistics.

``verdict_quality --home DIR`` keeps its results store; this reads it back with
the trials of ``--json`` and decides every trial again, as the pipeline would
decide it now, from the stored blocks, histograms, series and per-run figures.
So a change to the statistics can be judged on the same measurements, and a
trial's verdict can be checked against the one the pipeline recorded.

    .venv/bin/python -m bench.verdict_rejudge --home DIR --json verdict_quality.json

Trials carry their run ids; older result files without them are matched to runs
in the order the benchmark made them (per trial index: the interleaved runs, then
the sequential base run and its heads).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bench.verdict_quality import MODES, ORDER, SIDE_BY_SIDE, verdict_of
from plog_ci.analysis.comparison import StatsSettings
from plog_ci.analysis.stored_runs import (
    compare_stored,
    interleaved_sides,
    run_level_samples,
    run_samples,
)
from plog_ci.store.sqlite import ResultsStore, open_store

GATE_METRICS = ("p95", "error_rate")  # what the pipeline compares for the bench's gate


def _flagged(
    store: ResultsStore, mode: str, scenario: str, run_id: int, base_id: int, alpha: float
) -> str:
    settings = StatsSettings(paired=mode in SIDE_BY_SIDE, metrics=GATE_METRICS, alpha=alpha)
    if mode in SIDE_BY_SIDE:
        old, new = interleaved_sides(store, run_id)
        found = compare_stored(old, new, settings)
    else:
        level = run_level_samples(store, [base_id], run_id, ("p95",))
        old_s, new_s = run_samples(store, base_id), run_samples(store, run_id)
        found = compare_stored(old_s, new_s, settings, level)
    return verdict_of([c for c in found if c.metric == "p95"], scenario)


def match_runs(store: ResultsStore, trials: Sequence[dict[str, object]]) -> list[tuple[int, int]]:
    """(head run, base run) per trial, in the order the benchmark ran them."""
    runs = [r for r in store.runs(limit=100_000)]
    runs.sort(key=lambda r: r.id)
    queue = iter(runs)
    out: list[tuple[int, int]] = []
    base_id = 0
    previous: tuple[object, object] | None = None
    if all(isinstance(t.get("run_id"), int) for t in trials):
        # Newer runs record their run ids.
        return [(int(t["run_id"]), int(t.get("base_run_id") or t["run_id"])) for t in trials]  # type: ignore[call-overload]
    for t in trials:
        key = (t["index"], t["mode"])
        if t["mode"] == "sequential" and key != previous:
            base = next(queue)
            if base.base_sha is not None:
                raise SystemExit(f"run #{base.id} should be a base run; the store does not match")
            base_id = base.id
        previous = key
        head = next(queue)
        out.append((head.id, base_id if t["mode"] == "sequential" else head.id))
    return out


def index_range(text: str) -> range:
    """``"3-7"`` -> range(3, 8); ``"5"`` -> range(5, 6)."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIRST-LAST, e.g. 0-14") from None
    if low < 0 or high < low:
        raise argparse.ArgumentTypeError(f"{text!r}: want 0 <= FIRST <= LAST")
    return range(low, high + 1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument(
        "--indexes",
        type=index_range,
        default=None,
        metavar="FIRST-LAST",
        help="only these trial indexes, e.g. 0-14: the trials whose runs are in --home "
        "(a resumed benchmark may have kept earlier trials in another store)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=StatsSettings().alpha,
        help="the significance level to judge at (compare.alpha; default %(default)s): "
        "what a looser or stricter level would have said on the same measurements",
    )
    args = parser.parse_args(argv)
    data = json.loads(args.json.read_text(encoding="utf-8"))
    order = {(m, s): i for i, (m, s) in enumerate((m, s) for m in MODES for s in ORDER)}
    trials = sorted(
        (t for t in data["trials"] if args.indexes is None or t["index"] in args.indexes),
        key=lambda t: (t["index"], order[t["mode"], t["scenario"]]),
    )
    store = open_store(args.home)
    try:
        pairs = match_runs(store, trials)
        cells: dict[tuple[str, str, bool], list[tuple[str, str]]] = {}
        for t, (run_id, base_id) in zip(trials, pairs, strict=True):
            verdict = _flagged(store, t["mode"], t["scenario"], run_id, base_id, args.alpha)
            cells.setdefault((t["mode"], t["scenario"], t["hog"]), []).append(
                (t["verdict"], verdict)
            )
    finally:
        store.close()
    print("mode         scenario  cpu hog  trials  flagged as run  flagged now  no-verdict now")
    for (mode, scenario, hog), pairs_ in sorted(cells.items()):
        was = sum(1 for v, _ in pairs_ if v == "regression")
        now = sum(1 for _, v in pairs_ if v == "regression")
        nv = sum(1 for _, v in pairs_ if v == "no-verdict")
        print(
            f"{mode:12s} {scenario:9s} {'yes' if hog else 'no':8s} {len(pairs_):6d}  "
            f"{was:13d}  {now:11d}  {nv:14d}"
        )
    print(f"(judged now at alpha {args.alpha:g})")


if __name__ == "__main__":
    main()
