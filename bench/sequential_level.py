"""Level and power of the sequential comparisons (issue 22) on synthetic rounds.

Level: ``--sequences`` A/A sequences of ``--looks`` rounds each, decided by
``plog_ci.analysis.sequential.decide`` itself at every look; a false alarm is a
"regression" decided at any look (gate ``p95 <= +0%``, minimum effect 0, so any
significant increase counts). Per-round log ratios from (a) a normal, (b) Student t
with 3 degrees of freedom, (c) "block p95": each side's round p95 taken from 150
log-normal requests (sigma 0.5) with 2% of them 5x slower, times a per-side machine
factor exp(0.03 t3); and a family of 5 normal sequences at the same alpha
(Bonferroni). Rates with Clopper-Pearson 95% intervals.

Power: two operations (the one slowed, one unchanged), gate ``p95 <= +5%`` on both
(as bench/verdict_quality), alpha 0.01, per-round noise 0.10 (quiet runner) and
0.25 (beside the CPU hog) in log ratio (docs/sequential.md derives both from
docs/statistics.md), at most ``--max-rounds`` rounds; the test stops as
``should_stop`` says. Beside it, the fixed test at 20 rounds (a t-test at alpha/2
with the estimate beyond the gate, as the relative gates decide today).

    .venv/bin/python -m bench sequential_level [--sequences 10000] [--looks 60]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

from plog_ci.analysis.sequential import Limit, Rule, decide, should_stop

ROUND_S = 1.5  # seconds of load per side in a round (30 s / 20 rounds)


def clopper_pearson(hits: int, n: int) -> tuple[float, float]:
    lo = float(sps.beta.ppf(0.025, hits, n - hits + 1)) if hits else 0.0
    hi = float(sps.beta.ppf(0.975, hits + 1, n - hits)) if hits < n else 1.0
    return lo, hi


def _block_p95(rng: np.random.Generator, shape: tuple[int, int]) -> NDArray[np.float64]:
    requests = rng.lognormal(0.0, 0.5, (*shape, 150))
    slow = rng.random((*shape, 150)) < 0.02
    requests = np.where(slow, requests * 5, requests)
    p95 = np.quantile(requests, 0.95, axis=-1)
    return np.asarray(p95 * np.exp(0.03 * rng.standard_t(3, shape)), dtype=float)


def draws(kind: str, rng: np.random.Generator, n: int, looks: int) -> NDArray[np.float64]:
    """A/A log ratios, shape (n, looks)."""
    if kind == "normal":
        return rng.normal(0.0, 0.1, (n, looks))
    if kind == "t3":
        return 0.1 * rng.standard_t(3, (n, looks))
    if kind == "block p95":
        return np.log(_block_p95(rng, (n, looks))) - np.log(_block_p95(rng, (n, looks)))
    raise ValueError(kind)


def level(d: NDArray[np.float64], alpha: float, family: int, min_rounds: int) -> tuple[int, int]:
    """False alarms (any "regression" at any look) over the rows of d, taken
    ``family`` rows per family; returns (alarms, families)."""
    limits = {k: Limit(0.0) for k in range(family)}
    alarms = 0
    rows = d.shape[0] - d.shape[0] % family
    for start in range(0, rows, family):
        paired = {k: d[start + k].tolist() for k in range(family)}
        v = decide(paired, limits, alpha=alpha, min_effect_pct=0.0, min_rounds=min_rounds)
        alarms += any(x.decision == "regression" for x in v.decisions)
    return alarms, rows // family


def fixed_test(slowed: NDArray[np.float64], alpha: float, gate_pct: float) -> bool:
    t = sps.ttest_1samp(slowed, 0.0)
    return bool(t.pvalue < alpha and slowed.mean() > math.log1p(gate_pct / 100))


def power(
    rng: np.random.Generator,
    effect_pct: float,
    sd: float,
    rule: Rule,
    n: int,
    max_rounds: int,
    alpha: float,
    gate_pct: float,
    beta: float | None = None,
) -> dict[str, float]:
    keys = ("slowed", "unchanged")
    limits = {k: Limit(gate_pct) for k in keys}
    outcome = {"regression": 0, "within": 0, "undecided": 0}
    lengths, fixed = [], 0
    for _ in range(n):
        d = {
            "slowed": math.log1p(effect_pct / 100) + rng.normal(0.0, sd, max_rounds),
            "unchanged": rng.normal(0.0, sd, max_rounds),
        }
        fixed += fixed_test(d["slowed"][:20], alpha / 2, gate_pct)
        # The pipeline calls decide after every round. Decisions are sticky and
        # decided_at is the first prefix that decided, so one call on all the rounds
        # gives the round where should_stop first says yes; checked on that prefix.
        full = decide({k: d[k].tolist() for k in keys}, limits, alpha=alpha, rule=rule, beta=beta)
        at = {x.key: x.decided_at for x in full.decisions}
        regressions = [a for x in full.decisions if x.decision == "regression" for a in [at[x.key]]]
        if regressions:
            stop = min(r for r in regressions if r is not None)
        elif all(a is not None for a in at.values()):
            stop = max(a for a in at.values() if a is not None)
        else:
            stop = max_rounds
        v = decide(
            {k: d[k][:stop].tolist() for k in keys}, limits, alpha=alpha, rule=rule, beta=beta
        )
        if not should_stop(v, max_rounds)[0]:
            raise AssertionError(f"should_stop disagrees at round {stop}")
        lengths.append(stop)
        outcome[v.decisions[0].decision] += 1
    return {
        **{k: c / n for k, c in outcome.items()},
        "median_rounds": float(np.median(lengths)),
        "fixed20": fixed / n,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--sequences", type=int, default=10000)
    parser.add_argument("--looks", type=int, default=60)
    parser.add_argument("--power-sequences", type=int, default=1000)
    parser.add_argument("--max-rounds", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"level: {args.sequences} A/A sequences, {args.looks} looks, any regression = alarm")
    print("distribution   alpha  family  min_rounds  alarms  rate     95% CI")
    rows: list[tuple[str, float, int, int]] = [
        (kind, alpha, 1, 8) for kind in ("normal", "t3", "block p95") for alpha in (0.01, 0.05)
    ]
    rows += [("t3", 0.05, 1, 2), ("block p95", 0.05, 1, 2), ("normal", 0.05, 5, 8)]
    cache: dict[str, NDArray[np.float64]] = {}
    for kind, alpha, family, min_rounds in rows:
        if kind not in cache:
            rng = np.random.default_rng([args.seed, len(cache)])
            chunks = [draws(kind, rng, 1000, args.looks) for _ in range(args.sequences // 1000)]
            cache[kind] = np.concatenate(chunks) if chunks else np.zeros((0, args.looks))
        d = cache[kind]
        if family > 1:  # a family of `family` operations, each its own A/A sequence
            rng = np.random.default_rng([args.seed, 99])
            d = np.concatenate([d, rng.normal(0.0, 0.1, ((family - 1) * d.shape[0], args.looks))])
        alarms, n = level(d, alpha, family, min_rounds)
        lo, hi = clopper_pearson(alarms, n)
        print(
            f"{kind:13s}  {alpha:<5g}  {family:6d}  {min_rounds:10d}  {alarms:6d}  "
            f"{alarms / n:.4f}  [{lo:.4f}, {hi:.4f}]",
            flush=True,
        )
    sd_block = float(np.std(cache["block p95"])) if "block p95" in cache else math.nan
    print(f"(block p95 model: per-round sd of the log ratio {sd_block:.3f})")
    print(
        f"\npower: 2 operations, gate p95 <= +5%, alpha 0.01, at most {args.max_rounds} rounds, "
        f"{args.power_sequences} tests per row; rounds of {ROUND_S:g} s per side"
    )
    print(
        "noise  effect  rule         beta  regression  within  undecided  median rounds  "
        "(s per side)  fixed 20 rounds"
    )
    # beta None: "within" at the regression's level (alpha/m); 0.2: compare.beta's default.
    variants: tuple[tuple[Rule, float | None], ...] = (
        ("beyond", None),
        ("significant", None),
        ("significant", 0.2),
    )
    for sd in (0.10, 0.25):
        for effect in (0.0, 5.0, 10.0, 20.0, 38.0):
            for rule, beta in variants:
                rng = np.random.default_rng([args.seed, int(sd * 100), int(effect)])
                r = power(
                    rng, effect, sd, rule, args.power_sequences, args.max_rounds, 0.01, 5.0, beta
                )
                print(
                    f"{sd:<5g}  +{effect:<5g}  {rule:11s}  {beta or '-':>4}  "
                    f"{r['regression']:10.3f}  "
                    f"{r['within']:6.3f}  {r['undecided']:9.3f}  {r['median_rounds']:13g}  "
                    f"{r['median_rounds'] * ROUND_S:12g}  {r['fixed20']:15.3f}",
                    flush=True,
                )
    print(f"\n{time.monotonic() - started:.0f} s")
