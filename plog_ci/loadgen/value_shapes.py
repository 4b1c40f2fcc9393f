"""Objects, arrays and strings for :mod:`plog_ci.loadgen.values` (the generation state too).

Each function gets the allOf-folded schema, the generation state and the
``generate`` function to call for what it contains (values.py passes it; this
module does not import values.py). Sources: JSON Schema 2020-12 validation
(sections 6.3 strings, 6.4 arrays, 6.5 objects), 2020-12 core 10.3 (``prefixItems``,
``contains``) and 8 (``contentEncoding``, ``contentMediaType``); OpenAPI 3.0.3
Schema Object (``readOnly``/``writeOnly``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plog_ci.loadgen.pattern import sample as pattern_sample

FORMAT_SAMPLES: dict[str, str] = {
    "uuid": "00000000-0000-4000-8000-000000000001",
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uri-reference": "/example",
    "iri": "https://example.com/",
    "iri-reference": "/example",
    "uri-template": "https://example.com/{id}",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "byte": "ZXhhbXBsZQ==",
    "binary": "example",
    "password": "Example-password-1",
    "duration": "PT1M",
    "json-pointer": "/example",
    "relative-json-pointer": "0",
    "regex": "^example$",
    "decimal": "1.5",
    "int32": "1",
    "int64": "1",
}
MAX_DEPTH = 40  # schema nesting followed at most (a hostile or cyclic schema stops here)
MAX_RECURSION = 3  # recursive references entered along one path
ALL_PROPS_OBJECTS = 2  # objects without 'required' get every property this deep
MAX_ITEMS = 1000  # a larger minItems / minProperties is not generated


class _Omit:
    """No value: recursion would go deeper than allowed (the parent leaves it out)."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


@dataclass
class Ctx:
    """Generation state for one value."""

    request: bool = True
    root: dict[str, Any] | None = None
    notes: list[str] | None = None
    stack: list[dict[str, Any]] = field(default_factory=list)
    entered: int = 0  # recursive references entered along the current path
    recursions: int = 0  # ever entered (a parent compares before/after)
    objects: int = 0  # object nesting
    variant: int = 0  # > 0: make this value differ (uniqueItems)
    refs: dict[str, dict[str, Any]] = field(default_factory=dict)  # marker $ref -> schema used

    def check_root(self) -> dict[str, Any] | None:
        """The document recursion markers resolve against when a value is validated.

        ``root`` when given; else one built from the schemas generation resolved
        the markers to (``#/components/schemas/Node`` -> that schema), so a marker
        is checked as what was generated for it rather than accepting anything.
        """
        if self.root is not None or not self.refs:
            return self.root
        out: dict[str, Any] = {}
        ours = {id(out)}
        for ref, target in self.refs.items():
            parts = [p.replace("~1", "/").replace("~0", "~") for p in ref[1:].split("/")[1:]]
            node = out
            for part in parts[:-1]:
                if part not in node:
                    node[part] = {}
                    ours.add(id(node[part]))
                if id(node[part]) not in ours:  # a prefix of another reference: leave it out
                    break
                node = node[part]
            else:
                if parts and parts[-1] not in node:
                    node[parts[-1]] = target
        return out

    def mark(self) -> int:
        return len(self.notes) if self.notes is not None else 0

    def forget(self, mark: int) -> None:
        """Drop the notes made since ``mark`` (about a value that was left out)."""
        if self.notes is not None:
            del self.notes[mark:]

    def note(self, text: str) -> None:
        if self.notes is not None and text not in self.notes:
            self.notes.append(text)


Generate = Callable[[Any, Ctx, str, int], Any]


def hidden(schema: Any, flag: str, depth: int = 0) -> bool:
    """Whether ``schema`` is ``readOnly``/``writeOnly`` itself or in one of its allOf parts."""
    if not isinstance(schema, dict) or depth > 8:
        return False
    if schema.get(flag) is True:
        return True
    parts = schema.get("allOf")
    return isinstance(parts, list) and any(hidden(p, flag, depth + 1) for p in parts)


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _extra_schema(eff: dict[str, Any], name: str) -> Any:
    """The schema a property not in ``properties`` gets (patternProperties, additional)."""
    from plog_ci.loadgen.pattern import compiled

    patterns = eff.get("patternProperties")
    if isinstance(patterns, dict):
        for pattern, sub in patterns.items():
            regex = compiled(str(pattern))
            if regex is not None and regex.search(name):
                return sub
    extra = eff.get("additionalProperties", eff.get("unevaluatedProperties"))
    return extra if isinstance(extra, dict) else {}


def object_value(eff: dict[str, Any], ctx: Ctx, where: str, depth: int, gen: Generate) -> Any:
    raw_props = eff.get("properties")
    props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
    raw_required = eff.get("required")
    required = (
        [n for n in raw_required if isinstance(n, str)] if isinstance(raw_required, list) else []
    )
    flag = "readOnly" if ctx.request else "writeOnly"
    # Without a 'required' list, send every property near the top: servers often want them.
    everything = not isinstance(raw_required, list) and ctx.objects < ALL_PROPS_OBJECTS
    names = list(dict.fromkeys(required + (list(props) if everything else [])))
    out: dict[str, Any] = {}
    ctx.objects += 1
    try:

        def add(name: str, optional: bool) -> bool:
            sub = props[name] if name in props else _extra_schema(eff, name)
            if hidden(sub, flag) or sub is False:
                return False
            before, noted = ctx.recursions, ctx.mark()
            value = gen(sub, ctx, f"{where}/{_escape(name)}", depth + 1)
            if value is OMIT or (optional and ctx.recursions != before):
                ctx.recursions = before  # what was left out does not count
                ctx.forget(noted)
                if not optional:
                    ctx.note(f"{where}/{_escape(name)}: recursion too deep for a required value")
                return False
            out[name] = value
            return True

        wanted = set(required)
        for name in names:
            add(name, name not in wanted)
        _dependents(eff, out, add)
        _min_properties(eff, props, out, add)
        maximum = _int(eff.get("maxProperties"), None)
        if maximum is not None and len(out) > maximum:
            for name in [n for n in reversed(out) if n not in wanted][: len(out) - maximum]:
                del out[name]
    finally:
        ctx.objects -= 1
    return out


def _dependents(eff: dict[str, Any], out: dict[str, Any], add: Callable[[str, bool], bool]) -> None:
    """``dependentRequired`` (2020-12 6.5.4) and Draft 4 ``dependencies`` lists."""
    for key in ("dependentRequired", "dependencies"):
        rules = eff.get(key)
        if not isinstance(rules, dict):
            continue
        for _ in range(3):  # a dependent can bring its own dependents
            for name, needed in rules.items():
                if name in out and isinstance(needed, list):
                    for other in needed:
                        if isinstance(other, str) and other not in out:
                            add(other, False)


def _min_properties(
    eff: dict[str, Any],
    props: dict[str, Any],
    out: dict[str, Any],
    add: Callable[[str, bool], bool],
) -> None:
    minimum = _int(eff.get("minProperties"), None)
    if minimum is None or len(out) >= minimum:
        return
    for name in props:
        if len(out) >= minimum:
            return
        if name not in out:
            add(name, False)
    allowed = eff.get("additionalProperties", True) is not False
    n = 0
    while allowed and len(out) < min(minimum, MAX_ITEMS) and n < MAX_ITEMS:
        n += 1
        name = f"key{n}"
        if name not in out and name not in props:
            add(name, False)


def _int(value: Any, default: int | None) -> Any:
    """A count keyword's value (``2.0`` is 2), or ``default`` where it is not a count ≥ 0."""
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else default


def array_value(eff: dict[str, Any], ctx: Ctx, where: str, depth: int, gen: Generate) -> Any:
    low = _int(eff.get("minItems"), 0)
    high = _int(eff.get("maxItems"), None)
    raw_prefix = eff.get("prefixItems")
    prefix: list[Any] = raw_prefix if isinstance(raw_prefix, list) else []
    items = eff.get("items")
    if isinstance(items, list):  # Draft 4 tuple form
        prefix, items = items, eff.get("additionalItems", {})
    count = max(low, 1)
    if high is not None:
        count = min(count, high)
    if items is False:
        count = min(count, len(prefix))
    count = min(count, MAX_ITEMS)
    contains = eff.get("contains")
    need = 0
    if isinstance(contains, dict):
        need = _int(eff.get("minContains"), 1)
        count = max(count, need)
    unique = eff.get("uniqueItems") is True
    out: list[Any] = []
    before, noted = ctx.recursions, ctx.mark()
    if isinstance(items, dict) and items.get("x-plog-recursive") and not low and not prefix:
        return []  # recursion where the array may stay empty
    saved = ctx.variant
    try:
        for i in range(count):
            if i < len(prefix):
                sub: Any = prefix[i]
            elif i - len(prefix) < need and isinstance(contains, dict):
                base = items if isinstance(items, dict) else {}
                sub = {"allOf": [base, contains]} if base else contains
            else:
                sub = items if isinstance(items, dict) else {}
            ctx.variant = saved + i if unique or need > 1 else saved
            value = gen(sub, ctx, f"{where}/{i}", depth + 1)
            if value is OMIT:
                break
            out.append(value)
    finally:
        ctx.variant = saved
    if ctx.recursions != before and len(out) > low:
        if not low:
            ctx.recursions = before  # nothing recursive is kept
            ctx.forget(noted)
        return out[:low]  # recursion where the array may stay short: leave it out
    if len(out) < low:
        if ctx.recursions != before and low:
            ctx.note(f"{where or '/'}: recursion too deep for the {low} items required")
        return out if out or not low else OMIT
    return out


def string_value(eff: dict[str, Any], ctx: Ctx, where: str, gen: Generate) -> str:
    low = _int(eff.get("minLength"), 0)
    high = _int(eff.get("maxLength"), None)
    text = _content(eff, ctx, where, gen)
    pattern = eff.get("pattern")
    if text is None and isinstance(pattern, str):
        text = pattern_sample(pattern, low, high)
        if text is None:
            text = pattern_sample(pattern)
    fmt = eff.get("format")
    if text is None and isinstance(fmt, str) and fmt in FORMAT_SAMPLES:
        text = FORMAT_SAMPLES[fmt]
    if text is None:
        text = "example"
    if ctx.variant:
        text = f"{text}{ctx.variant}" if not isinstance(pattern, str) else text
    if len(text) < low:
        filler = text[-1] if text else "x"
        text = text + filler * (low - len(text))
    if high is not None and high >= 0 and len(text) > high:
        text = text[:high]
    return text


def _content(eff: dict[str, Any], ctx: Ctx, where: str, gen: Generate) -> str | None:
    """A string for ``contentMediaType`` / ``contentEncoding`` (2020-12 validation 8)."""
    media = eff.get("contentMediaType")
    encoding = eff.get("contentEncoding")
    if not isinstance(media, str) and not isinstance(encoding, str):
        return None
    payload = "example"
    if isinstance(media, str) and (media.endswith("/json") or media.endswith("+json")):
        inner = eff.get("contentSchema")
        value = gen(inner, ctx, where, 0) if isinstance(inner, dict) else {}
        payload = json.dumps({} if value is OMIT else value, separators=(",", ":"))
    if not isinstance(encoding, str):
        return payload
    data = payload.encode()
    coders: dict[str, Callable[[bytes], bytes]] = {
        "base64": base64.b64encode,
        "base64url": base64.urlsafe_b64encode,
        "base32": base64.b32encode,
        "base16": base64.b16encode,
    }
    coder = coders.get(encoding.lower())
    return coder(data).decode() if coder else payload
