"""Where the noise of a side-by-side comparison comes from, on a kept ``verdict_quality`` store.

For each interleaved (or duet) trial of ``--json`` whose runs are in ``--home``,
on the slowed operation's p95, as a log ratio head/base of the pooled block
histograms:

* ``swap sd``: the spread of the statistic when the rounds' sides are swapped at
  random, which is what the paired test's interval is made of (sampling noise
  plus machine noise slower than a turn);
* ``iid sd``: the spread when each side's requests are resampled from its own
  pooled histogram: the requests' sampling noise alone, the floor any test of
  this many requests has;
* ``across sd``: the spread of the observed ratio across the trials of a cell.
  Above the swap spread, the runs differ by more than the test allows for
  (whole-run offsets between deployments).

    .venv/bin/python -m bench.verdict_noise --home .bench-verdict-turns-home \\
        --json bench/results/verdict_quality_turns_30s.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.verdict_quality import ORDER, SIDE_BY_SIDE, SLOWED
from plog_ci.analysis.pooled_quantiles import BlockGrid
from plog_ci.analysis.stored_runs import interleaved_sides
from plog_ci.runner.histogram import Histogram
from plog_ci.store.sqlite import open_store

Q = 0.95


@dataclass(frozen=True)
class Noise:
    observed: float  # log(p95 head / p95 base)
    swap_sd: float
    iid_sd: float


def noise(
    base: Sequence[Histogram], head: Sequence[Histogram], rng: np.random.Generator, draws: int
) -> Noise:
    """The figures of one run, from its paired blocks (round i of each side)."""
    n = min(len(base), len(head))
    if n < 2:
        raise ValueError("need at least two rounds")
    grid = BlockGrid(list(base[:n]), list(head[:n]))
    old, new = grid.old.sum(axis=0), grid.new.sum(axis=0)
    before, after = grid.quantile(np.stack([old, new]), Q)
    observed = math.log(after / before)
    flips = rng.integers(0, 2, size=(draws, n)).astype(float)
    swapped = grid.swapped(flips, Q)
    n_old, n_new = int(old.sum()), int(new.sum())
    again_old = rng.multinomial(n_old, old / n_old, size=draws).astype(float)
    again_new = rng.multinomial(n_new, new / n_new, size=draws).astype(float)
    iid = np.log(grid.quantile(again_new, Q) / grid.quantile(again_old, Q))
    return Noise(observed, float(np.std(swapped)), float(np.std(iid)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--draws", type=int, default=2000, help="swaps and resamples per run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    data = json.loads(args.json.read_text(encoding="utf-8"))
    rng = np.random.default_rng(args.seed)
    cells: dict[tuple[str, str, bool], list[Noise]] = {}
    store = open_store(args.home)
    try:
        for t in data["trials"]:
            if t["mode"] not in SIDE_BY_SIDE or not isinstance(t.get("run_id"), int):
                continue
            base, head = interleaved_sides(store, t["run_id"])
            found = noise(
                base.samples[SLOWED].histograms, head.samples[SLOWED].histograms, rng, args.draws
            )
            cells.setdefault((t["mode"], t["scenario"], t["hog"]), []).append(found)
    finally:
        store.close()
    print(
        f"{SLOWED} p95, log ratio head/base: mean and sd across the trials of the observed "
        "ratio; swap and iid sd: the median of the runs'"
    )
    print("mode         scenario  cpu hog  trials  mean    swap sd  iid sd  across sd")
    for (mode, scenario, hog), rows in sorted(
        cells.items(), key=lambda kv: (kv[0][0], ORDER.index(kv[0][1]), kv[0][2])
    ):
        observed = [r.observed for r in rows]
        print(
            f"{mode:12s} {scenario:9s} {'yes' if hog else 'no':8s} {len(rows):6d}  "
            f"{statistics.fmean(observed):+.3f}  "
            f"{statistics.median(r.swap_sd for r in rows):7.3f}  "
            f"{statistics.median(r.iid_sd for r in rows):6.3f}  "
            f"{statistics.pstdev(observed):9.3f}"
        )


if __name__ == "__main__":
    main()
