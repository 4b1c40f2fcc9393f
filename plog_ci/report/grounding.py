"""The rule of the AI narrative: every number and every claim comes from the evidence.

The model returns claims (``CLAIMS_SCHEMA``, enforced by the server's structured
output); each claim's ``text`` writes numbers only as references to the bundle,
``{e7.p95_ms}``, and lists the items it rests on in ``evidence``. PLog then keeps a
claim only if:

- its ``evidence`` is not empty and names only items of the bundle (``no-evidence``,
  ``unknown-evidence``);
- every reference names an item and one of its facts (``unknown-reference``), and
  the item is among the claim's evidence (``uncited-reference``);
- outside references its text has no numeric character at all, in any script
  (``literal-number``: ``950``, ``٩٥٠``, ``９９``, ``½``, ``⑤``), except in the bundle's own
  names: an operation (``GET /v2/pets``), a metric (``p95``);
- every reference has a value (``empty-reference``: a NaN became null);
- its text is at most ``MAX_CLAIM_CHARS`` long as written and twice that once filled
  (``too-long``), it cites at most ``MAX_EVIDENCE`` items (``too-much-evidence``), and
  its kind is one of ``KINDS`` (``bad-kind``).

Kept claims have their references replaced by the bundle's values, written as the
bundle writes them (``format_fact``), so the narrative holds no number that is not
in the bundle. Dropped claims are counted by reason; the report says how many.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plog_ci.report.evidence import Bundle, Fact

KINDS = ("cause", "impact", "suggestion")
MAX_CLAIMS = 12
MAX_CLAIM_CHARS = 400
MAX_EVIDENCE = 8

# The JSON schema of the model's answer (OpenAI's response_format json_schema, which
# vLLM and llama.cpp's server turn into a grammar).
CLAIMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "claims": {
            "type": "array",
            "maxItems": MAX_CLAIMS,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "maxLength": MAX_CLAIM_CHARS},
                    "evidence": {
                        "type": "array",
                        "maxItems": MAX_EVIDENCE,
                        "items": {"type": "string", "pattern": "^e[0-9]{1,4}$"},
                    },
                    "kind": {"type": "string", "enum": list(KINDS)},
                },
                "required": ["text", "evidence", "kind"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["claims"],
    "additionalProperties": False,
}

REFERENCE = re.compile(r"\{(e[0-9]{1,4})\.([A-Za-z_][A-Za-z0-9_]{0,63})\}")
NUMBERS = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_METRIC_NAMES = re.compile(r"\bp(?:50|90|95|99)(?:_ms)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Claim:
    """A kept claim: its text with the numbers filled in, its kind and evidence ids."""

    text: str
    kind: str
    evidence: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "kind": self.kind, "evidence": list(self.evidence)}


@dataclass(frozen=True)
class Grounded:
    """The claims kept, and the dropped ones counted by reason."""

    claims: tuple[Claim, ...]
    dropped: Mapping[str, int] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def to_json(self) -> dict[str, Any]:
        return {"claims": [c.to_json() for c in self.claims], "dropped": dict(self.dropped)}


def format_fact(value: Fact) -> str:
    """A fact as the bundle's JSON writes it (8.6, 1.5e-05, 695.3, "regression")."""
    return value if isinstance(value, str) else json.dumps(value)


def _names(bundle: Bundle) -> list[str]:
    """Strings of the bundle that may hold digits in a claim's text: its subjects
    (operations), longest first so that a longer name is removed whole."""
    with_digits = {i.subject for i in bundle.items if any(c.isnumeric() for c in i.subject)}
    return sorted(with_digits, key=len)[::-1]


def _judge(raw: Mapping[str, Any], bundle: Bundle, names: Sequence[str]) -> Claim | str:
    text, kind, evidence = raw.get("text"), raw.get("kind"), raw.get("evidence")
    if not isinstance(text, str) or not isinstance(evidence, list):
        return "malformed"
    if kind not in KINDS:
        return "bad-kind"
    if len(text) > MAX_CLAIM_CHARS:
        return "too-long"
    if not all(isinstance(e, str) for e in evidence):
        return "malformed"
    cited = tuple(dict.fromkeys(evidence))
    if not cited:
        return "no-evidence"
    if len(cited) > MAX_EVIDENCE:
        return "too-much-evidence"
    if any(e not in bundle.by_id for e in cited):
        return "unknown-evidence"
    for item_id, name in REFERENCE.findall(text):
        item = bundle.by_id.get(item_id)
        if item is None or name not in item.facts:
            return "unknown-reference"
        if item_id not in cited:
            return "uncited-reference"
        if item.facts[name] is None:
            return "empty-reference"
    bare = REFERENCE.sub("", text)
    for name in names:
        bare = bare.replace(name, "")
    if any(c.isnumeric() for c in _METRIC_NAMES.sub("", bare)):
        return "literal-number"

    def fill(match: re.Match[str]) -> str:
        return format_fact(bundle.by_id[match.group(1)].facts[match.group(2)])

    filled = REFERENCE.sub(fill, text).strip()
    if len(filled) > 2 * MAX_CLAIM_CHARS:
        return "too-long"
    return Claim(filled, str(kind), cited)


def ground(answer: Any, bundle: Bundle) -> Grounded:
    """The claims of the model's ``answer`` (parsed JSON) that keep the rule.
    A malformed answer keeps nothing (``{"malformed-answer": 1}``)."""
    claims = answer.get("claims") if isinstance(answer, Mapping) else None
    if not isinstance(claims, list):
        return Grounded((), {"malformed-answer": 1})
    names = _names(bundle)
    kept: list[Claim] = []
    dropped: Counter[str] = Counter()
    for raw in claims[:MAX_CLAIMS]:
        judged = _judge(raw, bundle, names) if isinstance(raw, Mapping) else "malformed"
        if isinstance(judged, Claim):
            kept.append(judged)
        else:
            dropped[judged] += 1
    if len(claims) > MAX_CLAIMS:
        dropped["over-limit"] += len(claims) - MAX_CLAIMS
    return Grounded(tuple(kept), dict(sorted(dropped.items())))


def ungrounded_numbers(text: str, bundle: Bundle) -> list[str]:
    """Numbers written in ``text`` that the bundle does not hold (as written in its
    prompt text): the grounding bar's measure. Empty for a grounded narrative."""
    known = set(NUMBERS.findall(bundle.prompt_text()))
    known |= {n.lstrip("+-") for n in known}
    found = [n for n in NUMBERS.findall(text) if n not in known and n.lstrip("+-") not in known]
    # Numerals of other scripts (٩٥٠, ９９, ½, ⑤): the bundle writes none
    return found + [c for c in text if c.isnumeric() and not c.isascii()]
