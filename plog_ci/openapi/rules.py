"""Breaking-change rules for one operation, with oasdiff's change ids and levels.

Each rule compares the base and head (revision) view of one part of an
operation and emits :class:`Change` records. Ids and default levels follow
oasdiff (https://www.oasdiff.com/checks) so users can move between the tools;
the levels are those of oasdiff's rules at the commit our reference cases come
from (tests/data/openapi-diff). Direction matters: a narrower request or a
wider response breaks clients, the opposite does not.

Deliberate differences from oasdiff are listed in docs/openapi.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plog_ci.openapi.model import MediaType, Operation, Parameter, RequestBody, Response

ERROR, WARNING, INFO = "error", "warning", "info"
LEVEL_RANK = {INFO: 0, WARNING: 1, ERROR: 2}
_MAX_DEPTH = 32
_TEMPLATE = re.compile(r"\{([^}/]*)\}")


@dataclass(frozen=True)
class Change:
    id: str
    level: str  # error (breaking) | warning | info
    operation: str  # "METHOD /path", or "" for changes to the whole API
    message: str
    source: str  # "<spec file>#<JSON pointer>"

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "level": self.level,
            "operation": self.operation,
            "message": self.message,
            "source": self.source,
        }


def esc(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _fmt(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


class Emitter:
    """Collects changes for one operation; ``source`` is built from pointer parts."""

    def __init__(
        self,
        operation: str,
        base_file: str,
        head_file: str,
        base_ptr: list[str | int],
        head_ptr: list[str | int],
    ) -> None:
        self.operation = operation
        self.base_file = base_file
        self.head_file = head_file
        self.base_ptr = base_ptr
        self.head_ptr = head_ptr
        self.changes: list[Change] = []

    def emit(
        self,
        change_id: str,
        level: str,
        message: str,
        suffix: list[str | int] | None = None,
        *,
        in_base: bool = False,
    ) -> None:
        parts = (self.base_ptr if in_base else self.head_ptr) + (suffix or [])
        file = self.base_file if in_base else self.head_file
        source = f"{file}#/" + "/".join(esc(p) for p in parts)
        self.changes.append(Change(change_id, level, self.operation, message, source))


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


def _flatten(schema: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Fold ``allOf`` members into one schema (properties and required merged)."""
    members = schema.get("allOf")
    if not isinstance(members, list) or depth > _MAX_DEPTH:
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    props = dict(out.get("properties") or {})
    required = list(out.get("required") or [])
    for member in members:
        if not isinstance(member, dict):
            continue
        flat = _flatten(member, depth + 1)
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


# -- schemas in requests --------------------------------------------------------------


class SchemaRules:
    """Compare two (resolved) schemas of one request or response element."""

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
        self._seen: set[tuple[int, int]] = set()

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

    def compare(
        self,
        base: dict[str, Any] | None,
        head: dict[str, Any] | None,
        prop: str = "",
        path: list[str | int] | None = None,
        depth: int = 0,
    ) -> None:
        path = path or []
        if base is None or head is None or depth > _MAX_DEPTH:
            return
        if base.get("x-plog-recursive") or head.get("x-plog-recursive"):
            return
        key = (id(base), id(head))
        if key in self._seen or base == head:
            return
        self._seen.add(key)
        if self.request and head.get("readOnly") and prop:
            return
        if not self.request and head.get("writeOnly") and prop:
            return
        base, head = _flatten(base), _flatten(head)
        what = self._what(prop)
        self._type(base, head, prop, path, what)
        self._nullable(base, head, prop, path, what)
        if self.request:
            self._enum_request(base, head, prop, path, what)
            self._bounds(base, head, prop, path, what)
            self._pattern(base, head, prop, path, what)
        else:
            self._enum_response(base, head, prop, path, what)
        self._one_of(base, head, prop, path, what)
        self._properties(base, head, prop, path, depth)
        b_items, h_items = base.get("items"), head.get("items")
        if isinstance(b_items, dict) and isinstance(h_items, dict):
            self.compare(
                b_items, h_items, f"{prop}/items" if prop else "items", [*path, "items"], depth + 1
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
                    f"removed the enum value {_fmt(v)} from {what}",
                    [*path, "enum"],
                )
        for k, v in hset.items():
            if k not in bset:
                self._emit(
                    prop,
                    "enum-value-added",
                    INFO,
                    f"added the new enum value {_fmt(v)} to {what}",
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
                    f"added the new enum value {_fmt(v)} to {what} for the response "
                    f"status {self.status}",
                    [*self.ptr, *path, "enum"],
                )
        for k, v in bset.items():
            if k not in hset:
                self.out.emit(
                    "response-property-enum-value-removed",
                    INFO,
                    f"removed the enum value {_fmt(v)} from {what} for the response "
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

    def _properties(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        depth: int,
    ) -> None:
        bp: dict[str, Any] = base["properties"] if isinstance(base.get("properties"), dict) else {}
        hp: dict[str, Any] = head["properties"] if isinstance(head.get("properties"), dict) else {}
        if not bp and not hp:
            return
        breq = set(base.get("required") or [])
        hreq = set(head.get("required") or [])
        side = "request" if self.request else "response"
        status = f" for the status {self.status}" if self.status else ""
        for name in sorted(set(bp) | set(hp)):
            full = f"{prop}/{name}" if prop else name
            where = [*path, "properties", name]
            b: dict[str, Any] | None = (
                bp[name] if isinstance(bp.get(name), dict) else ({} if name in bp else None)
            )
            h: dict[str, Any] | None = (
                hp[name] if isinstance(hp.get(name), dict) else ({} if name in hp else None)
            )
            if self.request and ((b or {}).get("readOnly") or (h or {}).get("readOnly")):
                continue
            if not self.request and ((b or {}).get("writeOnly") or (h or {}).get("writeOnly")):
                continue
            if b is None and h is not None:
                if self.request:
                    if name in hreq:
                        self.out.emit(
                            "new-required-request-property",
                            ERROR,
                            f"added the new required request property {full}",
                            self.ptr + where,
                        )
                    else:
                        self.out.emit(
                            "new-optional-request-property",
                            INFO,
                            f"added the new optional request property {full}",
                            self.ptr + where,
                        )
                else:
                    level_id = (
                        "response-required-property-added"
                        if name in hreq
                        else "response-optional-property-added"
                    )
                    kind = "required" if name in hreq else "optional"
                    self.out.emit(
                        level_id,
                        INFO,
                        f"added the {kind} property {full} to the response{status}",
                        self.ptr + where,
                    )
                continue
            if h is None and b is not None:
                if self.request:
                    self.out.emit(
                        "request-property-removed",
                        WARNING,
                        f"removed the request property {full}",
                        self.ptr + where,
                        in_base=True,
                    )
                elif name in breq:
                    self.out.emit(
                        "response-required-property-removed",
                        ERROR,
                        f"removed the required property {full} from the response{status}",
                        self.ptr + where,
                        in_base=True,
                    )
                else:
                    self.out.emit(
                        "response-optional-property-removed",
                        WARNING,
                        f"removed the optional property {full} from the response{status}",
                        self.ptr + where,
                        in_base=True,
                    )
                continue
            assert b is not None and h is not None
            if name in hreq and name not in breq:
                if self.request:
                    rid = (
                        "request-property-became-required-with-default"
                        if "default" in h
                        else "request-property-became-required"
                    )
                    self.out.emit(
                        rid, ERROR, f"the request property {full} became required", self.ptr + where
                    )
                else:
                    self.out.emit(
                        "response-property-became-required",
                        INFO,
                        f"the response property {full} became required{status}",
                        self.ptr + where,
                    )
            elif name in breq and name not in hreq:
                if self.request:
                    self.out.emit(
                        "request-property-became-optional",
                        INFO,
                        f"the request property {full} became optional",
                        self.ptr + where,
                    )
                else:
                    self.out.emit(
                        "response-property-became-optional",
                        ERROR,
                        f"the response property {full} became optional{status}",
                        self.ptr + where,
                    )
            self.compare(b, h, full, where, depth + 1)
        _ = side


# -- operation-level rules ------------------------------------------------------------


def _param_key(p: Parameter) -> tuple[str, str]:
    name = p.name.lower() if p.location == "header" else p.name
    return p.location, name


def _path_names(path: str) -> list[str]:
    return _TEMPLATE.findall(path)


def parameters(
    out: Emitter,
    base: Operation,
    head: Operation,
    param_ptr: Callable[[Operation, Parameter, bool], list[str | int]],
) -> None:
    # Path parameters are matched by position: /pets/{id} and /pets/{petId} are the same.
    rename = dict(zip(_path_names(base.path), _path_names(head.path), strict=False))
    bmap: dict[tuple[str, str], Parameter] = {}
    for p in base.parameters:
        key = _param_key(p)
        if p.location == "path" and p.name in rename:
            key = ("path", rename[p.name])
        bmap[key] = p
    hmap = {_param_key(p): p for p in head.parameters}
    for key, p in bmap.items():
        if key not in hmap:
            out.emit(
                "request-parameter-removed",
                WARNING,
                f"deleted the {p.location} request parameter {p.name}",
                param_ptr(base, p, True),
                in_base=True,
            )
    for key, h in hmap.items():
        b = bmap.get(key)
        ptr = param_ptr(head, h, False)
        if b is None:
            if h.location == "path":
                out.emit(
                    "new-request-path-parameter",
                    ERROR,
                    f"added the new path request parameter {h.name}",
                    ptr,
                )
            elif h.shared:
                rid = (
                    "new-required-request-default-parameter-to-existing-path"
                    if h.required
                    else "new-optional-request-default-parameter-to-existing-path"
                )
                kind = "required" if h.required else "optional"
                out.emit(
                    rid,
                    ERROR if h.required else INFO,
                    f"added the new {kind} {h.location} request parameter {h.name} to all "
                    "path's operations",
                    ptr,
                )
            elif h.required:
                out.emit(
                    "new-required-request-parameter",
                    ERROR,
                    f"added the new required {h.location} request parameter {h.name}",
                    ptr,
                )
            else:
                out.emit(
                    "new-optional-request-parameter",
                    INFO,
                    f"added the new optional {h.location} request parameter {h.name}",
                    ptr,
                )
            continue
        if b == h:
            continue
        if h.required and not b.required:
            out.emit(
                "request-parameter-became-required",
                ERROR,
                f"the {h.location} request parameter {h.name} became required",
                ptr,
            )
        elif b.required and not h.required:
            out.emit(
                "request-parameter-became-optional",
                INFO,
                f"the {h.location} request parameter {h.name} became optional",
                ptr,
            )
        if h.deprecated and not b.deprecated:
            out.emit(
                "request-parameter-deprecated",
                INFO,
                f"{h.location} request parameter {h.name} was deprecated",
                ptr,
            )
        elif b.deprecated and not h.deprecated:
            out.emit(
                "request-parameter-reactivated",
                INFO,
                f"{h.location} request parameter {h.name} was reactivated",
                ptr,
            )
        if b.schema is not None and h.schema is not None:
            bd, hd = b.schema.get("default"), h.schema.get("default")
            if bd != hd and not h.required:
                if bd is None:
                    rid, msg = "added", f"added the default value {_fmt(hd)}"
                elif hd is None:
                    rid, msg = "removed", f"removed the default value {_fmt(bd)}"
                else:
                    rid, msg = "changed", f"changed the default value from {_fmt(bd)} to {_fmt(hd)}"
                out.emit(
                    f"request-parameter-default-value-{rid}",
                    ERROR,
                    f"for the {h.location} request parameter {h.name}, {msg}",
                    [*ptr, "schema", "default"],
                )
            SchemaRules(out, True, "request-parameter", [*ptr, "schema"], param=h).compare(
                b.schema, h.schema
            )


def request_body(
    out: Emitter,
    base: RequestBody | None,
    head: RequestBody | None,
    ptr: list[str | int],
    base_ptr: list[str | int],
    swagger2: bool = False,
) -> None:
    if base is None and head is None:
        return
    if head is None:
        out.emit("request-body-removed", ERROR, "removed the request body", base_ptr, in_base=True)
        return
    if base is None:
        if head.required:
            out.emit("added-required-request-body", ERROR, "added required request body", ptr)
        else:
            out.emit("added-optional-request-body", INFO, "added optional request body", ptr)
        return
    if head.required and not base.required:
        out.emit("request-body-became-required", ERROR, "request body became required", ptr)
    elif base.required and not head.required:
        out.emit("request-body-became-optional", INFO, "request body became optional", ptr)
    for mt in base.content:
        if mt not in head.content:
            out.emit(
                "request-body-media-type-removed",
                ERROR,
                f"removed the media type {mt} from the request body",
                [*base_ptr, "content", mt],
                in_base=True,
            )
    for mt, media in head.content.items():
        if mt not in base.content:
            out.emit(
                "request-body-media-type-added",
                INFO,
                f"added the media type {mt} to the request body",
                [*ptr, "content", mt],
            )
            continue
        schema_ptr = [*ptr, "schema"] if swagger2 else [*ptr, "content", mt, "schema"]
        _media(out, base.content[mt], media, True, schema_ptr, "")


def _media(
    out: Emitter, base: MediaType, head: MediaType, request: bool, ptr: list[str | int], status: str
) -> None:
    prefix = "request-body" if request else "response-body"
    SchemaRules(out, request, prefix, ptr, media_type=head.media_type, status=status).compare(
        base.schema, head.schema
    )


def _success(status: str) -> bool:
    return status.startswith("2") and (status.isdigit() or status.upper() == "2XX")


def responses(
    out: Emitter,
    base: dict[str, Response],
    head: dict[str, Response],
    ptr: list[str | int],
    base_ptr: list[str | int],
    swagger2: bool,
) -> None:
    for status in base:
        if status not in head:
            if _success(status):
                out.emit(
                    "response-success-status-removed",
                    ERROR,
                    f"removed the success response with the status {status}",
                    [*base_ptr, status],
                    in_base=True,
                )
            else:
                out.emit(
                    "response-non-success-status-removed",
                    INFO,
                    f"removed the non-success response with the status {status}",
                    [*base_ptr, status],
                    in_base=True,
                )
    for status, resp in head.items():
        b = base.get(status)
        if b is None:
            kind = "success" if _success(status) else "non-success"
            out.emit(
                f"response-{kind}-status-added",
                INFO,
                f"added the {kind} response with the status {status}",
                [*ptr, status],
            )
            continue
        if b == resp:
            continue
        for mt in b.content:
            if mt not in resp.content:
                out.emit(
                    "response-media-type-removed",
                    ERROR,
                    f"removed the media type {mt} for the response with the status {status}",
                    [*base_ptr, status, "content", mt],
                    in_base=True,
                )
        for mt, media in resp.content.items():
            if mt not in b.content:
                out.emit(
                    "response-media-type-added",
                    INFO,
                    f"added the media type {mt} for the response with the status {status}",
                    [*ptr, status, "content", mt],
                )
                continue
            schema_ptr: list[str | int] = (
                [*ptr, status, "schema"] if swagger2 else [*ptr, status, "content", mt, "schema"]
            )
            _media(out, b.content[mt], media, False, schema_ptr, status)
        bh = {k.lower(): v for k, v in b.headers.items()}
        hh = {k.lower(): v for k, v in resp.headers.items()}
        for name, header in bh.items():
            if name not in hh:
                kind = "required" if header.required else "optional"
                out.emit(
                    f"{kind}-response-header-removed",
                    ERROR if header.required else WARNING,
                    f"the {kind} response header {header.name} removed for the status {status}",
                    [*base_ptr, status, "headers", header.name],
                    in_base=True,
                )
            elif header.required and not hh[name].required:
                out.emit(
                    "response-header-became-optional",
                    ERROR,
                    f"the response header {header.name} became optional for the status {status}",
                    [*ptr, status, "headers", hh[name].name],
                )


def _requirements(
    sec: tuple[dict[str, tuple[str, ...]], ...] | None,
) -> dict[frozenset[str], dict[str, tuple[str, ...]]]:
    return {frozenset(req): req for req in sec or ()}


def _names(req: frozenset[str]) -> str:
    return " AND ".join(sorted(req)) or "(none)"


def security(
    out: Emitter,
    base: tuple[dict[str, tuple[str, ...]], ...] | None,
    head: tuple[dict[str, tuple[str, ...]], ...] | None,
    ptr: list[str | int],
    prefix: str = "api",
    where: str = "endpoint",
) -> None:
    breqs, hreqs = _requirements(base), _requirements(head)
    for key in breqs:
        if key not in hreqs:
            out.emit(
                f"{prefix}-security-removed",
                INFO,
                f"the {where} security scheme {_names(key)} was removed",
                ptr,
            )
    for key, req in hreqs.items():
        if key not in breqs:
            out.emit(
                f"{prefix}-security-added",
                INFO,
                f"the {where} security scheme {_names(key)} was added",
                ptr,
            )
            continue
        for scheme, scopes in req.items():
            old = set(breqs[key].get(scheme, ()))
            for scope in sorted(set(scopes) - old):
                out.emit(
                    f"{prefix}-security-scope-added",
                    INFO,
                    f"the security scope {scope} was added to the {where} security scheme {scheme}",
                    ptr,
                )
            for scope in sorted(old - set(scopes)):
                out.emit(
                    f"{prefix}-security-scope-removed",
                    INFO,
                    f"the security scope {scope} was removed from the {where} security "
                    f"scheme {scheme}",
                    ptr,
                )
