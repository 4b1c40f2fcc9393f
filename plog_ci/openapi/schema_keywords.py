"""Rules on one schema's own keywords: type/format, nullable, enum, bounds, pattern, oneOf/anyOf.

:class:`KeywordRules` knows where a schema sits (request or response, media
type, status, parameter) and compares the keywords of one base/head pair;
:class:`plog_ci.openapi.schema_rules.SchemaRules` adds the walk into properties
and items. Direction matters: a narrower request or a wider response breaks
clients, the opposite does not.
"""

from __future__ import annotations

from typing import Any

from plog_ci.openapi import schema_bounds
from plog_ci.openapi.changes import ERROR, INFO, WARNING, Emitter, fmt_value
from plog_ci.openapi.model import Parameter
from plog_ci.openapi.schema_branches import branch_name, pair_branches
from plog_ci.openapi.schema_types import (
    BOUNDS,
    SET_IDS,
    canon,
    enum_values,
    format_narrows,
    json_like,
    nullable,
    num,
    type_breaks_request,
    type_breaks_response,
    types,
)

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
        if self.param is None and not json_like(self.media_type):
            return  # the JSON-schema type of an XML/text body is not its wire contract
        bt, ht = types(base), types(head)
        kind = ht[0] if len(ht) == 1 else ""
        if self.request:
            lenient = self.param is not None and self.param.location != "body"
            broke = bt != ht and type_breaks_request(bt, ht, lenient)
            fmt_broke = (
                not broke
                and bt == ht
                and format_narrows(kind, base.get("format"), head.get("format"))
            )
        else:
            broke = bt != ht and type_breaks_response(bt, ht)
            fmt_broke = (
                not broke
                and bt == ht
                and format_narrows(kind, head.get("format"), base.get("format"))
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
        bn, hn = nullable(base), nullable(head)
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
        be, he = enum_values(base), enum_values(head)
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
        bset = {canon(v): v for v in be}
        hset = {canon(v): v for v in he}
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
        be, he = enum_values(base), enum_values(head)
        if not (isinstance(be, list) and isinstance(he, list)) or not prop:
            return
        bset = {canon(v): v for v in be}
        hset = {canon(v): v for v in he}
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
        self._numeric_bounds(base, head, prop, path, what)
        for key, stem, tighter in BOUNDS:
            b, h = num(base.get(key)), num(head.get(key))
            if b == h or h is None:
                continue
            where = [*path, key]
            if b is None:
                if stem in SET_IDS:
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

    def _numeric_bounds(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        what: str,
    ) -> None:
        """minimum/maximum with their exclusive forms, 3.0 (boolean) and 3.1 (number)."""
        for stem, get, is_lower in (
            ("max", schema_bounds.upper, False),
            ("min", schema_bounds.lower, True),
        ):
            b, h = get(base), get(head)
            if h is None or schema_bounds.same(b, h):
                continue
            where = [*path, h.keyword.split()[0]]
            if b is None:
                self._emit(
                    prop, f"{stem}-set", WARNING, f"for {what}, the {h.text()} was set", where
                )
                continue
            narrowed = schema_bounds.narrows(b, h, is_lower)
            verb = "increased" if narrowed == is_lower else "decreased"
            self._emit(
                prop,
                f"{stem}-{verb}",
                ERROR if narrowed else INFO,
                f"for {what}, the {'lower' if is_lower else 'upper'} bound was {verb} "
                f"from {b.text()} to {h.text()}",
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
    ) -> list[tuple[dict[str, Any], dict[str, Any], list[str | int]]]:
        """Report branches added to or removed from ``oneOf``/``anyOf``; return the
        branches that changed in place, paired (base, head, where), to compare inside.

        Branches pair as oasdiff pairs subschemas: equal ones first, then by
        ``title`` (a component's name once references are resolved), then the one
        left on each side. A shared component that gained a property is then that
        change inside the branch, not a branch removed and another added.
        """
        pairs: list[tuple[dict[str, Any], dict[str, Any], list[str | int]]] = []
        for key, stem in (("oneOf", "one-of"), ("anyOf", "any-of")):
            b, h = base.get(key), head.get(key)
            if not isinstance(h, list):
                continue
            if not isinstance(b, list):
                if (
                    not prop
                    and not types(head)
                    and "properties" not in head
                    and ("properties" in base or types(base))
                ):
                    side = "request" if self.request else "response"
                    self.out.emit(
                        f"{side}-body-wrapped-in-{stem}",
                        ERROR,
                        f"the {side} body was restructured into a {key}",
                        [*self.ptr, *path, key],
                    )
                continue
            added, removed, paired = pair_branches(b, h)
            for bi, hi in paired:
                pairs.append((b[bi], h[hi], [*path, key, hi]))
            for i in added:
                self._emit(
                    prop,
                    f"{stem}-added",
                    INFO if self.request else ERROR,
                    f"added {branch_name(h[i], i)} to the {key} list of {what}",
                    [*path, key, i],
                )
            for i in removed:
                self._emit(
                    prop,
                    f"{stem}-removed",
                    ERROR if self.request else INFO,
                    f"removed {branch_name(b[i], i)} from the {key} list of {what}",
                    [*path, key, i],
                    in_base=True,
                )
        return pairs
