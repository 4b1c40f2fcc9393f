"""The significance tests of one operation and metric, before the family's adjustment.

Latency and throughput blocks: Mann–Whitney U with a bootstrap CI of the ratio of
medians; paired (interleaved) blocks: Wilcoxon signed-rank on the log ratios with a
bootstrap CI of the median pair ratio, or the paired pooled-quantile test when the
blocks kept histograms; error rates: two-proportion z-test or Fisher's exact test
with a Katz CI of the rate ratio. Each test fills a :class:`Draft`; ``analysis.stats``
adjusts the p-values (:func:`adjust_p_values`) and gives the verdicts.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

from plog_ci.analysis.comparison import StatsSettings
from plog_ci.analysis.pooled_quantiles import pooled_paired
from plog_ci.analysis.samples import OperationSamples
from plog_ci.errors import InputError

_QUANTILE = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


@dataclass
class Draft:
    """A comparison before the multiple-comparison adjustment."""

    operation: str
    metric: str
    old: float | None = None
    new: float | None = None
    delta_pct: float | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    min_p: float = 0.0  # smallest p-value the test could give with these sample sizes
    no_verdict: str = ""
    constant: str = ""  # why the test is left out of the family: it could not reject
    n_old: int = 0
    n_new: int = 0
    test: str = ""
    notes: list[str] = field(default_factory=list)


def seeded_rng(settings: StatsSettings, operation: str, metric: str) -> np.random.Generator:
    # Seeded per (operation, metric), so a result does not depend on the order of operations.
    key = zlib.crc32(f"{operation}\0{metric}".encode())
    return np.random.default_rng([settings.seed, key])


def pct_change(ratio: float) -> float:
    return (ratio - 1.0) * 100.0


def _bootstrap_paired_ci(
    log_ratios: NDArray[np.float64], settings: StatsSettings, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile bootstrap CI of the median pair ratio, at confidence 1 - alpha."""
    idx = rng.integers(0, log_ratios.size, size=(settings.bootstrap_resamples, log_ratios.size))
    medians = np.median(log_ratios[idx], axis=1)
    lo, hi = np.quantile(medians, [settings.alpha / 2, 1 - settings.alpha / 2])
    return pct_change(math.exp(float(lo))), pct_change(math.exp(float(hi)))


def _bootstrap_ratio_ci(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    paired: bool,
    settings: StatsSettings,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Percentile bootstrap CI of median(b) / median(a), at confidence 1 - alpha."""
    r = settings.bootstrap_resamples
    idx_a = rng.integers(0, a.size, size=(r, a.size))
    idx_b = idx_a if paired else rng.integers(0, b.size, size=(r, b.size))
    med_a = np.median(a[idx_a], axis=1)
    med_b = np.median(b[idx_b], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(med_a > 0, med_b / np.where(med_a > 0, med_a, 1.0), np.inf)
    lo, hi = np.quantile(ratios, [settings.alpha / 2, 1 - settings.alpha / 2])
    return pct_change(float(lo)), pct_change(float(hi))


def compare_values(
    draft: Draft, a: NDArray[np.float64], b: NDArray[np.float64], settings: StatsSettings
) -> None:
    draft.n_old, draft.n_new = int(a.size), int(b.size)
    # Show the medians even when there is no verdict: the reader still wants the numbers.
    old = float(np.median(a)) if a.size else math.nan
    new = float(np.median(b)) if b.size else math.nan
    draft.old = old if a.size else None
    draft.new = new if b.size else None
    if a.size < settings.min_blocks or b.size < settings.min_blocks:
        draft.no_verdict = (
            f"too few blocks ({a.size} old, {b.size} new; need {settings.min_blocks} each)"
        )
        return
    if old <= 0:
        draft.no_verdict = f"baseline {draft.metric} is zero"
        return
    draft.delta_pct = pct_change(new / old)
    paired = settings.paired and a.size == b.size
    if paired:
        # Machine noise multiplies latency, so pairs are compared as log ratios: a
        # slow moment then weighs no more than a fast one. Zeros fall back to differences.
        logs = bool(np.all(a > 0) and np.all(b > 0))
        diff = np.log(b) - np.log(a) if logs else b - a
        if np.all(diff == 0):
            draft.p_value = 1.0
        else:
            draft.p_value = float(sps.wilcoxon(diff).pvalue)
        draft.min_p = 2.0 / 2.0**a.size
        draft.test = "wilcoxon-signed-rank"
        if logs:
            # The effect is the median pair ratio: the medians of each side would
            # mix blocks from different machine states and throw the pairing away.
            draft.delta_pct = pct_change(math.exp(float(np.median(diff))))
            draft.ci = _bootstrap_paired_ci(
                diff, settings, seeded_rng(settings, draft.operation, draft.metric)
            )
            return
    else:
        if np.ptp(np.concatenate([a, b])) == 0:
            draft.p_value = 1.0  # all equal: nothing to test
        else:
            draft.p_value = float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
        draft.min_p = 2.0 / math.comb(a.size + b.size, a.size)
        draft.test = "mann-whitney-u"
    draft.ci = _bootstrap_ratio_ci(
        a, b, paired, settings, seeded_rng(settings, draft.operation, draft.metric)
    )


def compare_pooled(
    draft: Draft,
    a: OperationSamples,
    b: OperationSamples,
    both: NDArray[np.bool_],
    settings: StatsSettings,
) -> bool:
    """The paired pooled-quantile test; False when it does not apply (then the caller
    falls back to the signed-rank test on per-block values)."""
    pairs = [i for i in range(len(a.counts)) if both[i]]
    draft.n_old = draft.n_new = len(pairs)
    if len(pairs) < settings.min_blocks:
        return False
    result = pooled_paired(
        [a.histograms[i] for i in pairs],
        [b.histograms[i] for i in pairs],
        _QUANTILE[draft.metric],
        alpha=settings.alpha,
        permutations=settings.permutations,
        rng=seeded_rng(settings, draft.operation, draft.metric),
    )
    if result is None:
        return False
    draft.old, draft.new = result.old_ms, result.new_ms
    draft.delta_pct = pct_change(result.ratio)
    draft.p_value, draft.min_p = result.p_value, result.min_p
    draft.ci = (pct_change(result.ci_ratio[0]), pct_change(result.ci_ratio[1]))
    draft.test = "paired-permutation-pooled" + ("" if result.exact else " (monte carlo)")
    return True


def compare_errors(
    draft: Draft, old: OperationSamples, new: OperationSamples, settings: StatsSettings
) -> None:
    n1, n2 = sum(old.counts), sum(new.counts)
    f1, f2 = sum(old.failures), sum(new.failures)
    draft.n_old, draft.n_new = n1, n2
    if n1 < settings.min_requests or n2 < settings.min_requests:
        draft.no_verdict = (
            f"too few requests ({n1} old, {n2} new; need {settings.min_requests} each)"
        )
        return
    p1, p2 = f1 / n1, f2 / n2
    draft.old, draft.new = p1, p2
    if p1 == 0:
        draft.delta_pct = 0.0 if p2 == 0 else math.inf
    else:
        draft.delta_pct = pct_change(p2 / p1)
    pooled = (f1 + f2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        # No failures (or nothing but failures) on both sides: no test could reject,
        # so, as in Tarone's procedure, it leaves the multiple-comparison family.
        draft.p_value = 1.0
        draft.test = "two-proportion-z"
        draft.constant = "no failures on either side" if pooled == 0 else "every request failed"
    elif min(n1 * pooled, n2 * pooled, n1 * (1 - pooled), n2 * (1 - pooled)) < 5:
        table = [[f1, n1 - f1], [f2, n2 - f2]]
        draft.p_value = float(sps.fisher_exact(table).pvalue)
        draft.test = "fisher-exact"
    else:
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (p2 - p1) / se
        draft.p_value = float(2 * sps.norm.sf(abs(z)))
        draft.test = "two-proportion-z"
    if f1 == 0 and f2 == 0:
        return  # no failures on either side: nothing to bound
    # Katz log CI of the rate ratio; +0.5 (Haldane) keeps zero counts finite.
    a, b = f1 + 0.5, f2 + 0.5
    log_rr = math.log((b / (n2 + 0.5)) / (a / (n1 + 0.5)))
    se_log = math.sqrt(1 / a - 1 / (n1 + 0.5) + 1 / b - 1 / (n2 + 0.5))
    zq = float(sps.norm.ppf(1 - settings.alpha / 2))
    draft.ci = (
        pct_change(math.exp(log_rr - zq * se_log)),
        pct_change(math.exp(log_rr + zq * se_log)),
    )
    if abs(p2 - p1) < settings.min_error_rate_delta:
        draft.notes.append(
            f"difference {abs(p2 - p1) * 100:.3f} points is below the minimum "
            f"{settings.min_error_rate_delta * 100:.3f}"
        )


def adjust_p_values(p_values: Sequence[float], method: str) -> list[float]:
    """Holm step-down (family-wise error) or Benjamini–Hochberg (false discovery rate)."""
    m = len(p_values)
    if m == 0 or method == "none":
        return list(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p_values[i]))
            adjusted[i] = running
    elif method == "bh":
        running = 1.0
        for rank in range(m - 1, -1, -1):
            i = order[rank]
            running = min(running, p_values[i] * m / (rank + 1))
            adjusted[i] = min(1.0, running)
    else:
        raise InputError(f"unknown correction {method!r}", hint="use holm, bh or none")
    return adjusted
