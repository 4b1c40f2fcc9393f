"""Compare two resolved schemas of one request or response element, into properties and items.

A change inside a named component schema (``#/components/schemas/X``, Swagger
2.0's ``#/definitions/X``) points at that component in the spec file, not at the
operation that reaches it: the component is recognised by its fingerprint on
both sides (``components``), so the reviewer is sent to the line that changed
and the changelog can show one change of a shared component once, with the
operations it reaches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from plog_ci.openapi.changes import ERROR, INFO, WARNING
from plog_ci.openapi.fingerprint import fingerprint, same
from plog_ci.openapi.schema_keywords import KeywordRules
from plog_ci.openapi.schema_types import MAX_DEPTH, flatten

# shape of a component schema -> its JSON pointer parts, for (base, head).
_Index = dict[bytes, list[str | int]]
_COMPONENTS: ContextVar[tuple[_Index, _Index] | None] = ContextVar(
    "plog_component_index", default=None
)


def _shape(schema: dict[str, Any]) -> bytes:
    """A component's shape: its own keywords and its property names, not what they hold.

    Deep structure cannot identify a component once references are resolved: the
    point where a recursive reference is cut differs with the path it was reached
    by. The shape does, and is cheap; shapes that two components share are left
    out of the index rather than guessed.
    """
    own = {
        k: v if not isinstance(v, dict | list) else (sorted(v) if isinstance(v, dict) else len(v))
        for k, v in schema.items()
        if k not in ("x-plog-recursive",)
    }
    return fingerprint(own)


def _index(raw: dict[str, Any]) -> _Index:
    out: _Index = {}
    ambiguous: set[bytes] = set()
    for where in (["components", "schemas"], ["definitions"]):
        node: Any = raw
        for part in where:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        for name, schema in node.items():
            if not isinstance(schema, dict) or not schema:
                continue
            shape = _shape(schema)
            if shape in out:
                ambiguous.add(shape)
            out[shape] = [*where, str(name)]
    for shape in ambiguous:
        del out[shape]
    return out


@contextlib.contextmanager
def components(base_raw: dict[str, Any], head_raw: dict[str, Any]) -> Iterator[None]:
    """Within the block, changes inside a component schema point at the component.

    ``base_raw``/``head_raw``: the resolved documents (``Spec.raw``). Use inside a
    ``fingerprint.memo()``: every component is fingerprinted once.
    """
    token = _COMPONENTS.set((_index(base_raw), _index(head_raw)))
    try:
        yield
    finally:
        _COMPONENTS.reset(token)


class SchemaRules(KeywordRules):
    """Compare two (resolved) schemas of one request or response element."""

    def compare(
        self,
        base: dict[str, Any] | None,
        head: dict[str, Any] | None,
        prop: str = "",
        path: list[str | int] | None = None,
        depth: int = 0,
    ) -> None:
        path = path or []
        if base is None or head is None or depth > MAX_DEPTH:
            return
        if base.get("x-plog-recursive") or head.get("x-plog-recursive"):
            return
        key = (id(base), id(head))
        if key in self._seen or same(base, head):
            return
        self._seen.add(key)
        index = _COMPONENTS.get()
        if index is not None:
            named = index[1].get(_shape(head))
            if named is not None and named != self.ptr and index[0].get(_shape(base)) == named:
                # The same component on both sides, changed: point inside it.
                outer, self.ptr = self.ptr, named
                try:
                    self._compare(base, head, prop, [], depth)
                finally:
                    self.ptr = outer
                return
        self._compare(base, head, prop, path, depth)

    def _compare(
        self,
        base: dict[str, Any],
        head: dict[str, Any],
        prop: str,
        path: list[str | int],
        depth: int,
    ) -> None:
        if self.request and head.get("readOnly") and prop:
            return
        if not self.request and head.get("writeOnly") and prop:
            return
        base, head = flatten(base), flatten(head)
        what = self._what(prop)
        self._type(base, head, prop, path, what)
        self._nullable(base, head, prop, path, what)
        if self.request:
            self._enum_request(base, head, prop, path, what)
            self._bounds(base, head, prop, path, what)
            self._pattern(base, head, prop, path, what)
        else:
            self._enum_response(base, head, prop, path, what)
        for b_branch, h_branch, where in self._one_of(base, head, prop, path, what):
            self.compare(b_branch, h_branch, prop, where, depth + 1)
        self._properties(base, head, prop, path, depth)
        b_items, h_items = base.get("items"), head.get("items")
        if isinstance(b_items, dict) and isinstance(h_items, dict):
            self.compare(
                b_items, h_items, f"{prop}/items" if prop else "items", [*path, "items"], depth + 1
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
