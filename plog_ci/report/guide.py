"""The improvement guide: what to look at first, ranked by the evidence, not by a model.

``improvement_guide(bundle) -> [GuideLine]``, in this order:

1. regressions, by effect (the largest ``|delta_pct|`` first);
2. resource findings that moved (warnings, not notes): CPU throttling, CPU-bound
   (or CPU per request), memory near the limit or growing; each cites the resources
   items too;
3. endpoints the diff changed that also slowed (a regression of the same operation);
4. errors: error findings, else operations that failed requests.

Each line's numbers are the bundle's facts written as the bundle writes them
(``grounding.format_fact``), and it cites the items it rests on. Subjects (operation
names) come from the spec: whoever renders a line escapes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plog_ci.report.evidence import Bundle, Item
from plog_ci.report.grounding import format_fact
from plog_ci.results import TOTAL

MAX_LINES = 10
RESOURCE_FINDINGS = (  # in the order they are shown
    "cpu-throttling",
    "cpu-bound",
    "cpu-per-request",
    "memory-limit",
    "memory-growth",
)


@dataclass(frozen=True)
class GuideLine:
    """One thing to look at: ``text`` and the ``evidence`` ids it rests on."""

    text: str
    evidence: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "evidence": list(self.evidence)}


def _f(item: Item, name: str) -> str:
    return format_fact(item.facts.get(name))


def _effect(item: Item) -> float:
    delta = item.facts.get("delta_pct")
    return abs(delta) if isinstance(delta, int | float) and not isinstance(delta, bool) else 0.0


def _regressions(items: Sequence[Item]) -> list[Item]:
    found = [i for i in items if i.kind == "comparison" and i.facts.get("verdict") == "regression"]
    return sorted(found, key=lambda i: (-_effect(i), int(i.id[1:])))


def _regression_line(item: Item) -> GuideLine:
    unit = " ms" if "new_ms" in item.facts else ""
    old, new = ("old_ms", "new_ms") if unit else ("old", "new")
    text = (
        f"{item.subject}: {_f(item, 'metric')} went from {_f(item, old)}{unit} to "
        f"{_f(item, new)}{unit} ({_f(item, 'delta_pct')}%), a regression"
    )
    return GuideLine(text, (item.id,))


def _resource_lines(items: Sequence[Item]) -> list[GuideLine]:
    resources = tuple(i.id for i in items if i.kind == "resources")
    findings = [  # a note ("about the same as the base") is not a resource that moved
        i
        for i in items
        if i.kind == "finding"
        and i.facts.get("finding") in RESOURCE_FINDINGS
        and i.facts.get("severity") != "info"
    ]
    findings.sort(key=lambda i: (RESOURCE_FINDINGS.index(str(i.facts["finding"])), int(i.id[1:])))
    out = []
    for item in findings:
        where = "" if item.subject == "*" else f" ({item.subject})"
        out.append(GuideLine(f"{item.facts['finding']}{where}: {item.text}", (item.id, *resources)))
    return out


def _changed_and_slower(items: Sequence[Item], regressions: Sequence[Item]) -> list[GuideLine]:
    slowed: dict[str, Item] = {}
    for item in regressions:
        slowed.setdefault(item.subject, item)
    out = []
    for operation, comparison in slowed.items():
        changes = [i for i in items if i.kind == "change" and i.subject == operation]
        if changes:
            what = ", ".join(dict.fromkeys(_f(i, "change") for i in changes))
            text = (
                f"{operation} changed in this diff ({what}) and slowed "
                f"({_f(comparison, 'delta_pct')}% {_f(comparison, 'metric')})"
            )
            out.append(GuideLine(text, (*(i.id for i in changes), comparison.id)))
    return out


def _error_lines(items: Sequence[Item]) -> list[GuideLine]:
    findings = [i for i in items if i.kind == "finding" and i.facts.get("finding") == "errors"]
    if findings:
        return [GuideLine(f"errors: {i.text}", (i.id,)) for i in findings]
    failing = [
        i
        for i in items
        if i.kind == "stats" and i.subject != TOTAL and (i.facts.get("failures") or 0) != 0
    ]
    return [
        GuideLine(
            f"{i.subject}: {_f(i, 'failures')} failed requests ({_f(i, 'error_rate_pct')}%)",
            (i.id,),
        )
        for i in failing
    ]


def improvement_guide(bundle: Bundle) -> list[GuideLine]:
    """What to look at first (see the module doc); at most ``MAX_LINES`` lines."""
    items = bundle.items
    regressions = _regressions(items)
    lines = [_regression_line(i) for i in regressions]
    lines += _resource_lines(items)
    lines += _changed_and_slower(items, regressions)
    lines += _error_lines(items)
    return lines[:MAX_LINES]
