"""Noise-aware comparison of two runs, operation by operation.

Input is one :class:`OperationSamples` per operation and run: the run is cut
into blocks (interleaved A/B blocks, or plain seconds), and each block gives
its own latency percentiles, request count and failure count. Blocks, not
requests, are the unit of replication: requests inside one block share the
machine's momentary state, so treating them as independent would turn every
hiccup into a "significant" change.

Per operation and metric the comparison yields a :class:`Comparison`:

* latency (``p50``/``p95``/``p99``): Mann–Whitney U on the per-block values
  and a seeded bootstrap confidence interval of the ratio of medians; when
  ``paired`` (interleaved blocks), Wilcoxon signed-rank on the pairs' log
  ratios and a bootstrap CI of the median pair ratio;
* ``error_rate``: two-proportion z-test on the pooled counts (Fisher's exact
  test when an expected cell is below 5), CI of the rate ratio (Katz log method);
* ``rps``: like latency, on per-block throughput (count / block length).

p-values are adjusted across the whole family (every operation and metric)
with Holm (default) or Benjamini–Hochberg. A change is claimed only when the
adjusted p-value is below ``alpha``, the CI excludes zero, and the effect is
at least ``min_effect_pct``. Too few blocks or requests give ``no-verdict``,
never a pass or a fail. See docs/statistics.md.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from hdrh.histogram import HdrHistogram
from numpy.typing import NDArray
from scipy import stats as sps

from plog_ci.analysis.pooled_quantiles import pooled_paired
from plog_ci.errors import InputError
from plog_ci.runner.histogram import Histogram

LATENCY_METRICS = ("p50", "p95", "p99")
_QUANTILE = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
METRICS = (*LATENCY_METRICS, "error_rate", "rps")
# Metrics where a higher value is worse; for the others (rps) lower is worse.
_HIGHER_IS_WORSE = {"p50": True, "p95": True, "p99": True, "error_rate": True, "rps": False}

VERDICTS = ("regression", "improvement", "unchanged", "no-verdict")


@dataclass(frozen=True)
class OperationSamples:
    """Per-block measurements of one operation in one run.

    Every non-empty sequence has one entry per block. Latencies are
    milliseconds; a block with ``counts[i] == 0`` may carry NaN percentiles
    and is left out of the latency and throughput tests. ``durations_s``
    empty means each block lasted one second (per-second series).
    """

    operation: str
    block_p50s: tuple[float, ...] = ()
    block_p95s: tuple[float, ...] = ()
    block_p99s: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    failures: tuple[int, ...] = ()
    durations_s: tuple[float, ...] = ()
    # Each block's latency histogram (seconds), when kept: paired comparisons then
    # test the quantile of the pooled blocks (see analysis.pooled_quantiles).
    histograms: tuple[Histogram, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.counts)
        where = f"samples of {self.operation!r}"
        for name in (
            "block_p50s",
            "block_p95s",
            "block_p99s",
            "failures",
            "durations_s",
            "histograms",
        ):
            values = getattr(self, name)
            if values and len(values) != n:
                raise InputError(
                    f"{where}: {name} has {len(values)} blocks but counts has {n}",
                    hint="give one value per block in every sequence",
                )
        for i, c in enumerate(self.counts):
            if not isinstance(c, int) or isinstance(c, bool) or c < 0:
                raise InputError(f"{where}: counts[{i}] = {c!r} is not a count")
        for i, f in enumerate(self.failures):
            if not isinstance(f, int) or isinstance(f, bool) or f < 0 or f > self.counts[i]:
                raise InputError(f"{where}: failures[{i}] = {f!r} is not a count <= counts[{i}]")
        for i, d in enumerate(self.durations_s):
            if not (isinstance(d, int | float) and math.isfinite(d) and d > 0):
                raise InputError(f"{where}: durations_s[{i}] = {d!r} is not a positive number")
        for name in ("block_p50s", "block_p95s", "block_p99s"):
            for i, v in enumerate(getattr(self, name)):
                ok = isinstance(v, int | float) and not isinstance(v, bool)
                if ok and math.isnan(v):
                    ok = self.counts[i] == 0  # an empty block has no percentile
                elif ok:
                    ok = math.isfinite(v) and v >= 0
                if not ok:
                    raise InputError(
                        f"{where}: {name}[{i}] = {v!r} is not a latency in ms",
                        hint="latencies are finite, non-negative milliseconds",
                    )

    def latency(self, metric: str) -> NDArray[np.float64]:
        values = np.asarray(getattr(self, f"block_{metric}s"), dtype=float)
        if values.size == 0:
            return values
        return values[np.asarray(self.counts) > 0]

    def throughput(self) -> NDArray[np.float64]:
        counts = np.asarray(self.counts, dtype=float)
        durations = np.asarray(self.durations_s or (1.0,) * len(counts), dtype=float)
        rates: NDArray[np.float64] = counts / durations
        return rates


@dataclass(frozen=True)
class RunLevelSamples:
    """One latency metric of one operation, run by run (sequential comparisons).

    Two runs measured minutes apart differ by more than their seconds suggest: the
    machine drifts between them. So a sequential comparison takes the run as its
    unit: ``old`` holds the metric of each baseline run (ms), ``new`` the head's,
    and ``sigma`` the run-to-run standard deviation of the log metric, pooled over
    repeated runs of the same commits (``df`` degrees of freedom); None when the
    store holds no repeated runs to measure it.
    """

    old: tuple[float, ...]
    new: float
    sigma: float | None
    df: int


@dataclass(frozen=True)
class StatsSettings:
    alpha: float = 0.01  # family-wise (Holm) or false-discovery (BH) level
    correction: str = "holm"  # "holm" | "bh" | "none"
    min_effect_pct: float = 5.0  # smaller changes are reported as unchanged
    min_error_rate_delta: float = 0.001  # absolute: 0.1 percentage point
    min_blocks: int = 6
    min_requests: int = 100  # per run, for the error-rate test
    bootstrap_resamples: int = 2000
    # Monte Carlo relabellings of the paired pooled-quantile test (min p = 1/20000).
    permutations: int = 19999
    seed: int = 0
    # Sequential comparisons: degrees of freedom of the run-to-run noise needed for a verdict.
    min_noise_df: int = 3
    paired: bool = False  # blocks i of both runs are interleaved neighbours
    metrics: tuple[str, ...] = ("p95", "error_rate", "rps")

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise InputError(f"stats alpha {self.alpha!r} must lie strictly between 0 and 1")
        if self.correction not in ("holm", "bh", "none"):
            raise InputError(f"unknown correction {self.correction!r}", hint="use holm, bh or none")
        if self.min_effect_pct < 0 or self.min_error_rate_delta < 0:
            raise InputError("minimum effect sizes must not be negative")
        if self.min_blocks < 2:
            raise InputError(f"min_blocks {self.min_blocks} must be at least 2")
        if self.bootstrap_resamples < 100:
            raise InputError("bootstrap_resamples must be at least 100")
        if self.permutations < 999:
            raise InputError("permutations must be at least 999")
        for m in self.metrics:
            if m not in METRICS:
                raise InputError(
                    f"unknown metric {m!r} to compare", hint=f"use one of {', '.join(METRICS)}"
                )


@dataclass(frozen=True)
class Comparison:
    """One operation and metric: baseline (old) against the new run."""

    operation: str
    metric: str
    old: float | None
    new: float | None
    delta_pct: float | None  # (new - old) / old * 100; inf when old is 0 and new is not
    ci_low_pct: float | None
    ci_high_pct: float | None
    p_value: float | None
    p_adjusted: float | None
    verdict: str  # one of VERDICTS
    reason: str
    n_old: int = 0  # blocks (latency, rps) or requests (error_rate)
    n_new: int = 0
    test: str = ""
    significant: bool = False

    def to_dict(self) -> dict[str, Any]:
        def num(v: float | None) -> float | str | None:
            if v is None:
                return None
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return round(v, 6)

        return {
            "operation": self.operation,
            "metric": self.metric,
            "old": num(self.old),
            "new": num(self.new),
            "delta_pct": num(self.delta_pct),
            "ci_low_pct": num(self.ci_low_pct),
            "ci_high_pct": num(self.ci_high_pct),
            "p_value": num(self.p_value),
            "p_adjusted": num(self.p_adjusted),
            "verdict": self.verdict,
            "reason": self.reason,
            "n_old": self.n_old,
            "n_new": self.n_new,
            "test": self.test,
            "significant": self.significant,
        }


@dataclass
class _Draft:
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


def _rng(settings: StatsSettings, operation: str, metric: str) -> np.random.Generator:
    # Seeded per (operation, metric), so a result does not depend on the order of operations.
    key = zlib.crc32(f"{operation}\0{metric}".encode())
    return np.random.default_rng([settings.seed, key])


def _pct(ratio: float) -> float:
    return (ratio - 1.0) * 100.0


def _bootstrap_paired_ci(
    log_ratios: NDArray[np.float64], settings: StatsSettings, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile bootstrap CI of the median pair ratio, at confidence 1 - alpha."""
    idx = rng.integers(0, log_ratios.size, size=(settings.bootstrap_resamples, log_ratios.size))
    medians = np.median(log_ratios[idx], axis=1)
    lo, hi = np.quantile(medians, [settings.alpha / 2, 1 - settings.alpha / 2])
    return _pct(math.exp(float(lo))), _pct(math.exp(float(hi)))


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
    return _pct(float(lo)), _pct(float(hi))


def _compare_values(
    draft: _Draft, a: NDArray[np.float64], b: NDArray[np.float64], settings: StatsSettings
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
    draft.delta_pct = _pct(new / old)
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
            draft.delta_pct = _pct(math.exp(float(np.median(diff))))
            draft.ci = _bootstrap_paired_ci(
                diff, settings, _rng(settings, draft.operation, draft.metric)
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
        a, b, paired, settings, _rng(settings, draft.operation, draft.metric)
    )


def _compare_pooled(
    draft: _Draft,
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
        rng=_rng(settings, draft.operation, draft.metric),
    )
    if result is None:
        return False
    draft.old, draft.new = result.old_ms, result.new_ms
    draft.delta_pct = _pct(result.ratio)
    draft.p_value, draft.min_p = result.p_value, result.min_p
    draft.ci = (_pct(result.ci_ratio[0]), _pct(result.ci_ratio[1]))
    draft.test = "paired-permutation-pooled" + ("" if result.exact else " (monte carlo)")
    return True


def _compare_run_level(draft: _Draft, found: RunLevelSamples, settings: StatsSettings) -> None:
    """The head run against the baseline runs, allowing for run-to-run noise (a t-test
    of one new run against the baseline mean, on log values)."""
    old = np.asarray(found.old, dtype=float)
    draft.n_old, draft.n_new = int(old.size), 1
    draft.test = "run-level-t"
    if old.size == 0 or np.any(old <= 0) or found.new <= 0:
        draft.no_verdict = f"no positive {draft.metric} in both runs"
        return
    mean_log = float(np.mean(np.log(old)))
    draft.old, draft.new = math.exp(mean_log), found.new
    diff = math.log(found.new) - mean_log
    draft.delta_pct = _pct(math.exp(diff))
    if found.sigma is None or found.df < settings.min_noise_df:
        draft.no_verdict = (
            f"run-to-run noise unknown ({found.df} degrees of freedom from repeated runs of "
            f"the same commits; need {settings.min_noise_df}): a sequential comparison "
            "cannot tell a change from the machine's drift between two runs; use "
            "compare.mode: interleaved, or run unchanged commits again"
        )
        return
    scale = found.sigma * math.sqrt(1.0 + 1.0 / old.size)
    if scale == 0:
        draft.p_value = 1.0 if diff == 0 else 0.0
        draft.ci = (draft.delta_pct, draft.delta_pct)
        return
    t = diff / scale
    draft.p_value = float(2 * sps.t.sf(abs(t), found.df))
    half = float(sps.t.ppf(1 - settings.alpha / 2, found.df)) * scale
    draft.ci = (_pct(math.exp(diff - half)), _pct(math.exp(diff + half)))


def run_noise(groups: Iterable[Sequence[float]]) -> tuple[float | None, int]:
    """Pooled standard deviation of log values within groups (runs of one commit).

    Returns (sigma, degrees of freedom); sigma is None without any repeated run.
    """
    ss, df = 0.0, 0
    for group in groups:
        logs = np.log(np.asarray([v for v in group if v > 0], dtype=float))
        if logs.size >= 2:
            ss += float(np.sum((logs - logs.mean()) ** 2))
            df += int(logs.size) - 1
    return (math.sqrt(ss / df), df) if df else (None, 0)


def _compare_errors(
    draft: _Draft, old: OperationSamples, new: OperationSamples, settings: StatsSettings
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
        draft.delta_pct = _pct(p2 / p1)
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
    draft.ci = (_pct(math.exp(log_rr - zq * se_log)), _pct(math.exp(log_rr + zq * se_log)))
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


def compare_runs(
    old: Mapping[str, OperationSamples],
    new: Mapping[str, OperationSamples],
    settings: StatsSettings | None = None,
    run_level: Mapping[tuple[str, str], RunLevelSamples] | None = None,
) -> list[Comparison]:
    """Compare every operation present in either run; sorted by operation, then metric.

    ``run_level`` (sequential comparisons): latency metrics are judged run against
    run, with the run-to-run noise, instead of second against second.
    """
    settings = settings or StatsSettings()
    drafts: list[_Draft] = []
    for operation in sorted(set(old) | set(new)):
        a, b = old.get(operation), new.get(operation)
        for metric in settings.metrics:
            draft = _Draft(operation, metric)
            drafts.append(draft)
            if run_level is not None and metric in LATENCY_METRICS:
                found = run_level.get((operation, metric))
                if found is None:
                    draft.no_verdict = f"no run-level {metric} of {operation} in both runs"
                else:
                    _compare_run_level(draft, found, settings)
                continue
            if a is None or b is None:
                draft.no_verdict = (
                    "operation not in the baseline run"
                    if a is None
                    else "operation not in the new run"
                )
                continue
            if metric == "error_rate":
                _compare_errors(draft, a, b, settings)
            elif metric == "rps":
                _compare_values(draft, a.throughput(), b.throughput(), settings)
            elif settings.paired and len(a.counts) == len(b.counts):
                # Drop a pair when either block is empty, so the pairs stay aligned.
                both = (np.asarray(a.counts) > 0) & (np.asarray(b.counts) > 0)
                if a.histograms and b.histograms and _compare_pooled(draft, a, b, both, settings):
                    continue
                va = np.asarray(getattr(a, f"block_{metric}s"), dtype=float)
                vb = np.asarray(getattr(b, f"block_{metric}s"), dtype=float)
                if va.size and vb.size:
                    va, vb = va[both], vb[both]
                _compare_values(draft, va, vb, settings)
            else:
                _compare_values(draft, a.latency(metric), b.latency(metric), settings)

    tested = [d for d in drafts if not d.no_verdict and not d.constant and d.p_value is not None]
    family = len(tested)
    # Holm's first step needs p < alpha / family; a test that cannot get there with
    # its sample sizes could only ever say "unchanged", which would be a false pass.
    for d in tested:
        # BH at best (every p tiny) and no correction compare with alpha itself.
        limit = settings.alpha / family if settings.correction == "holm" else settings.alpha
        if d.min_p >= limit:
            d.no_verdict = (
                f"too few blocks ({d.n_old} old, {d.n_new} new) to reach "
                f"significance at alpha={settings.alpha:g} over {family} tests"
            )
    tested = [d for d in tested if not d.no_verdict]
    adjusted = adjust_p_values(
        [d.p_value for d in tested if d.p_value is not None], settings.correction
    )
    adj_of = {id(d): p for d, p in zip(tested, adjusted, strict=True)}
    return [_finish(d, adj_of.get(id(d)), settings) for d in drafts]


def _finish(d: _Draft, p_adj: float | None, settings: StatsSettings) -> Comparison:
    ci_low, ci_high = d.ci if d.ci else (None, None)

    def make(verdict: str, reason: str, significant: bool = False) -> Comparison:
        return Comparison(
            d.operation,
            d.metric,
            d.old,
            d.new,
            d.delta_pct,
            ci_low,
            ci_high,
            d.p_value,
            p_adj,
            verdict,
            reason,
            d.n_old,
            d.n_new,
            d.test,
            significant,
        )

    if d.constant and not d.no_verdict:
        return make("unchanged", d.constant)
    if d.no_verdict or p_adj is None or d.delta_pct is None:
        return make("no-verdict", d.no_verdict or "not tested")
    excludes_zero = ci_low is not None and ci_high is not None and (ci_low > 0 or ci_high < 0)
    if p_adj >= settings.alpha:
        return make("unchanged", f"not significant (adjusted p={p_adj:.3g} >= {settings.alpha:g})")
    if not excludes_zero:
        interval = (
            "no confidence interval"
            if ci_low is None or ci_high is None
            else (f"confidence interval [{ci_low:+.1f}%, {ci_high:+.1f}%] includes 0")
        )
        return make("unchanged", interval)
    if d.notes:
        return make("unchanged", d.notes[0], True)
    if abs(d.delta_pct) < settings.min_effect_pct:
        return make(
            "unchanged",
            f"change {d.delta_pct:+.1f}% is below the minimum effect {settings.min_effect_pct:g}%",
            True,
        )
    worse = (d.delta_pct > 0) == _HIGHER_IS_WORSE[d.metric]
    return make(
        "regression" if worse else "improvement",
        f"{d.metric} {d.delta_pct:+.1f}% (CI {ci_low:+.1f}%..{ci_high:+.1f}%, "
        f"adjusted p={p_adj:.3g})",
        True,
    )


# -- building samples -----------------------------------------------------------------


class SecondLike(Protocol):
    """What a per-second series point offers (``store.influx.SeriesPoint`` fits)."""

    @property
    def operation(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def p50(self) -> float | None: ...
    @property
    def p95(self) -> float | None: ...
    @property
    def p99(self) -> float | None: ...


def samples_from_seconds(points: Iterable[SecondLike]) -> dict[str, OperationSamples]:
    """Per-second points as one-second blocks, per operation, in the order given."""
    grouped: dict[str, list[SecondLike]] = {}
    for p in points:
        grouped.setdefault(p.operation, []).append(p)

    def lat(v: float | None, count: int) -> float:
        return math.nan if v is None or count == 0 else float(v)

    return {
        op: OperationSamples(
            op,
            block_p50s=tuple(lat(p.p50, p.count) for p in rows),
            block_p95s=tuple(lat(p.p95, p.count) for p in rows),
            block_p99s=tuple(lat(p.p99, p.count) for p in rows),
            counts=tuple(p.count for p in rows),
            failures=tuple(p.failures for p in rows),
        )
        for op, rows in grouped.items()
    }


def samples_from_histograms(
    operation: str,
    histograms: Sequence[HdrHistogram],
    failures: Sequence[int],
    durations_s: Sequence[float] = (),
    *,
    unit_ms: float = 0.001,
    merge: int = 1,
) -> OperationSamples:
    """Blocks from mergeable HDR histograms (values in µs by default: ``unit_ms``).

    ``merge`` > 1 adds that many consecutive histograms into one block (e.g. 1-second
    histograms into 5-second blocks); a short tail is its own block. Percentiles of
    merged histograms are exact up to the histogram's precision, unlike averaging
    per-second percentiles.
    """
    if merge < 1:
        raise InputError(f"merge {merge} must be at least 1")
    if len(failures) != len(histograms) or (durations_s and len(durations_s) != len(histograms)):
        raise InputError(
            f"samples of {operation!r}: {len(histograms)} histograms but "
            f"{len(failures)} failure counts and {len(durations_s)} durations"
        )
    p50s: list[float] = []
    p95s: list[float] = []
    p99s: list[float] = []
    counts: list[int] = []
    fails: list[int] = []
    durations: list[float] = []
    for start in range(0, len(histograms), merge):
        group = histograms[start : start + merge]
        block = HdrHistogram(
            group[0].lowest_trackable_value,
            group[0].highest_trackable_value,
            group[0].significant_figures,
        )
        for h in group:
            block.add(h)
        n = int(block.get_total_count())
        for out, q in ((p50s, 50), (p95s, 95), (p99s, 99)):
            out.append(block.get_value_at_percentile(q) * unit_ms if n else math.nan)
        counts.append(n)
        fails.append(int(sum(failures[start : start + merge])))
        durations.append(
            float(sum(durations_s[start : start + merge])) if durations_s else float(len(group))
        )
    return OperationSamples(
        operation,
        tuple(p50s),
        tuple(p95s),
        tuple(p99s),
        tuple(counts),
        tuple(fails),
        tuple(durations),
    )
