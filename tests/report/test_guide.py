"""The improvement guide is ranked by the evidence (issue 20): regressions by effect,
then the resources that moved, then changed endpoints that slowed, then errors;
each line cites its items and holds only the bundle's numbers. The AI analysis
section escapes what the spec, the service and the model wrote."""

from __future__ import annotations

import re
from dataclasses import replace

from plog_ci.analysis.comparison import Comparison
from plog_ci.analysis.findings import Finding
from plog_ci.openapi.changes import Change
from plog_ci.openapi.diff import SpecDiff
from plog_ci.report.evidence import build_bundle
from plog_ci.report.grounding import Claim, ungrounded_numbers
from plog_ci.report.guide import improvement_guide
from plog_ci.report.narration import ai_section
from plog_ci.report.narrative import Narrative
from tests.report.test_evidence_grounding import SLOW, V2, evidence

HOSTILE_OP = "GET /x/<img src=x onerror=alert(1)>"


def comparison(operation: str, delta: float, verdict: str = "regression") -> Comparison:
    old = 10.0
    return Comparison(
        operation, "p95", old, old * (1 + delta / 100), delta, delta / 2, delta * 2,
        1e-5, 1e-4, verdict, "", 20, 20, "pooled", True,
    )  # fmt: skip


def guided() -> tuple[list[str], list[tuple[str, ...]], object]:
    findings = [
        Finding("errors", "GET /v2/pets: 3 of 1000 requests failed (HTTP 500)", V2, "error"),
        Finding("memory-growth", "memory grew by 11 MB over the run", severity="warning"),
        Finding("cpu-throttling", "throttled in 62% of periods", severity="warning"),
        Finding("latency-change", "p95 up", SLOW, "warning"),
    ]
    diff = SpecDiff(
        changes=[
            Change("response-property-removed", "error", V2, "tag removed", ""),
            Change("request-parameter-added", "info", HOSTILE_OP, "limit added", ""),
        ]
    )
    ev = replace(
        evidence(),
        comparisons=[
            comparison(V2, 120.0),
            comparison(SLOW, 694.77),
            comparison(HOSTILE_OP, 30.0),
            comparison("GET /health", -20.0, "improvement"),
        ],
        findings=findings,
        diff=diff,
    )
    bundle = build_bundle(ev)
    lines = improvement_guide(bundle)
    return [line.text for line in lines], [line.evidence for line in lines], bundle


def test_the_guide_ranks_by_the_evidence_and_cites_it() -> None:
    texts, ids, bundle = guided()
    by = {i.subject + "/" + i.kind + "/" + str(i.facts.get("finding", "")): i.id
          for i in bundle.items}  # type: ignore[attr-defined]  # fmt: skip
    assert texts[0].startswith(f"{SLOW}: p95 went from 10.0 ms to ") and "694.8%" in texts[0]
    assert texts[1].startswith(f"{V2}: p95") and texts[2].startswith(f"{HOSTILE_OP}: p95")
    assert texts[3].startswith("cpu-throttling: throttled in 62% of periods")
    assert texts[4].startswith("memory-growth: memory grew")
    resources = tuple(i.id for i in bundle.items if i.kind == "resources")  # type: ignore[attr-defined]
    assert ids[3] == (by["*/finding/cpu-throttling"], *resources) and resources
    # Changed endpoints that also slowed, in the order of their slowdown.
    assert (
        texts[5] == f"{V2} changed in this diff (response-property-removed) and slowed (120.0% p95)"
    )
    assert texts[6].startswith(f"{HOSTILE_OP} changed in this diff (request-parameter-added)")
    assert texts[7].startswith("errors: GET /v2/pets: 3 of 1000 requests failed")
    assert len(texts) == 8  # the improvement and the latency note are not things to fix
    assert ungrounded_numbers(" ".join(texts), bundle) == []  # type: ignore[arg-type]


def test_the_ai_section_escapes_spec_service_and_model_text() -> None:
    _, _, bundle = guided()
    hostile = "See [here](javascript:alert(1)) <script>x</script> ${x} @team"
    narrative = Narrative(
        "openai/gpt-oss-20b",
        "plog",
        (
            Claim(hostile, "cause", ("e3",)),
            Claim("p95 rose", "impact", ("e3",)),
        ),
        {"literal-number": 2, "unknown-evidence": 1},
    )
    section = ai_section(narrative, improvement_guide(bundle), bundle)  # type: ignore[arg-type]
    assert section.startswith("## AI analysis")
    assert "openai/gpt-oss-20b with the adapter plog" in section
    assert section.index("**Impact**") < section.index("**Causes**")
    assert "- p95 rose (e3)" in section
    assert "3 claims dropped (literal-number: 2, unknown-evidence: 1)" in section
    for raw in ("<script>", "<img", "](javascript:", "${x}"):  # only escaped, as text
        assert re.search(r"(?<!\\)" + re.escape(raw), section) is None, raw
    assert "\\<script\\>" in section and "$\\{x\\}" in section and "@team" not in section
    missing = replace(narrative, claims=(), dropped={}, missing="no answer within 60 s <b>")
    text = ai_section(missing, [], bundle)  # type: ignore[arg-type]
    assert "Narrative missing: no answer within 60 s \\<b\\>." in text
    assert "Nothing stands out in the evidence" in text
