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

This module holds :func:`compare_runs` and the verdicts; the rest lives beside it:
``analysis.comparison`` (metric names, :class:`StatsSettings`, :class:`Comparison`),
``analysis.samples`` (:class:`OperationSamples` and its builders),
``analysis.significance`` (the tests and the p-value adjustment) and
``analysis.run_level`` (run-to-run noise and the run-level test).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from plog_ci.analysis.comparison import (
    LATENCY_METRICS,
    Comparison,
    StatsSettings,
)
from plog_ci.analysis.run_level import compare_run_level
from plog_ci.analysis.samples import OperationSamples, RunLevelSamples
from plog_ci.analysis.significance import (
    Draft,
    adjust_p_values,
    compare_errors,
    compare_pooled,
    compare_values,
)

# Metrics where a higher value is worse; for the others (rps) lower is worse.
_HIGHER_IS_WORSE = {"p50": True, "p95": True, "p99": True, "error_rate": True, "rps": False}


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
    drafts: list[Draft] = []
    for operation in sorted(set(old) | set(new)):
        a, b = old.get(operation), new.get(operation)
        for metric in settings.metrics:
            draft = Draft(operation, metric)
            drafts.append(draft)
            if run_level is not None and metric in LATENCY_METRICS:
                found = run_level.get((operation, metric))
                if found is None:
                    draft.no_verdict = f"no run-level {metric} of {operation} in both runs"
                else:
                    compare_run_level(draft, found, settings)
                continue
            if a is None or b is None:
                draft.no_verdict = (
                    "operation not in the baseline run"
                    if a is None
                    else "operation not in the new run"
                )
                continue
            if metric == "error_rate":
                compare_errors(draft, a, b, settings)
            elif metric == "rps":
                compare_values(draft, a.throughput(), b.throughput(), settings)
            elif settings.paired and len(a.counts) == len(b.counts):
                # Drop a pair when either block is empty, so the pairs stay aligned.
                both = (np.asarray(a.counts) > 0) & (np.asarray(b.counts) > 0)
                if a.histograms and b.histograms and compare_pooled(draft, a, b, both, settings):
                    continue
                va = np.asarray(getattr(a, f"block_{metric}s"), dtype=float)
                vb = np.asarray(getattr(b, f"block_{metric}s"), dtype=float)
                if va.size and vb.size:
                    va, vb = va[both], vb[both]
                compare_values(draft, va, vb, settings)
            else:
                compare_values(draft, a.latency(metric), b.latency(metric), settings)

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


def _finish(d: Draft, p_adj: float | None, settings: StatsSettings) -> Comparison:
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
