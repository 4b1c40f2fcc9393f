"""Verdict quality of the statistics on synthetic runs (no service, seconds to run).

Each trial draws two runs of 30 blocks for 3 operations; one operation is
slowed by the shift. Block noise is log-normal; "shared" noise hits both runs
alike block by block (what interleaving buys), "drift" is a slow trend that
hits a sequential comparison only. Prints, per scenario, the share of trials
with a false regression (A/A) or with the shift detected, for the unpaired
test (sequential runs) and the paired test (interleaved blocks).

    .venv/bin/python -m bench stats_synthetic [--trials 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from plog_ci.analysis.comparison import StatsSettings
from plog_ci.analysis.samples import OperationSamples
from plog_ci.analysis.stats import compare_runs

OPS = ("GET /pets", "GET /pets/{petId}", "POST /pets")
BLOCKS = 30


def run(
    rng: np.random.Generator, shift: float, own: float, shared: np.ndarray, drift: np.ndarray
) -> dict[str, OperationSamples]:
    out = {}
    for i, op in enumerate(OPS):
        factor = shift if i == 0 else 1.0
        p95 = (20.0 + 5 * i) * factor * np.exp(rng.normal(0, own, BLOCKS) + shared + drift)
        counts = rng.poisson(200, BLOCKS)
        out[op] = OperationSamples(
            op,
            block_p95s=tuple(p95.tolist()),
            counts=tuple(int(c) for c in counts),
            failures=tuple(int(f) for f in rng.binomial(counts, 0.005)),
        )
    return out


def rate(
    trials: int, shift: float, own: float, shared_sd: float, drift_pct: float, paired: bool
) -> float:
    hits = 0
    settings = StatsSettings(paired=paired)
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        shared = rng.normal(0, shared_sd, BLOCKS)
        ramp = np.linspace(0, np.log1p(drift_pct / 100), BLOCKS)
        if paired:
            # Interleaved blocks: neighbours meet the same machine state and drift.
            old = run(rng, 1.0, own, shared, ramp)
            new = run(rng, shift, own, shared, ramp)
        else:
            # Sequential runs: independent machine noise, and the second run meets
            # a machine that has drifted by the end of the first.
            old = run(rng, 1.0, own, shared, np.zeros(BLOCKS))
            new = run(rng, shift, own, rng.normal(0, shared_sd, BLOCKS), ramp + ramp[-1])
        comparisons = compare_runs(old, new, settings)
        if any(c.verdict == "regression" for c in comparisons):
            hits += 1
    return hits / trials


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args(argv)
    start = time.monotonic()
    print(
        f"{args.trials} trials per cell, {BLOCKS} blocks per run, {len(OPS)} operations, "
        "alpha=0.01 Holm, minimum effect 5%"
    )
    print(f"{'scenario':44} {'sequential':>10} {'interleaved':>11}")
    scenarios = [
        ("A/A, 8% block noise", 1.00, 0.08, 0.0, 0.0),
        ("A/A, 8% + 20% machine noise, 5% drift", 1.00, 0.08, 0.20, 5.0),
        ("+25%, 8% block noise", 1.25, 0.08, 0.0, 0.0),
        ("+10%, 8% block noise", 1.10, 0.08, 0.0, 0.0),
        ("+25%, 8% + 20% machine noise, 5% drift", 1.25, 0.08, 0.20, 5.0),
        ("+10%, 8% + 20% machine noise, 5% drift", 1.10, 0.08, 0.20, 5.0),
    ]
    for name, shift, own, shared, drift in scenarios:
        seq = rate(args.trials, shift, own, shared, drift, paired=False)
        inter = rate(args.trials, shift, own, shared, drift, paired=True)
        label = "false regression" if shift == 1.0 else "detected"
        print(f"{name:44} {seq:>9.1%} {inter:>10.1%}   ({label})")
    print(f"took {time.monotonic() - start:.1f}s")


if __name__ == "__main__":
    main()
