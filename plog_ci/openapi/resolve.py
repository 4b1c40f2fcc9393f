"""Resolution: replace each ``$ref`` by what it points at, sharing, in place.

Every ``$ref`` site is replaced by *the same Python object* as its target (after
that target's own references are replaced, once): a component reached from a
thousand places is one object, never a copy, so the resolved spec is as large
as the files read. Consumers must not mutate it (copy what they change) and must
memoise walks by ``id`` (Stripe's spec expands to about 4e10 nodes as a tree).

- **Recursion** stops at the point of recursion: a reference to a target whose
  resolution is still under way (an ancestor on the walk) becomes
  ``{"$ref": "#<pointer>", "x-plog-recursive": true}``. The walk is depth-first
  in document order from the root, so the same document gives the same cuts.
- **Keywords beside ``$ref``**: in OpenAPI 3.1 a Schema Object is a JSON Schema
  2020-12 schema, where ``$ref`` is an applicator like the others (JSON Schema
  Core 2020-12 section 8.2.3.1; OpenAPI 3.1.0 section 4.8.24): the schema
  ``{"$ref": X, "minimum": 100}`` means X *and* ``minimum: 100``. It is rewritten,
  before resolution, as ``{"allOf": [{"$ref": X}], "minimum": 100}``, so the
  resolved X stays shared inside. Siblings that are only annotations
  (``description``, ``summary``, ``title``, ``$comment``) are dropped, as in
  3.0. Outside schema positions a 3.1 Reference Object's extra keys "SHALL be
  ignored" (section 4.8.23); in OpenAPI 3.0 and Swagger 2.0 every sibling of
  ``$ref`` is ignored (3.0.3 section 4.7.25; JSON Reference).
- **Depth**: the longest path through the resolved spec (containers, through
  ``$ref``\\s) is bounded by ``LoadLimits.max_depth``, so consumers that recurse
  cannot be driven past Python's stack by a chain of references.

The walk is iterative (no Python recursion) and checks the load's deadline.
"""

from __future__ import annotations

from typing import Any

from plog_ci.openapi.discover import Discovery, Site, unescape
from plog_ci.openapi.limits import too_large
from plog_ci.openapi.parse import pointer

RECURSIVE = "x-plog-recursive"
_ANNOTATIONS = frozenset({"description", "summary", "title", "$comment"})
# Keywords whose value is one schema, a list of schemas, or a map of schemas
# (JSON Schema 2020-12 applicators; ``schema`` of OpenAPI parameters, media types,
# headers; ``definitions`` of draft-04 style libraries).
_ONE_SCHEMA = frozenset(
    {
        "schema",
        "items",
        "additionalItems",
        "additionalProperties",
        "not",
        "contains",
        "if",
        "then",
        "else",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
_SCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAP = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)


def is_schema_position(where: list[str | int]) -> bool:
    """Whether a node at ``where`` (a path inside its document) holds a Schema
    Object. A whole file (``[]``) counts as one: split-out specs keep schemas one
    per file, and other objects beside ``$ref`` have nothing to apply."""
    if not where:
        return True
    last = where[-1]
    parent = where[-2] if len(where) > 1 else None
    if isinstance(last, int):
        return parent in _SCHEMA_LIST
    if last in _ONE_SCHEMA or parent in _SCHEMA_MAP:
        return True
    return len(where) == 3 and where[0] == "components" and where[1] == "schemas"


def apply_siblings(sites: list[Site]) -> None:
    """OpenAPI 3.1 only: rewrite each schema ``{"$ref": X, k: v...}`` with a keyword
    that is not an annotation as ``{"allOf": [{"$ref": X}], k: v...}`` (in place: the
    node stays the object other references point at)."""
    for site in sites:
        node = site.node
        if len(node) < 2 or "$ref" not in node or not is_schema_position(site.where):
            continue
        if _ANNOTATIONS.issuperset(k for k in node if k != "$ref"):
            continue
        extra = node.get("allOf", [])
        if not isinstance(extra, list):
            continue  # not a schema we can read; the sibling rule (ignore) applies
        rest = {k: v for k, v in node.items() if k not in ("$ref", "allOf")}
        node.clear()
        node["allOf"] = [{"$ref": site.ref}, *extra]
        node.update(rest)


class Resolver:
    def __init__(self, found: Discovery) -> None:
        self.found = found
        self.limits = found.limits
        # (document key, $ref string) -> (target key, fragment); one per distinct ref
        self.route = {(s.key, s.ref): (s.target, s.fragment) for s in found.sites}
        # id(container) -> (longest path from it, expanded node count), once walked
        self.done: dict[int, tuple[int, int]] = {}
        self.expanded = 1
        self.active: set[int] = set()  # ids of containers being walked (ancestors)
        self.markers: dict[tuple[str, str], dict[str, Any]] = {}

    def _follow(self, key: str, node: dict[str, Any]) -> tuple[str, str, Any]:
        """(document key, fragment, value) a ``$ref`` node stands for: its target,
        through chains of bare references (discovery refused loops), or a recursion
        marker."""
        while True:
            target, fragment = self.route[(key, node["$ref"])]
            value = self.found.targets[(target, fragment)]
            if isinstance(value, dict) and isinstance(value.get("$ref"), str):
                key, node = target, value
                continue
            if isinstance(value, dict | list) and id(value) in self.active:
                marker = self.markers.get((target, fragment))
                if marker is None:
                    marker = {"$ref": "#" + fragment, RECURSIVE: True}
                    self.markers[(target, fragment)] = marker
                return target, fragment, marker
            return target, fragment, value

    def resolve(self, root_key: str) -> Any:
        """The root document with every reachable ``$ref`` replaced (in place).

        Sets :attr:`expanded`: the node count of the result if every shared object
        were copied (what a walk without memoisation would visit)."""
        root = self.found.docs[root_key]
        if not isinstance(root, dict | list):
            return root
        done = self.done
        active = self.active
        limit = self.limits.max_depth
        # frame: [container, document key, slots, next slot, deepest child, expanded
        # size so far (every slot counted as one node until known), path]
        stack: list[list[Any]] = []

        def push(node: Any, key: str, path: list[str | int]) -> None:
            slots = list(node) if isinstance(node, dict) else range(len(node))
            stack.append([node, key, slots, 0, 0, 1 + len(slots), path])
            active.add(id(node))
            if len(stack) > limit:
                self._too_deep(stack)

        push(root, root_key, [])
        steps = 0
        while stack:
            frame = stack[-1]
            node, key, slots, i = frame[0], frame[1], frame[2], frame[3]
            if i == len(slots):
                stack.pop()
                active.discard(id(node))
                here, size = frame[4] + 1, frame[5]
                done[id(node)] = (here, size)
                if stack:
                    parent = stack[-1]
                    if here > parent[4]:
                        parent[4] = here
                    parent[5] += size - 1
                steps += 1
                if steps & 4095 == 0:
                    self.found.deadline.check("resolving $refs")
                continue
            frame[3] = i + 1
            slot = slots[i]
            child = node[slot]
            child_key = key
            path: list[str | int] | None = None
            if isinstance(child, dict):
                if isinstance(child.get("$ref"), str):
                    child_key, fragment, child = self._follow(key, child)
                    node[slot] = child
                    if isinstance(child, dict) and child.get(RECURSIVE) is True:
                        frame[4] = max(frame[4], 1)
                        frame[5] += 2
                        continue
                    path = [unescape(p) for p in fragment.split("/") if p]
            elif not isinstance(child, list):
                continue
            if not isinstance(child, dict | list):
                continue
            known = done.get(id(child))
            if known is not None:
                if known[0] + len(stack) > limit:
                    self._too_deep(stack)
                if known[0] > frame[4]:
                    frame[4] = known[0]
                frame[5] += known[1] - 1
                continue
            push(child, child_key, [*frame[6], slot] if path is None else path)
        self.expanded = done[id(root)][1]
        return root

    def _too_deep(self, stack: list[list[Any]]) -> None:
        frame = stack[-1]
        where = f"{self.found.display(frame[1])}{pointer(frame[6])}"
        raise too_large(
            self.found.display(stack[0][1]),
            f"the resolved spec nests more than {self.limits.max_depth:,} levels deep through "
            f"$refs (at {where})",
            "max_depth",
            self.limits.max_depth,
            " levels",
        )
