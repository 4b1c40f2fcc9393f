"""The compare page: what ``GET /compare?a=&b=`` shows and ``GET /api/compare`` returns.

Run ``a`` is the base (old), run ``b`` the head (new), compared as ``plog compare
A B`` compares them, with its defaults: samples from each run's head blocks or
per-second series (``stored_runs.run_samples``), latency judged run against run
with the noise of comparable runs when both have series
(``stored_runs.run_level_samples``), then ``stored_runs.compare_stored``.
What keeps two runs from being comparable is said twice: the fingerprints that
differ (``differences``) and, per row, the reason a row has no verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plog_ci.analysis.compare_table import no_verdict_line, to_json_data
from plog_ci.analysis.comparison import (
    COMPARED_METRICS,
    LATENCY_METRICS,
    Comparison,
    StatsSettings,
)
from plog_ci.analysis.stored_runs import (
    RunSamples,
    compare_stored,
    run_level_samples,
    run_samples,
)
from plog_ci.store.sqlite import RunRecord
from plog_ci.web.dashboard.history_chart import format_value
from plog_ci.web.dashboard.history_store import results_reader
from plog_ci.web.dashboard.runs import MAX_ID, BadQuery

# ``plog compare``'s defaults (--alpha 0.01, --min-effect 5).
SETTINGS = StatsSettings(
    alpha=0.01, min_effect_pct=5.0, paired=False, metrics=("p95", "error_rate", "rps")
)
TITLES = {"p50": "p50 latency", "p95": "p95 latency", "p99": "p99 latency"}
TITLES |= {"error_rate": "error rate", "rps": "throughput"}
# The fingerprints that decide whether two runs may be compared (``plog_ci.store.sqlite``).
FINGERPRINTS = (
    ("repo", "repository"),
    ("script_hash", "generated k6 script (script hash)"),
    ("environment", "environment fingerprint"),
    ("config_hash", "configuration (config hash)"),
    ("spec_hash", "API spec (spec hash)"),
    ("profile", "load profile"),
)


class UnknownRun(LookupError):
    """A run id the results store does not hold (the message says which)."""


def parse_compare_query(args: Mapping[str, str]) -> tuple[int, int]:
    """``a`` (the base run's id) and ``b`` (the head's), both needed. Raises ``BadQuery``."""
    ids = []
    for name, role in (("a", "the base run"), ("b", "the head run")):
        raw = args.get(name, "").strip()
        if not raw:
            raise BadQuery(f"query parameter {name!r} ({role}'s id) is needed: /compare?a=1&b=2")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
            raise BadQuery(f"query parameter {name!r} must be a run id (a whole number)")
        ids.append(int(raw))
    return ids[0], ids[1]


def _short(value: Any) -> str:
    if value is None:
        return "none"
    text = value if isinstance(value, str) else repr(value)
    return text[:12] + "…" if len(text) > 13 else text


def differences(old: RunRecord, new: RunRecord) -> list[str]:
    """The fingerprints of the two runs that differ, one sentence each."""
    out = []
    for field, what in FINGERPRINTS:
        a, b = getattr(old, field), getattr(new, field)
        if a != b:
            out.append(f"different {what}: {_short(a)} (#{old.id}) vs {_short(b)} (#{new.id})")
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else ("+inf%" if v > 0 else "-inf%") if math.isinf(v) else f"{v:+.1f}%"


def _p(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}" if v >= 0.001 else f"{v:.1e}"


@dataclass(frozen=True)
class CompareView:
    old: RunSamples
    new: RunSamples
    comparisons: list[Comparison]
    differences: list[str]

    @property
    def no_verdict(self) -> str | None:
        return no_verdict_line(self.comparisons)

    @property
    def confidence(self) -> str:
        return f"{(1 - SETTINGS.alpha) * 100:g}%"

    def tables(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Per operation (sorted), its rows in ``COMPARED_METRICS`` order, as text."""
        by_op: dict[str, list[Comparison]] = {}
        for c in self.comparisons:
            by_op.setdefault(c.operation, []).append(c)
        out = []
        for op in sorted(by_op):
            rows = sorted(by_op[op], key=lambda c: COMPARED_METRICS.index(c.metric))
            out.append((op, [self._row(c) for c in rows]))
        return out

    @staticmethod
    def _row(c: Comparison) -> dict[str, Any]:
        def value(v: float | None) -> str:
            return "-" if v is None else format_value(c.metric, v)

        ci = (
            "-"
            if c.ci_low_pct is None or c.ci_high_pct is None
            else f"[{_pct(c.ci_low_pct)}, {_pct(c.ci_high_pct)}]"
        )
        return {
            "metric": TITLES.get(c.metric, c.metric),
            "old": value(c.old),
            "new": value(c.new),
            "delta": _pct(c.delta_pct),
            "ci": ci,
            "p": _p(c.p_value),
            "p_adjusted": _p(c.p_adjusted),
            "verdict": c.verdict,
            "reason": c.reason,
            "test": c.test,
        }

    def to_json(self) -> dict[str, Any]:
        """What ``GET /api/compare`` answers: ``plog compare A B --format json``'s shape,
        with ``differences`` and ``no_verdict`` (None when every row has a verdict)."""
        data = to_json_data(self.comparisons, SETTINGS)
        data["old"], data["new"] = _side(self.old), _side(self.new)
        data["differences"] = self.differences
        data["no_verdict"] = self.no_verdict
        return data


def _side(s: RunSamples) -> dict[str, Any]:
    return {
        "run_id": s.run.id,
        "commit": s.run.commit_sha,
        "branch": s.run.branch,
        "status": s.run.status,
        "samples": s.source,
        "described": s.describe(),
    }


def compare_view(home: Path, a: int, b: int) -> CompareView:
    """Run ``b`` against run ``a``. Raises ``UnknownRun`` for an id the store lacks."""
    with results_reader(home) as store:
        if store is None:
            raise UnknownRun("no results store yet: no run has been recorded")
        missing = [i for i in (a, b) if not store.has_run(i)]
        if missing:
            raise UnknownRun(f"no run #{missing[0]} in the results store")
        old, new = run_samples(store, a), run_samples(store, b)
        # Two separate runs: latency is judged run against run (as plog compare does).
        run_level = (
            run_level_samples(store, [a], b, LATENCY_METRICS)
            if old.source == new.source == "series"
            else None
        )
    comparisons = compare_stored(old, new, SETTINGS, run_level)
    return CompareView(old, new, comparisons, differences(old.run, new.run))
