"""The evidence bundle of a run: everything the AI narrative may say, as numbered items.

The deterministic findings are the source of truth; the model only explains them,
and every number it writes is a reference into this bundle (``{e7.p95_ms}``) that
PLog fills in (``plog_ci.report.grounding``). So the bundle is:

- **typed and versioned** (``EVIDENCE_VERSION``; ``Bundle.to_json``/``from_json``),
  stored with the run (``run_documents`` name ``evidence``);
- **deterministic**: the same run gives the same bundle, byte for byte (items in a
  fixed order of importance, numbers rounded once, here, by ``_round``);
- **small**: at most ``budget_tokens`` (estimated as ``len(json) / CHARS_PER_TOKEN``);
  the least important items are left out and counted (``omitted``).

An item (``Item``)::

    {"id": "e3", "kind": "comparison", "subject": "GET /pets/{petId}",
     "facts": {"metric": "p95", "old_ms": 8.6, "new_ms": 68.4, "delta_pct": 695.3,
               "ci_low_pct": 540.1, "ci_high_pct": 816.0, "p_adjusted": 1.5e-05,
               "verdict": "regression"},
     "text": "p95 of GET /pets/{petId}: 8.6 ms -> 68.4 ms (+695.3%), regression"}

Kinds, in the order of importance: ``verdict``, ``gate`` (failed first), ``comparison``
(regressions first, by effect), ``finding``, ``stats`` (the whole run, then the
operations by p95), ``change`` (API changes of the diff), ``resources`` (per side),
``image``, ``environment``. Strings from the spec or the service (operation names,
messages) are kept as data; whoever shows them escapes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plog_ci.analysis.comparison import Comparison
from plog_ci.analysis.findings import Finding, ResourceSummary
from plog_ci.analysis.gates import Verdict
from plog_ci.openapi.diff import SpecDiff
from plog_ci.results import TOTAL, OperationStats

EVIDENCE_VERSION = 1
CHARS_PER_TOKEN = 3.5  # a conservative estimate for JSON with names and numbers
BUDGET_TOKENS = 3000
MAX_STATS = 20  # operations whose statistics are listed (the slowest and failing first)
MAX_CHANGES = 30
MAX_TEXT = 300  # characters of a message kept in an item

Fact = str | int | float | bool | None


def _round(value: float) -> float | int:
    """One rounding for every number of the bundle, so that a number filled into the
    narrative is written exactly as the bundle shows it: 3 significant digits, at
    least one decimal below 1000 (8.6, 68.4, 0.012, 1.5e-05), whole above."""
    if value == 0:
        return 0
    if abs(value) >= 1000:
        return round(value)
    digits = max(1, 2 - math.floor(math.log10(abs(value))))
    return round(value, digits)


def _fact(value: Any) -> Fact:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value if not isinstance(value, str) else value[:MAX_TEXT]
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return _round(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return str(value)[:MAX_TEXT]


@dataclass(frozen=True)
class Item:
    """One piece of evidence: ``id`` ("e7"), ``kind``, ``subject`` (an operation, a
    side, a gate's label, "*" for the run), ``facts`` (name -> number or string; the
    names a narrative may reference), ``text`` (the same in one sentence)."""

    id: str
    kind: str
    subject: str
    facts: Mapping[str, Fact]
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "facts": dict(self.facts),
            "text": self.text,
        }


@dataclass(frozen=True)
class Bundle:
    """A run's evidence: ``items`` by importance, and how many were ``omitted`` to
    keep within the budget."""

    run_id: int
    items: tuple[Item, ...]
    omitted: int = 0
    version: int = EVIDENCE_VERSION
    by_id: Mapping[str, Item] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {item.id: item for item in self.items})

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "run_id": self.run_id,
            "omitted": self.omitted,
            "items": [item.to_json() for item in self.items],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bundle:
        """Raises ValueError for another version or a malformed document."""
        if data.get("version") != EVIDENCE_VERSION:
            raise ValueError(f"evidence version {data.get('version')!r}, not {EVIDENCE_VERSION}")
        try:
            items = tuple(
                Item(i["id"], i["kind"], i["subject"], dict(i["facts"]), i["text"])
                for i in data["items"]
            )
            return cls(int(data["run_id"]), items, int(data.get("omitted", 0)))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed evidence: {exc}") from exc

    def prompt_text(self) -> str:
        """The items as the model reads them: one JSON object a line (quoted data: a
        spec's or a service's text cannot break out of its string)."""
        return "\n".join(json.dumps(i.to_json(), ensure_ascii=False) for i in self.items)

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.prompt_text())


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class RunEvidence:
    """What a run gives the bundle (all optional but the verdict and the stats)."""

    run_id: int
    verdict: Verdict
    stats: Mapping[str, OperationStats]
    comparisons: Sequence[Comparison] = ()
    findings: Sequence[Finding] = ()
    diff: SpecDiff | None = None
    resources: Mapping[str, ResourceSummary | None] = field(default_factory=dict)
    image: Mapping[str, Any] | None = None  # ImageFacts.to_json
    environment: Mapping[str, Any] = field(default_factory=dict)
    baseline_note: str = ""


Draft = tuple[str, str, dict[str, Fact], str]  # kind, subject, facts, text


def _verdict(ev: RunEvidence) -> Draft:
    facts: dict[str, Fact] = {"status": ev.verdict.status, "reason": _fact(ev.verdict.reason)}
    if ev.baseline_note:
        facts["compared_with"] = _fact(ev.baseline_note)
    return ("verdict", "*", facts, f"verdict {ev.verdict.status}: {ev.verdict.reason}"[:MAX_TEXT])


def _gates(ev: RunEvidence) -> list[Draft]:
    out = []
    order = sorted(ev.verdict.outcomes, key=lambda o: (o.passed is not False, o.passed is None))
    for o in order:
        state = {True: "passed", False: "failed", None: "no verdict"}[o.passed]
        facts: dict[str, Fact] = {
            "gate": o.gate.label,
            "operation": o.operation,
            "value": _fact(o.value),
            "threshold": _fact(o.gate.threshold),
            "level": o.gate.level,
            "outcome": state,
        }
        text = f"gate {o.gate.label} on {o.operation}: {state}"
        if o.value is not None:
            text += f" (value {json.dumps(facts['value'])})"
        out.append(("gate", o.operation, facts, text[:MAX_TEXT]))
    return out


_LATENCY = ("p50", "p90", "p95", "p99")


def _unit(metric: str) -> str:
    return "_ms" if metric in _LATENCY else ""


def _comparisons(ev: RunEvidence) -> list[Draft]:
    rank = {"regression": 0, "improvement": 1, "unchanged": 2, "no-verdict": 3}

    def key(c: Comparison) -> tuple[int, float, str, str]:
        effect = abs(c.delta_pct) if c.delta_pct is not None and math.isfinite(c.delta_pct) else 0
        return (rank.get(c.verdict, 4), -effect, c.operation, c.metric)

    out = []
    for c in sorted(ev.comparisons, key=key):
        unit = _unit(c.metric)
        facts: dict[str, Fact] = {
            "metric": c.metric,
            f"old{unit}": _fact(c.old),
            f"new{unit}": _fact(c.new),
            "delta_pct": _fact(c.delta_pct),
            "ci_low_pct": _fact(c.ci_low_pct),
            "ci_high_pct": _fact(c.ci_high_pct),
            "p_adjusted": _fact(c.p_adjusted),
            "verdict": c.verdict,
        }
        delta = facts["delta_pct"]
        text = (
            f"{c.metric} of {c.operation}: {json.dumps(facts[f'old{unit}'])} -> "
            f"{json.dumps(facts[f'new{unit}'])} ({json.dumps(delta)}%), {c.verdict}"
        )
        out.append(("comparison", c.operation, facts, text[:MAX_TEXT]))
    return out


def _findings(ev: RunEvidence) -> list[Draft]:
    rank = {"error": 0, "warning": 1, "info": 2}
    out = []
    for f in sorted(ev.findings, key=lambda f: rank.get(f.severity, 3)):
        facts: dict[str, Fact] = {"finding": f.kind, "severity": f.severity}
        facts.update({k: _fact(v) for k, v in sorted(f.data.items()) if not isinstance(v, dict)})
        out.append(("finding", f.operation or "*", facts, f.message[:MAX_TEXT]))
    return out


def _stats(ev: RunEvidence) -> list[Draft]:
    def key(item: tuple[str, OperationStats]) -> tuple[bool, int, float, str]:
        name, s = item
        return (name != TOTAL, -s.failures, -s.p95, name)

    out = []
    for name, s in sorted(ev.stats.items(), key=key)[: MAX_STATS + 1]:
        facts: dict[str, Fact] = {
            "requests": s.count,
            "failures": s.failures,
            "error_rate_pct": _fact(s.error_rate * 100),
            "rps": _fact(s.rps),
            "p50_ms": _fact(s.p50),
            "p95_ms": _fact(s.p95),
            "p99_ms": _fact(s.p99),
            "max_ms": _fact(s.max),
        }
        facts.update({f"status_{k}": v for k, v in sorted(s.errors_by_status.items())[:5]})
        subject = "the whole run" if name == TOTAL else name
        text = (
            f"{subject}: {s.count} requests, p95 {json.dumps(facts['p95_ms'])} ms, "
            f"errors {json.dumps(facts['error_rate_pct'])}%"
        )
        out.append(("stats", name, facts, text[:MAX_TEXT]))
    return out


def _changes(ev: RunEvidence) -> list[Draft]:
    if ev.diff is None:
        return []
    rank = {"error": 0, "warning": 1, "info": 2}
    changes = sorted(ev.diff.changes, key=lambda c: (rank.get(c.level, 3), c.operation, c.id))
    out: list[Draft] = []
    for name in ev.diff.added:
        out.append(("change", name, {"change": "endpoint-added"}, f"{name} was added"))
    for c in changes[:MAX_CHANGES]:
        facts: dict[str, Fact] = {"change": c.id, "level": c.level}
        out.append(("change", c.operation or "*", facts, c.message[:MAX_TEXT]))
    return out


def _resources(ev: RunEvidence) -> list[Draft]:
    out = []
    for side, r in sorted(ev.resources.items()):
        if r is None:
            continue
        facts: dict[str, Fact] = {
            "cpu_mean_pct": _fact(r.mean_cpu),
            "cpu_peak_pct": _fact(r.peak_cpu),
            "memory_start_mb": _fact(r.rss_start / (1 << 20)),
            "memory_end_mb": _fact(r.rss_end / (1 << 20)),
            "memory_peak_mb": _fact(r.rss_peak / (1 << 20)),
        }
        text = (
            f"{side}: CPU mean {json.dumps(facts['cpu_mean_pct'])}% of one core, "
            f"{r.memory_name} {json.dumps(facts['memory_start_mb'])} -> "
            f"{json.dumps(facts['memory_end_mb'])} MB"
        )
        out.append(("resources", side, facts, text))
    return out


def _rest(ev: RunEvidence) -> list[Draft]:
    out: list[Draft] = []
    if ev.image:
        scan = ev.image.get("scan") or {}
        facts: dict[str, Fact] = {"digest": _fact(ev.image.get("digest"))}
        facts.update({f"scan_{k}": _fact(v) for k, v in sorted(scan.items()) if k != "counts"})
        counts = scan.get("counts") or {}
        facts.update({f"vulnerabilities_{k}": _fact(v) for k, v in sorted(counts.items())})
        out.append(("image", "head", facts, f"image {facts['digest']}"))
    if ev.environment:
        env = {k: _fact(v) for k, v in sorted(ev.environment.items()) if not isinstance(v, dict)}
        text = ", ".join(f"{k} {json.dumps(v)}" for k, v in env.items())
        out.append(("environment", "*", env, text[:MAX_TEXT]))
    return out


def build_bundle(ev: RunEvidence, budget_tokens: int = BUDGET_TOKENS) -> Bundle:
    """The run's bundle: every draft in the order of importance, numbered e1, e2, ...;
    items past ``budget_tokens`` are left out (counted), the verdict never is."""
    drafts = [_verdict(ev)]
    for part in (_gates, _comparisons, _findings, _stats, _changes, _resources, _rest):
        drafts += part(ev)
    items: list[Item] = []
    used = 0
    for kind, subject, facts, text in drafts:
        item = Item(f"e{len(items) + 1}", kind, subject, facts, text)
        cost = estimate_tokens(json.dumps(item.to_json(), ensure_ascii=False)) + 1
        if items and used + cost > budget_tokens:
            continue  # a later, smaller item may still fit
        items.append(item)
        used += cost
    return Bundle(ev.run_id, tuple(items), omitted=len(drafts) - len(items))
