"""Evidence bundles of runs kept in a PLog results store.

A run that kept its bundle (``run_documents`` name ``evidence``, written by the
report stage) gives it as it is; an older run's bundle is rebuilt from what the store
holds: its statistics, gate outcomes, findings, comparisons (the ``comparisons``
document) and resource samples. The store does not keep a finding's severity nor a
gate's threshold; the rebuilt bundle gives the usual severity of each kind and no
threshold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from plog_ci.analysis.comparison import Comparison
from plog_ci.analysis.findings import Finding, ResourceSummary
from plog_ci.analysis.gates import GateOutcome, Verdict
from plog_ci.gate_grammar import Gate
from plog_ci.report.evidence import BUDGET_TOKENS, Bundle, RunEvidence, build_bundle
from plog_ci.store.sqlite import ResultsStore

# What resource_findings and latency_findings give each kind (the store keeps none).
SEVERITY = {"cpu-bound": "warning", "memory-growth": "warning", "errors": "error"}
FINISHED = ("pass", "fail", "no-verdict")


def _documents(store: ResultsStore, run_id: int) -> dict[str, Any]:
    rows = store.conn.execute(
        "SELECT name, data FROM run_documents WHERE run_id = ?", (run_id,)
    ).fetchall()
    out: dict[str, Any] = {}
    for name, data in rows:
        try:
            out[str(name)] = json.loads(data)
        except ValueError:
            continue  # a damaged document is left out, not fatal
    return out


def _number(value: Any) -> float | None:
    if value in ("inf", "-inf"):
        return math.inf if value == "inf" else -math.inf
    return None if value is None else float(value)


def _comparisons(document: Mapping[str, Any] | None) -> list[Comparison]:
    out = []
    for row in (document or {}).get("comparisons", []):
        try:
            out.append(
                Comparison(
                    operation=str(row["operation"]),
                    metric=str(row["metric"]),
                    old=_number(row.get("old")),
                    new=_number(row.get("new")),
                    delta_pct=_number(row.get("delta_pct")),
                    ci_low_pct=_number(row.get("ci_low_pct")),
                    ci_high_pct=_number(row.get("ci_high_pct")),
                    p_value=_number(row.get("p_value")),
                    p_adjusted=_number(row.get("p_adjusted")),
                    verdict=str(row.get("verdict", "no-verdict")),
                    reason=str(row.get("reason", "")),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _resources(store: ResultsStore, run_id: int) -> dict[str, ResourceSummary | None]:
    out: dict[str, ResourceSummary | None] = {}
    for target in ("base", "head"):
        rows = store.resources(run_id, target)
        if len(rows) < 2:
            continue
        cpus = [float(r[1]) for r in rows]
        mean = sum(cpus) / len(cpus)
        span = float(rows[-1][0]) - float(rows[0][0])
        rss = [int(r[2]) for r in rows]
        out[target] = ResourceSummary(mean, max(cpus), mean / 100 * span, rss[0], rss[-1], max(rss))
    return out


def rebuild_evidence(store: ResultsStore, run_id: int) -> RunEvidence:
    """A run's ``RunEvidence`` from the store's tables (see the module doc)."""
    run = store.get_run(run_id)
    verdict_doc = run.verdict or {}
    outcomes = tuple(
        GateOutcome(
            Gate(str(o["gate"]), "", "", math.nan, level=str(o["level"])),
            str(o["operation"]),
            o["value"],
            o["passed"],
            str(o.get("detail") or ""),
        )
        for o in store.gate_outcomes(run_id)
    )
    verdict = Verdict(
        str(verdict_doc.get("status", run.status)), outcomes, str(verdict_doc.get("reason", ""))
    )
    findings = [
        Finding(
            str(f["kind"]),
            str(f["message"]),
            f["operation"],
            SEVERITY.get(str(f["kind"]), "info"),
            dict(f["data"]),
        )
        for f in store.findings(run_id)
    ]
    documents = _documents(store, run_id)
    baseline = documents.get("baseline") or {}
    return RunEvidence(
        run_id=run_id,
        verdict=verdict,
        stats=store.operation_stats(run_id),
        comparisons=_comparisons(documents.get("comparisons")),
        findings=findings,
        resources=_resources(store, run_id),
        image=documents.get("image") if isinstance(documents.get("image"), dict) else None,
        environment=run.environment,
        baseline_note=str(baseline.get("note") or "") if isinstance(baseline, dict) else "",
    )


def stored_bundle(store: ResultsStore, run_id: int, budget_tokens: int = BUDGET_TOKENS) -> Bundle:
    """The run's kept ``evidence`` document when it reads as a bundle of this version,
    else one rebuilt from the store (``rebuild_evidence``)."""
    kept = _documents(store, run_id).get("evidence")
    if isinstance(kept, dict):
        try:
            return Bundle.from_json(kept)
        except ValueError:
            pass  # another version: rebuild
    return build_bundle(rebuild_evidence(store, run_id), budget_tokens)


def finished_runs(store: ResultsStore, limit: int = 10_000) -> Iterator[int]:
    """Ids of the store's runs with a verdict and statistics, oldest first."""
    for run in reversed(store.runs(limit=limit)):
        if run.status in FINISHED and store.operation_stats(run.id):
            yield run.id
