"""Run-level comparison (sequential runs): the run-to-run noise of a metric, pooled over
repeated runs of the same commits, and the t-test of the head run against the baseline
runs that allows for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import stats as sps

from plog_ci.analysis.comparison import StatsSettings
from plog_ci.analysis.samples import RunLevelSamples
from plog_ci.analysis.significance import Draft, pct_change


def compare_run_level(draft: Draft, found: RunLevelSamples, settings: StatsSettings) -> None:
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
    draft.delta_pct = pct_change(math.exp(diff))
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
    draft.ci = (pct_change(math.exp(diff - half)), pct_change(math.exp(diff + half)))


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
