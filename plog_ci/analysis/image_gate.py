"""The head image's vulnerability scan as one more gate of the verdict (issue 19):
``deploy.registry.scan`` judged by ``plog_ci.build.harbor_scan``, joined to the
gates so that the run fails with the scan's reason like any failing key gate."""

from __future__ import annotations

from plog_ci.analysis.gates import GateOutcome, Verdict
from plog_ci.build.harbor_scan import ImageFacts, counts_text
from plog_ci.gate_grammar import Gate

SCAN_GATE_METRIC = "vulnerabilities"


def scan_gated(verdict: Verdict, image: ImageFacts | None) -> Verdict:
    """``verdict`` with the head image's scan gate among its outcomes (a key gate:
    failed, it makes the run ``fail`` with the scan's reason first). Unchanged
    without a scan, or with ``fail_on: none``."""
    scan = image.scan if image is not None else None
    if scan is None or scan.outcome == "report":
        return verdict
    gate = Gate(
        f"image scan: nothing at {scan.fail_on} or above", SCAN_GATE_METRIC, "<", 1.0, key=True
    )
    passed = scan.outcome == "pass"
    detail = scan.reason if not passed else f"{counts_text(scan.counts)} ({scan.scanner or '?'})"
    value = None if scan.hits is None else float(scan.hits)
    outcome = GateOutcome(gate, "*", value, passed, detail)
    outcomes = (*verdict.outcomes, outcome)
    if passed:
        return Verdict(verdict.status, outcomes, verdict.reason)
    reason = scan.reason if verdict.status != "fail" else f"{scan.reason}; {verdict.reason}"
    return Verdict("fail", outcomes, reason)
