"""Rules on one schema's own keywords: type/format, nullable, enum, bounds, pattern, oneOf/anyOf.

:class:`KeywordRules` knows where a schema sits (request or response, media
type, status, parameter) and compares the keywords of one base/head pair;
:class:`plog_ci.openapi.schema_rules.SchemaRules` adds the walk into properties
and items. Direction matters: a narrower request or a wider response breaks
clients, the opposite does not.
"""

from __future__ import annotations

import json
from typing import Any

from plog_ci.openapi.changes import ERROR, INFO, WARNING, Emitter, fmt_value
from plog_ci.openapi.model import Parameter

MAX_DEPTH = 32


# -- schema helpers -------------------------------------------------------------------


def _types(schema: dict[str, Any]) -> tuple[str, ...]:
    t = schema.get("type")
    if isinstance(t, str):
        return (t,)
    if isinstance(t, list):
        return tuple(str(x) for x in t if x != "null")
    return ()


def _nullable(schema: dict[str, Any]) -> bool:
    t = schema.get("type")
    return bool(schema.get("nullable")) or (isinstance(t, list) and "null" in t)


def flatten(schema: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Fold ``allOf`` members into one schema (properties and required merged)."""
    members = schema.get("allOf")
    if not isinstance(members, list) or depth > MAX_DEPTH:
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    props = dict(out.get("properties") or {})
    required = list(out.get("required") or [])
    for member in members:
        if not isinstance(member, dict):
            continue
        flat = flatten(member, depth + 1)
        props.update(flat.get("properties") or {})
        required.extend(r for r in flat.get("required") or [] if r not in required)
        for key, value in flat.items():
            if key not in ("properties", "required"):
                out.setdefault(key, value)
    if props:
        out["properties"] = props
    if required:
        out["required"] = required
    return out


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _json_like(media_type: str) -> bool:
    mt = media_type.split(";")[0].strip().lower()
    return mt in ("*/*", "application/*") or mt.endswith(("/json", "+json"))


_BOUNDS = (
    # key, id stem, tighter when the head value is ...
    ("maximum", "max", "lower"),
    ("minimum", "min", "higher"),
    ("maxLength", "max-length", "lower"),
    ("minLength", "min-length", "higher"),
    ("maxItems", "max-items", "lower"),
    ("minItems", "min-items", "higher"),
)
_SET_IDS = {"max", "min", "max-length"}  # "<stem>-set" ids that oasdiff has (warning)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _type_breaks_request(base: tuple[str, ...], head: tuple[str, ...], lenient: bool) -> bool:
    """Whether a request value valid for ``base`` may be rejected by ``head``."""
    if not head or set(base) <= set(head):
        return False
    if set(base) <= {"integer"} and "number" in head and base:
        return False
    return not (lenient and "string" in head)


def _type_breaks_response(base: tuple[str, ...], head: tuple[str, ...]) -> bool:
    """Whether a response a client handled for ``base`` may now fall outside it."""
    if not base or (set(head) <= set(base) and head):
        return False
    return not (set(head) <= {"integer"} and "number" in base and head)


_FORMAT_WIDER = {("integer", "int32", "int64"), ("number", "float", "double")}


def _format_narrows(kind: str, old: Any, new: Any) -> bool:
    """Whether format ``new`` rejects values that ``old`` allowed (None: any format)."""
    if old == new or new is None:
        return False
    return (kind, old, new) not in _FORMAT_WIDER


# -- the keyword checks ---------------------------------------------------------------


class KeywordRules:
    """Where one schema pair sits, and the checks on the keywords of that pair."""

    def __init__(
        self,
        out: Emitter,
        request: bool,
        prefix: str,
        ptr: list[str | int],
        media_type: str = "",
        status: str = "",
        param: Parameter | None = None,
    ) -> None:
        self.out = out
        self.request = request
        self.prefix = prefix  # "request-body" | "request-parameter" | "response-body"
        self.ptr = ptr
        self.media_type = media_type
        self.status = status
        self.param = param
        self._seen: set[tuple[int, int]] = set()  # pairs SchemaRules.compare has been through

    def _what(self, prop: str) -> str:
        if self.param is not None:
            return f"the {self.param.location} request parameter {self.param.name}"
        if prop:
            return f"the {'request' if self.request else 'response'} property {prop}"
        return f"the {'request' if self.request else 'response'} body"

    def _id(self, prop: str, stem: str) -> str:
        if self.param is not None:
            return f"request-parameter-{stem}"
        side = "request" if self.request else "response"
        return f"{side}-{'property' if prop else 'body'}-{stem}"

    def _emit(
        self,
        prop: str,
        stem: str,
        level: str,
        message: str,
        path: list[str | int],
        *,
        in_base: bool = False,
    ) -> None:
        suffix = f" for the status {self.status}" if self.status else ""
        self.out.emit(
            self._id(prop, stem), level, message + suffix, self.ptr + path, in_base=in_base
        )

    def _type(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        what: str,
    ) -> None:
        if self.param is None and not _json_like(self.media_type):
            return  # the JSON-schema type of an XML/text body is not its wire contract
        bt, ht = _types(base), _types(head)
        kind = ht[0] if len(ht) == 1 else ""
        if self.request:
            lenient = self.param is not None and self.param.location != "body"
            broke = bt != ht and _type_breaks_request(bt, ht, lenient)
            fmt_broke = (
                not broke
                and bt == ht
                and _format_narrows(kind, base.get("format"), head.get("format"))
            )
        else:
            broke = bt != ht and _type_breaks_response(bt, ht)
            fmt_broke = (
                not broke
                and bt == ht
                and _format_narrows(kind, head.get("format"), base.get("format"))
            )
        old = f"{'/'.join(bt) or 'any'}/{base.get('format') or 'none'}"
        new = f"{'/'.join(ht) or 'any'}/{head.get('format') or 'none'}"
        if broke or fmt_broke:
            self._emit(
                prop,
                "type-changed",
                ERROR,
                f"{what}: the type/format changed from {old} to {new}",
                [*path, "type"],
            )
        elif self.request and bt != ht and bt and ht:
            self._emit(
                prop,
                "type-generalized",
                INFO,
                f"{what}: the type/format was widened from {old} to {new}",
                [*path, "type"],
            )

    def _nullable(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        what: str,
    ) -> None:
        bn, hn = _nullable(base), _nullable(head)
        if bn == hn or self.param is not None:
            return
        if self.request and bn and not hn:
            self._emit(prop, "became-not-nullable", ERROR, f"{what} became not nullable", path)
        elif self.request and hn:
            self._emit(prop, "became-nullable", INFO, f"{what} became nullable", path)
        elif not self.request and hn:
            self._emit(prop, "became-nullable", ERROR, f"{what} became nullable", path)

    def _enum_request(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        what: str,
    ) -> None:
        be, he = base.get("enum"), head.get("enum")
        if not isinstance(he, list):
            return
        if not isinstance(be, list):
            self._emit(
                prop,
                "became-enum",
                ERROR,
                f"{what} was restricted to a list of enum values",
                [*path, "enum"],
            )
            return
        bset = {_canon(v): v for v in be}
        hset = {_canon(v): v for v in he}
        for k, v in bset.items():
            if k not in hset:
                self._emit(
                    prop,
                    "enum-value-removed",
                    ERROR,
                    f"removed the enum value {fmt_value(v)} from {what}",
                    [*path, "enum"],
                )
        for k, v in hset.items():
            if k not in bset:
                self._emit(
                    prop,
                    "enum-value-added",
                    INFO,
                    f"added the new enum value {fmt_value(v)} to {what}",
                    [*path, "enum"],
                )

    def _enum_response(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        what: str,
    ) -> None:
        be, he = base.get("enum"), head.get("enum")
        if not (isinstance(be, list) and isinstance(he, list)) or not prop:
            return
        bset = {_canon(v): v for v in be}
        hset = {_canon(v): v for v in he}
        for k, v in hset.items():
            if k not in bset:
                self.out.emit(
                    "response-property-enum-value-added",
                    WARNING,
                    f"added the new enum value {fmt_value(v)} to {what} for the response "
                    f"status {self.status}",
                    [*self.ptr, *path, "enum"],
                )
        for k, v in bset.items():
            if k not in hset:
                self.out.emit(
                    "response-property-enum-value-removed",
                    INFO,
                    f"removed the enum value {fmt_value(v)} from {what} for the response "
                    f"status {self.status}",
                    [*self.ptr, *path, "enum"],
                )

    def _bounds(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        what: str,
    ) -> None:
        for key, stem, tighter in _BOUNDS:
            b, h = _num(base.get(key)), _num(head.get(key))
            if b == h or h is None:
                continue
            where = [*path, key]
            if b is None:
                if stem in _SET_IDS:
                    self._emit(
                        prop,
                        f"{stem}-set",
                        WARNING,
                        f"for {what}, the {key} was set to {head.get(key)}",
                        where,
                    )
                continue
            narrowed = h < b if tighter == "lower" else h > b
            verb = "decreased" if h < b else "increased"
            self._emit(
                prop,
                f"{stem}-{verb}",
                ERROR if narrowed else INFO,
                f"for {what}, the {key} was {verb} from {base.get(key)} to {head.get(key)}",
                where,
            )

    def _pattern(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        what: str,
    ) -> None:
        b, h = base.get("pattern"), head.get("pattern")
        if b == h:
            return
        where = [*path, "pattern"]
        if b is None:
            level = WARNING if self.param is not None else ERROR
            self._emit(prop, "pattern-added", level, f"added the pattern {h!r} to {what}", where)
        elif h is None:
            self._emit(
                prop, "pattern-removed", INFO, f"removed the pattern {b!r} from {what}", where
            )
        else:
            self._emit(
                prop,
                "pattern-changed",
                WARNING,
                f"changed the pattern of {what} from {b!r} to {h!r}",
                where,
            )

    def _one_of(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        what: str,
    ) -> None:
        for key, stem in (("oneOf", "one-of"), ("anyOf", "any-of")):
            b, h = base.get(key), head.get(key)
            if not isinstance(h, list):
                continue
            if not isinstance(b, list):
                if (
                    not prop
                    and not _types(head)
                    and "properties" not in head
                    and ("properties" in base or _types(base))
                ):
                    side = "request" if self.request else "response"
                    self.out.emit(
                        f"{side}-body-wrapped-in-{stem}",
                        ERROR,
                        f"the {side} body was restructured into a {key}",
                        [*self.ptr, *path, key],
                    )
                continue
            bset = {_canon(s): (i, s) for i, s in enumerate(b)}
            hset = {_canon(s): (i, s) for i, s in enumerate(h)}

            def name(entry: tuple[int, Any]) -> str:
                i, s = entry
                return str(s.get("title") or f"#{i}") if isinstance(s, dict) else f"#{i}"

            for k, entry in hset.items():
                if k not in bset:
                    self._emit(
                        prop,
                        f"{stem}-added",
                        INFO if self.request else ERROR,
                        f"added {name(entry)} to the {key} list of {what}",
                        [*path, key, entry[0]],
                    )
            for k, entry in bset.items():
                if k not in hset:
                    self._emit(
                        prop,
                        f"{stem}-removed",
                        ERROR if self.request else INFO,
                        f"removed {name(entry)} from the {key} list of {what}",
                        [*path, key, entry[0]],
                        in_base=True,
                    )
