"""The answer a training pair teaches: claims written from the deterministic findings.

``target_claims`` turns a bundle and its fault (``llm.faults.FAULTS``) into the JSON
of ``CLAIMS_SCHEMA``: an impact, the cause, a suggestion, each citing the items it
rests on and writing every number as a reference (``{e10.delta_pct}``), so the
adapter learns the format and the habit of citing. Every target keeps the rule of
``plog_ci.report.grounding.ground`` whole (tests check it).

``cause_of`` reads the fault back from the items a cause claim cites: the
evaluation's "cause matches the injected fault".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from plog_ci.report.evidence import Bundle, Item
from plog_ci.results import TOTAL

Claim = dict[str, Any]


def _find(
    items: Iterable[Item], kind: str, subject: str | None = None, **facts: Any
) -> Item | None:
    for item in items:
        if item.kind != kind or (subject is not None and item.subject != subject):
            continue
        if all(item.facts.get(k) == v for k, v in facts.items()):
            return item
    return None


def _claim(kind: str, text: str, *items: Item | None) -> Claim:
    return {"text": text, "evidence": [i.id for i in items if i is not None], "kind": kind}


def _name(subject: str) -> str:
    return "the whole run" if subject == TOTAL else subject


def _slowdown(b: Bundle, op: str) -> list[Claim]:
    c = _find(b.items, "comparison", op, metric="p95", verdict="regression")
    if c is None:
        return []
    out = [
        _claim(
            "impact",
            f"{op} got slower: its p95 went from {{{c.id}.old_ms}} ms to {{{c.id}.new_ms}} ms "
            f"({{{c.id}.delta_pct}}%, confidence interval {{{c.id}.ci_low_pct}}% to "
            f"{{{c.id}.ci_high_pct}}%).",
            c,
        )
    ]
    cpr = _find(b.items, "finding", finding="cpu-per-request", severity="info")
    if cpr is not None:
        text = (
            f"CPU per request stayed about the same ({{{cpr.id}.head_cpu_ms_per_request}} ms "
            f"against {{{cpr.id}.base_cpu_ms_per_request}} ms for the base), so the extra time "
            f"in {op} is spent waiting (I/O, locks, sleeps, a downstream call), not computing."
        )
        out.append(_claim("cause", text, c, cpr))
    else:
        text = (
            f"Only {op} moved while the other operations stayed unchanged: the cause is on "
            "its own code path."
        )
        out.append(_claim("cause", text, c))
    gate = _find(b.items, "gate", op, outcome="failed")
    if gate is not None:
        out.append(_claim("impact", f"{op} fails the gate {{{gate.id}.gate}}.", gate))
    out.append(
        _claim(
            "suggestion",
            f"Look first at what the change did to the handler of {op}: new queries, calls "
            "to other services, locks or sleeps on its path.",
            c,
        )
    )
    return out


def _cpu(b: Bundle) -> list[Claim]:
    bound = _find(b.items, "finding", finding="cpu-bound")
    if bound is None:
        return []
    out = [
        _claim(
            "cause",
            f"The service is CPU-bound: it used {{{bound.id}.mean_cpu}}% of a core on average "
            f"(peak {{{bound.id}.peak_cpu}}%), so requests queue for the processor.",
            bound,
        )
    ]
    cpr = _find(b.items, "finding", finding="cpu-per-request", severity="warning")
    if cpr is not None:
        out.append(
            _claim(
                "cause",
                f"The head spends {{{cpr.id}.head_cpu_ms_per_request}} ms of CPU per request "
                f"against {{{cpr.id}.base_cpu_ms_per_request}} ms for the base: the change "
                "makes each request compute more.",
                cpr,
            )
        )
    total = _find(b.items, "comparison", TOTAL, metric="p95")
    if total is not None:
        out.append(
            _claim(
                "impact",
                f"Every operation pays for it: p95 of the whole run went from "
                f"{{{total.id}.old_ms}} ms to {{{total.id}.new_ms}} ms "
                f"({{{total.id}.delta_pct}}%).",
                total,
            )
        )
    out.append(
        _claim(
            "suggestion",
            "Profile the head under load (py-spy, perf) and look for new work per request: "
            "serialisation, loops over large data, regular expressions, hashing.",
            cpr or bound,
        )
    )
    return out


def _memory(b: Bundle) -> list[Claim]:
    grew = _find(b.items, "finding", finding="memory-growth")
    res = _find(b.items, "resources", "head")
    if grew is None or res is None:
        return []
    out = [
        _claim(
            "cause",
            f"Memory grew from {{{res.id}.memory_start_mb}} MB to {{{res.id}.memory_end_mb}} MB "
            f"during the test (peak {{{res.id}.memory_peak_mb}} MB): a leak, or a cache without "
            "a bound.",
            grew,
            res,
        )
    ]
    total = _find(b.items, "stats", TOTAL)
    if total is not None:
        out.append(
            _claim(
                "impact",
                f"Latency has not paid for it yet (p95 of the whole run {{{total.id}.p95_ms}} ms), "
                "but a longer run or a smaller container will run out of memory.",
                total,
                grew,
            )
        )
    out.append(
        _claim(
            "suggestion",
            "Compare heap snapshots taken early and late in a run (tracemalloc) and check "
            "caches, lists and connection pools that only grow.",
            grew,
        )
    )
    return out


def _errors(b: Bundle, op: str) -> list[Claim]:
    stats = _find(b.items, "stats", op)
    if stats is None or not stats.facts.get("failures"):
        return []
    found = _find(b.items, "finding", op, finding="errors")
    out = [
        _claim(
            "impact",
            f"{op} failed {{{stats.id}.failures}} of {{{stats.id}.requests}} requests "
            f"({{{stats.id}.error_rate_pct}}%).",
            stats,
            found,
        )
    ]
    status = next((k for k in stats.facts if k.startswith("status_")), None)
    if status is not None:
        side = "server errors" if status.startswith("status_5") else "client errors"
        out.append(
            _claim(
                "cause",
                f"The failures are {side} ({{{stats.id}.{status}}} answers of one status): "
                f"{op} breaks under load on the head.",
                stats,
            )
        )
    rate = _find(b.items, "comparison", op, metric="error_rate")
    if rate is not None:
        out.append(
            _claim(
                "impact",
                f"The base did not fail this way: its error rate on {op} was {{{rate.id}.old}}.",
                rate,
            )
        )
    out.append(
        _claim(
            "suggestion",
            f"Read the error bodies of {op} in the run's exchanges and the service log around "
            "the failures: exceptions, timeouts, exhausted pools.",
            found or stats,
        )
    )
    return out


def _none(b: Bundle) -> list[Claim]:
    verdict = b.items[0]
    total = _find(b.items, "stats", TOTAL)
    out = [
        _claim(
            "impact",
            f"No operation changed significantly against the base; the verdict is "
            f"{{{verdict.id}.status}}.",
            verdict,
        )
    ]
    if total is not None:
        out.append(
            _claim(
                "impact",
                f"The whole run answered {{{total.id}.requests}} requests with a p95 of "
                f"{{{total.id}.p95_ms}} ms.",
                total,
            )
        )
    out.append(_claim("suggestion", "Nothing to fix in this run.", verdict))
    return out


def target_claims(bundle: Bundle, fault: str, operation: str | None = None) -> dict[str, Any]:
    """The claims JSON for ``bundle`` with ``fault`` (on ``operation`` for slowdown and
    errors); a fault whose evidence the bundle lacks gives the control run's claims."""
    claims: list[Claim] = []
    if fault == "slowdown" and operation:
        claims = _slowdown(bundle, operation)
    elif fault == "cpu":
        claims = _cpu(bundle)
    elif fault == "memory":
        claims = _memory(bundle)
    elif fault == "errors" and operation:
        claims = _errors(bundle, operation)
    return {"claims": claims or _none(bundle)}


def infer_fault(bundle: Bundle) -> tuple[str, str | None]:
    """The fault the deterministic findings point at, for a stored run with no label:
    memory growth, then CPU, then errors, then the largest latency regression."""
    items = bundle.items
    if _find(items, "finding", finding="memory-growth"):
        return "memory", None
    if _find(items, "finding", finding="cpu-bound"):
        return "cpu", None
    errors = [
        i
        for i in items
        if i.kind == "finding" and i.facts.get("finding") == "errors" and i.subject != TOTAL
    ]
    if errors:
        return "errors", errors[0].subject
    regressions = [
        i
        for i in items
        if i.kind == "comparison"
        and i.subject != TOTAL
        and i.facts.get("metric") == "p95"
        and i.facts.get("verdict") == "regression"
    ]
    if regressions:  # the bundle lists regressions by effect, largest first
        return "slowdown", regressions[0].subject
    return "none", None


def cause_of(claim: Mapping[str, Any], bundle: Bundle) -> str | None:
    """The fault a claim names, from the items it cites (memory, then CPU, then errors,
    then latency); None when it cites none of them."""
    cited = [bundle.by_id[e] for e in claim.get("evidence") or () if e in bundle.by_id]
    findings = {str(i.facts.get("finding")): i for i in cited if i.kind == "finding"}
    if "memory-growth" in findings:
        return "memory"
    cpr = findings.get("cpu-per-request")
    if "cpu-bound" in findings or (cpr is not None and cpr.facts.get("severity") == "warning"):
        return "cpu"
    if "errors" in findings or any(
        i.kind == "comparison" and i.facts.get("metric") == "error_rate" for i in cited
    ):
        return "errors"
    if any(i.kind == "stats" and i.facts.get("failures") for i in cited):
        return "errors"
    if "latency-change" in findings or any(
        i.kind == "comparison" and i.facts.get("verdict") == "regression" for i in cited
    ):
        return "slowdown"
    return None
