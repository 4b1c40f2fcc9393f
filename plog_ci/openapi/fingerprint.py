"""Structural fingerprints of resolved spec values, computed once per object.

A resolved spec is a graph, not a tree: a shared component schema is one Python
object reached from every place that uses it (Stripe's ``customer`` from
hundreds of operations, through ``anyOf`` branches). Comparing two such graphs
with ``==`` or serialising them to JSON walks every path through the graph,
which grows with the number of places a schema is reached, not with its size
(minutes on Stripe). A fingerprint is computed bottom-up, memoised by object
identity, so each distinct object is hashed once; two values are equal in
structure exactly when their fingerprints are (up to BLAKE2b-128 collisions).

Equality follows ``==`` where the diff relies on it, with two exceptions: booleans
differ from numbers (``True == 1`` in Python, but ``true`` and ``1`` mean different
things in a schema), and an object or list that holds only scalars (a leaf, about
half of a spec's objects) is hashed from its canonical JSON text in C, where ``1``
and ``1.0`` differ; elsewhere integers and integral floats fingerprint alike.
Dataclass fields marked ``compare=False`` are left out, as ``==`` leaves them out.

Use inside ``memo()`` (one per diff): the memo keeps every object it has seen
alive, so an id is never reused for another object while it is open.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_Memo = dict[int, tuple[Any, bytes]]
_MEMO: ContextVar[_Memo | None] = ContextVar("plog_fingerprint_memo", default=None)


@contextlib.contextmanager
def memo() -> Iterator[None]:
    """Share one memo for the block (a whole diff): every object is hashed once."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def _scalar(value: Any) -> bytes:
    kind = type(value)
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    if value is None:
        return b"z"
    if kind is bool:
        return b"b1" if value else b"b0"
    if kind is int:
        return b"n%d" % value
    if kind is float:
        if value.is_integer():
            return b"n%d" % int(value)
        return b"f" + repr(value).encode()
    return b"o" + repr(value).encode("utf-8", "replace")


def _children(node: Any) -> tuple[bytes, list[tuple[bytes, Any]]]:
    """The node's kind and its (label, child) pairs in a canonical order."""
    kind = type(node)
    if kind is dict or isinstance(node, dict):  # the exact type first: the common case
        if all(type(k) is str for k in node):
            return b"d", [(_scalar(k), node[k]) for k in sorted(node)]
        items = sorted(node.items(), key=lambda kv: str(kv[0]))
        return b"d", [(_scalar(k), v) for k, v in items]
    if kind is list or isinstance(node, list | tuple):
        return b"l", [(b"", v) for v in node]
    return b"c" + kind.__name__.encode(), [
        (f.name.encode(), getattr(node, f.name)) for f in dataclasses.fields(node) if f.compare
    ]


_CONTAINERS = (dict, list, tuple)


def _container(node: Any) -> bool:
    return isinstance(node, dict | list | tuple) or hasattr(type(node), "__dataclass_fields__")


_JSON_LEAF = (str, int, float, bool, type(None))
_ENCODE = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), check_circular=False
).encode


def _leaf(node: Any) -> bytes | None:
    """The digest of a dict or list that holds only JSON scalars, from its canonical JSON
    text (encoded in C: about half of a spec's objects are such leaves), else None.

    Leaves are told apart by JSON text, so here ``1`` and ``1.0`` differ (elsewhere
    they are equal); a spec that rewrites one as the other shows the objects holding
    them as changed, and the rules then find no change in them.
    """
    kind = type(node)
    if kind is dict:
        if not all(type(v) in _JSON_LEAF for v in node.values()):
            return None
        if not all(type(k) is str for k in node):
            return None
    elif kind is list:
        if not all(type(v) in _JSON_LEAF for v in node):
            return None
    else:
        return None
    try:
        text = _ENCODE(node)
    except ValueError:  # NaN/Infinity are refused by the loader; stay exact anyway
        return None
    return hashlib.blake2b(b"J" + text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def fingerprint(value: Any) -> bytes:
    """16 bytes that equal another value's exactly when the two are structurally equal.

    ``value``: dicts, lists, tuples, dataclass instances and JSON scalars, nested
    to any depth (an explicit stack: no recursion limit), shared or not. Raises
    ``ValueError`` on a reference cycle.
    """
    if not _container(value):
        return _scalar(value)
    table = _MEMO.get()
    if table is None:
        table = {}
    hit = table.get(id(value))
    if hit is not None:
        return hit[1]
    leaf = _leaf(value)
    if leaf is not None:
        table[id(value)] = (value, leaf)
        return leaf
    active: set[int] = {id(value)}
    # Post-order walk; a frame: [node, kind, children, index of the next child, parts].
    kind, children = _children(value)
    stack: list[list[Any]] = [[value, kind, children, 0, []]]
    while True:
        frame = stack[-1]
        node, kind, children, index, parts = frame
        while index < len(children):
            label, child = children[index]
            kind_of = type(child)
            if kind_of is str:  # the common leaf, inlined
                parts.append(label + b"=s" + child.encode("utf-8", "surrogatepass"))
                index += 1
                continue
            if kind_of not in _CONTAINERS and not _container(child):
                parts.append(label + b"=" + _scalar(child))
                index += 1
                continue
            known = table.get(id(child))
            if known is None:
                leaf = _leaf(child)
                if leaf is None:
                    break
                table[id(child)] = known = (child, leaf)
            parts.append(label + b"=" + known[1])
            index += 1
        frame[3] = index
        if index < len(children):
            child = children[index][1]
            if id(child) in active:
                raise ValueError("a reference cycle in a resolved spec value")
            active.add(id(child))
            child_kind, grandchildren = _children(child)
            stack.append([child, child_kind, grandchildren, 0, []])
            continue
        # Parts are length-prefixed so that no two sequences of parts join alike.
        digest = hashlib.blake2b(kind, digest_size=16)
        for part in parts:
            digest.update(b"%d:" % len(part))
            digest.update(part)
        result = digest.digest()
        table[id(node)] = (node, result)
        active.discard(id(node))
        stack.pop()
        if not stack:
            return result
        parent = stack[-1]
        parent[4].append(parent[2][parent[3]][0] + b"=" + result)
        parent[3] += 1


def same(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are structurally equal (see the module doc)."""
    return a is b or fingerprint(a) == fingerprint(b)
