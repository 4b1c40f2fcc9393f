"""Paired test of a latency quantile on pooled histograms (interleaved runs).

A block of an interleaved run holds a few dozen requests per operation, so its
own p95 is the third-largest value or so. A test on per-block p95s therefore
judges a different figure from the run's p95 the report shows (the small-sample
p95 sits lower, and a slowdown that adds a fixed time moves it by another
share), and a per-block p99 of 30 requests is simply the maximum. Here each
side's blocks are merged into one histogram (exact for native histograms) and
the quantile of the merge is compared, so the test is about the run's own p95,
while the rounds stay the unit of replication:

* **p-value**: a paired randomization test. The order of base and head was
  drawn at random in every round, so when nothing changed the two blocks of a
  round are exchangeable. Swapping sides in any subset of rounds gives the
  statistic's null distribution (all ``2**n`` swaps when few, else a seeded
  Monte Carlo sample); the statistic is the log ratio of the pooled quantiles.
* **confidence interval**: the same test inverted under a shift of the log
  latencies: the observed log ratio plus or minus the ``1 - alpha`` quantile of
  the relabelled statistic's magnitude. It excludes 0 exactly when the test
  rejects at ``alpha``, so the p-value and the interval never disagree (a
  cluster bootstrap of 20 rounds gave intervals far wider than the test).

A burst of machine noise that slows one block widens the relabelled
distribution as much as it moves the observed ratio, so it makes the test
cautious ("within noise"), not wrong.

Inputs are :class:`~plog_ci.runner.histogram.Histogram` objects (values in
seconds); quantiles are read the way ``Histogram.quantile`` reads them, so the
pooled figure matches the merged histogram the report shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from plog_ci.runner.histogram import Histogram

# Above this many rounds the swaps are sampled rather than enumerated (2**13 = 8192).
EXACT_MAX_ROUNDS = 13


@dataclass(frozen=True)
class PooledResult:
    old_ms: float  # pooled quantile of the base side
    new_ms: float
    ratio: float  # new / old
    p_value: float
    min_p: float  # smallest p-value this design could give
    ci_ratio: tuple[float, float]  # CI of the ratio at 1 - alpha (the inverted test)
    rounds: int
    exact: bool  # every swap enumerated (else Monte Carlo)


class BlockGrid:
    """Blocks of both sides on one bucket grid: counts, and each column's bounds."""

    def __init__(self, old: Sequence[Histogram], new: Sequence[Histogram]) -> None:
        schema = min(h.schema for h in (*old, *new))
        reduced_old = [h.reduce_to(schema) for h in old]
        reduced_new = [h.reduce_to(schema) for h in new]
        indices = sorted({i for h in (*reduced_old, *reduced_new) for i in h.buckets})
        column = {index: c + 1 for c, index in enumerate(indices)}  # column 0: zero bucket
        base = 2.0 ** (2.0**-schema)
        # Column 0 reads as 0, like Histogram.quantile does for the zero bucket.
        self.low = np.array([1.0] + [base ** (i - 1) for i in indices])
        self.high = np.array([1.0] + [base**i for i in indices])

        def matrix(hists: list[Histogram]) -> NDArray[np.float64]:
            out = np.zeros((len(hists), len(indices) + 1))
            for row, h in enumerate(hists):
                out[row, 0] = h.zero_count
                for index, value in h.buckets.items():
                    out[row, column[index]] = value
            return out

        self.old = matrix(reduced_old)
        self.new = matrix(reduced_new)

    def quantile(self, counts: NDArray[np.float64], q: float) -> NDArray[np.float64]:
        """The q-quantile of each row of ``counts`` (rows: merged histograms), seconds."""
        counts = np.atleast_2d(counts)
        total = counts.sum(axis=1)
        rank = q * total
        cumulative = np.cumsum(counts, axis=1)
        col = np.argmax(cumulative >= rank[:, None] - 1e-9 * total[:, None], axis=1)
        rows = np.arange(counts.shape[0])
        in_bucket = counts[rows, col]
        before = cumulative[rows, col] - in_bucket
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.clip(np.where(in_bucket > 0, (rank - before) / in_bucket, 1.0), 0, 1)
        low, high = self.low[col], self.high[col]
        value = low * (high / low) ** fraction
        value = np.where(col == 0, 0.0, value)
        result: NDArray[np.float64] = np.where(total > 0, value, np.nan)
        return result

    def swapped(self, swaps: NDArray[np.float64], q: float) -> NDArray[np.float64]:
        """log(head / base) of the pooled ``q``-quantile under each relabelling.

        ``swaps``: 0/1 rows, one per relabelling, 1 swapping base and head in that
        round. A side that pools to 0 gives an infinite or NaN entry.
        """
        moved = swaps @ (self.new - self.old)  # what each relabelling moves from head to base
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios: NDArray[np.float64] = np.log(
                self.quantile(self.new.sum(axis=0) - moved, q)
                / self.quantile(self.old.sum(axis=0) + moved, q)
            )
        return ratios


def _swaps(
    rounds: int, permutations: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], bool]:
    """0/1 rows, one per relabelling: 1 swaps base and head in that round."""
    if rounds <= EXACT_MAX_ROUNDS:
        codes = np.arange(2**rounds)[:, None]
        return ((codes >> np.arange(rounds)) & 1).astype(float), True
    return rng.integers(0, 2, size=(permutations, rounds)).astype(float), False


def pooled_paired(
    old: Sequence[Histogram],
    new: Sequence[Histogram],
    q: float,
    *,
    alpha: float,
    permutations: int,
    rng: np.random.Generator,
) -> PooledResult | None:
    """Compare the pooled ``q``-quantile of paired blocks; None when a side pools to 0."""
    if len(old) != len(new) or not old:
        raise ValueError("pooled_paired needs the same, non-zero number of blocks per side")
    grid = BlockGrid(old, new)
    n = len(old)
    sum_old, sum_new = grid.old.sum(axis=0), grid.new.sum(axis=0)
    q_old, q_new = grid.quantile(np.stack([sum_old, sum_new]), q)
    if not (q_old > 0 and q_new > 0):
        return None
    observed = math.log(q_new / q_old)

    swaps, exact = _swaps(n, permutations, rng)
    stat = np.abs(grid.swapped(swaps, q))
    # A relabelling whose quantile is 0 on a side counts as extreme (conservative).
    extreme = int(np.count_nonzero(~np.isfinite(stat) | (stat >= abs(observed) - 1e-12)))
    if exact:
        p_value, min_p = extreme / swaps.shape[0], 2.0 / swaps.shape[0]
    else:
        # The observed labelling is one of the permutations (Phipson & Smyth 2010).
        p_value = (extreme + 1) / (swaps.shape[0] + 1)
        min_p = 1.0 / (swaps.shape[0] + 1)

    # Under a shift of the log latencies, observed - true is distributed as the
    # relabelled statistic; its (1 - alpha) magnitude bounds the interval.
    finite = stat[np.isfinite(stat)]
    half = float(np.quantile(finite, 1 - alpha, method="higher")) if finite.size else math.inf
    low, high = math.exp(observed - half), math.exp(observed + half)
    return PooledResult(
        old_ms=float(q_old) * 1000.0,
        new_ms=float(q_new) * 1000.0,
        ratio=float(q_new / q_old),
        p_value=min(1.0, p_value),
        min_p=min_p,
        ci_ratio=(low, high),
        rounds=n,
        exact=exact,
    )
