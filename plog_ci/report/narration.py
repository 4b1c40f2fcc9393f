"""The AI narration stage, after the verdict: no cost to the gate.

The pipeline's report stage builds the run's evidence bundle (``evidence_bundle``)
and stores it as the run's ``evidence`` document, always. With ``report.ai`` the
run's outcome carries a ``PendingNarrative``; whoever posts the verdict (the
worker's runner, ``plog run``) posts it first and then calls ``narrate``:

1. ``request_narrative`` (bounded by ``report.ai.timeout``; never raises);
2. the report file re-written with an "AI analysis" section under the findings
   (``templates/report/ai_analysis.md.j2``): the model and adapter, the improvement
   guide (``report.guide``, ranked by the evidence), the claims by kind with their
   evidence ids and the dropped count, or why the narrative is missing;
3. the run's ``narrative`` document stored: ``Narrative.to_json`` plus ``guide``.

A failure of steps 2-3 (a full disk) is logged and leaves the report as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from plog_ci.ab.baseline import Baseline
from plog_ci.ab.measure import Measurement
from plog_ci.analysis.comparison import Comparison
from plog_ci.analysis.findings import Finding, ResourceSummary
from plog_ci.analysis.gates import Verdict
from plog_ci.config.model import AiConfig
from plog_ci.plan import Plan
from plog_ci.redaction import redact
from plog_ci.report.assemble import Report, with_ai_section
from plog_ci.report.evidence import Bundle, RunEvidence, build_bundle
from plog_ci.report.grounding import KINDS
from plog_ci.report.guide import GuideLine, improvement_guide
from plog_ci.report.narrative import Narrative, request_narrative
from plog_ci.results import TOTAL
from plog_ci.store.live import save_documents
from plog_ci.store.sqlite import open_store
from plog_ci.templating import render

log = logging.getLogger("plog.narration")

KIND_TITLES = {"impact": "Impact", "cause": "Causes", "suggestion": "Suggestions"}
Requester = Callable[[AiConfig, Bundle], Narrative]


@dataclass(frozen=True)
class PendingNarrative:
    """What ``narrate`` needs once the verdict is out: the settings, the bundle, the
    written report (with its data, to render it again), and where the run is kept."""

    ai: AiConfig
    bundle: Bundle
    report: Report
    home: Path
    run_id: int


def evidence_bundle(
    run_id: int,
    plan: Plan,
    measured: Measurement,
    baseline: Baseline,
    judged: tuple[Verdict, Sequence[Comparison] | None, Sequence[Finding]],
    environment: Mapping[str, Any],
) -> Bundle:
    """The bundle of a judged run (``judged``: the verdict, comparisons, findings),
    within ``report.ai.evidence_tokens`` (the default budget without ``report.ai``)."""
    verdict, comparisons, findings = judged
    result = measured.result
    ai = plan.config.report.ai
    evidence = RunEvidence(
        run_id=run_id,
        verdict=verdict,
        stats={**result.operations, TOTAL: result.total},
        comparisons=tuple(comparisons or ()),
        findings=tuple(findings),
        diff=plan.diff,
        resources={
            "head": ResourceSummary.of(measured.head_samples),
            "base": ResourceSummary.of(measured.base_samples),
        },
        image=measured.image.to_json() if measured.image is not None else None,
        environment=environment,
        baseline_note=baseline.note,
    )
    return build_bundle(evidence) if ai is None else build_bundle(evidence, ai.evidence_tokens)


class Narratable(Protocol):
    """An outcome that may carry a pending narrative (``pipeline.RunOutcome``, a
    dataclass with ``report_markdown`` and ``narration``)."""

    @property
    def narration(self) -> PendingNarrative | None: ...


OutcomeT = TypeVar("OutcomeT", bound=Narratable)


def ai_section(narrative: Narrative, guide: list[GuideLine], bundle: Bundle) -> str:
    """The report's "AI analysis" section (markdown; text from the model, the spec
    and the service escaped by the template's ``md`` filter)."""
    by_kind: dict[str, list[Any]] = {}
    for claim in narrative.claims:
        by_kind.setdefault(claim.kind, []).append(claim)
    return render(
        "report/ai_analysis.md.j2",
        model=narrative.model,
        adapter=narrative.adapter,
        items=len(bundle.items),
        guide=guide,
        missing=narrative.missing,
        kinds=[(k, KIND_TITLES[k]) for k in ("impact", "cause", "suggestion") if k in KINDS],
        by_kind=by_kind,
        kept=len(narrative.claims),
        dropped=sorted(narrative.dropped.items()),
        dropped_total=narrative.dropped_total,
    ).strip()


def narrate(outcome: OutcomeT, request: Requester = request_narrative) -> OutcomeT:
    """The outcome with the AI analysis added to its report (see the module doc);
    the outcome unchanged when it has no pending narrative. Never raises for the
    narrative's faults; returns within ``report.ai.timeout`` plus the writes."""
    return narrated(outcome, request)[0]


def narrated(
    outcome: OutcomeT, request: Requester = request_narrative
) -> tuple[OutcomeT, Narrative | None]:
    """``narrate``, and the narrative it got (None when none was pending)."""
    pending = outcome.narration
    if pending is None:
        return outcome, None
    narrative = request(pending.ai, pending.bundle)
    guide = improvement_guide(pending.bundle)
    report = pending.report
    try:
        report = with_ai_section(report, ai_section(narrative, guide, pending.bundle))
    except Exception as exc:  # the verdict is out; the narrative must not crash its job
        log.error("run %s: could not add the AI analysis to the report: %s", pending.run_id, exc)
    try:
        store = open_store(pending.home)
        try:
            document = {**narrative.to_json(), "guide": [line.to_json() for line in guide]}
            save_documents(store, pending.run_id, {"narrative": document})
        finally:
            store.close()
    except Exception as exc:
        log.error("run %s: could not store the narrative: %s", pending.run_id, redact(str(exc)))
    if narrative.missing:
        log.warning("run %s: narrative missing: %s", pending.run_id, narrative.missing)
    done: OutcomeT = replace(outcome, report_markdown=report.markdown, narration=None)  # type: ignore[type-var]
    return done, narrative


def describe(narrative: Narrative) -> str:
    """One plain line for the terminal: what the narrative gave."""
    if narrative.missing:
        return f"AI analysis: narrative missing: {narrative.missing}"
    return (
        f"AI analysis: {len(narrative.claims)} claims kept, {narrative.dropped_total} dropped "
        f"({narrative.elapsed_s:.1f} s)"
    )
