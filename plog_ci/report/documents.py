"""A finished run's structured documents, kept with it for the dashboard
(``plog_ci.store.live.save_documents``): what the markdown report renders as text,
as data a page can draw and link.

Shapes (JSON):

``comparisons``  ``analysis.compare_table.to_json_data``: settings, summary, and one
                 row per operation and metric (old, new, delta_pct, CI, p, verdict)
``changes``      ``openapi.diff.SpecDiff.to_json`` (operations added, removed,
                 modified; change ids and levels), or ``{"note": why there is none}``
``baseline``     ``{source, note, run_id, run_ids, paired}``: what the head was
                 compared with
``result``       ``{duration_s, planned_s, aborted, setup_requests, setup: [...],
                 selected: [operations], script_hash, k6_exit_code}``
``image``        ``build.harbor_scan.ImageFacts.to_json``: the head's pushed image by
                 digest and its Harbor scan (counts, scanner, outcome, reason, link);
                 only when the image was pushed
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from plog_ci.ab.baseline import Baseline
from plog_ci.analysis.compare_table import to_json_data
from plog_ci.analysis.comparison import Comparison, StatsSettings
from plog_ci.build.harbor_scan import ImageFacts
from plog_ci.plan import Plan
from plog_ci.results import LoadResult


def run_documents(
    plan: Plan,
    result: LoadResult,
    baseline: Baseline,
    comparisons: Sequence[Comparison] | None,
    settings: StatsSettings | None,
    selected: Sequence[str],
    image: ImageFacts | None = None,
) -> dict[str, Any]:
    """The documents of one run (see the module doc), by name."""
    docs: dict[str, Any] = {}
    if comparisons:
        docs["comparisons"] = to_json_data(comparisons, settings)
    if plan.diff is not None:
        docs["changes"] = plan.diff.to_json()
    elif plan.base_warning is not None:
        docs["changes"] = {"note": f"no diff: {plan.base_warning}"}
    docs["baseline"] = {
        "source": baseline.source,
        "note": baseline.note,
        "run_id": baseline.run_id,
        "run_ids": list(baseline.run_ids),
        "paired": baseline.paired,
    }
    docs["result"] = {
        "duration_s": round(result.duration_s, 3),
        "planned_s": plan.config.load.duration_s,
        "aborted": result.aborted,
        "setup_requests": result.setup_requests,
        "setup": [dataclasses.asdict(t) for t in result.setup],
        "selected": list(selected),
        "script_hash": result.script_hash,
        "k6_exit_code": result.k6_exit_code,
    }
    if image is not None:
        docs["image"] = image.to_json()
    return docs
