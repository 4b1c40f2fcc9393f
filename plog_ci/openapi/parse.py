"""Bytes of one spec file to plain JSON-like data, safely and fast.

JSON goes through :mod:`json` (C). YAML goes through rapidyaml
(:mod:`plog_ci.openapi.fastyaml`, same result, same caps, about 15x faster on
a 4 MB spec); whatever that path declines (tags, merge keys, errors to locate)
goes through libyaml's safe loader (C) here. The safe loader only builds plain
values (unknown tags fail). What it cannot
stop by itself is handled in :func:`_plain`: aliases are shared objects, so an
alias bomb is a small graph that *expands* to billions of nodes; we count the
expanded size with memoisation (each object visited once) and refuse cycles.
libyaml caps nesting at 1000 levels; JSON's recursion limit is caught.

Positions (``file:line:col``) are only needed for error messages, so they are
computed on demand by re-reading a small file with the round-trip parser.
"""

from __future__ import annotations

import codecs
import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]

from plog_ci import yamldoc
from plog_ci.errors import InputError
from plog_ci.openapi import fastyaml
from plog_ci.openapi.errors import SpecError, SpecTooLargeError

_POSITION_MAX_BYTES = 2 << 20  # re-parse for line numbers only below this size


@dataclass(frozen=True)
class ParseLimits:
    max_bytes: int = 16 << 20
    max_nodes: int = 5_000_000  # after alias expansion
    max_depth: int = 200


class _SafeLoader(yaml.CSafeLoader):  # type: ignore[misc]
    """libyaml safe loader that keeps timestamps as strings (JSON has no dates) and
    refuses a mapping that names one key twice (YAML 1.2 section 3.2.1.1: keys are
    unique; loaders disagree on which value wins, so the spec would mean two things)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[str] = set()
        for key_node, _ in node.value:
            # Merge keys (<<) may repeat and be overridden: that is their meaning.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            # Compared as the key of the plain data: `true` and `yes` are one key.
            ident = _key(self.construct_object(key_node))
            if ident in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (loaders disagree on which value "
                    "wins; keep one of the two entries)",
                    key_node.start_mark,
                )
            seen.add(ident)
        return super().construct_mapping(node, deep)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _str_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(node.value)


_SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", _str_timestamp)


class _DuplicateKey(ValueError):
    """A JSON object names one key twice (parsers disagree on which value wins)."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return out


def _plain(root: Any, source: str, limits: ParseLimits) -> Any:
    """Copy to plain dict/list/str/int/float/bool/None with str keys; enforce caps."""
    sizes: dict[int, int] = {}
    done: dict[int, Any] = {}
    active: set[int] = set()

    def walk(node: Any, depth: int) -> tuple[Any, int]:
        if isinstance(node, dict | list):
            key = id(node)
            if key in done:  # shared by an alias: count its expanded size again
                return done[key], sizes[key]
            if key in active:
                raise SpecError(
                    f"{source}: recursive YAML alias (a node that contains itself)",
                    hint="replace the alias by a $ref",
                )
            if depth > limits.max_depth:
                raise SpecError(f"{source}: nesting deeper than {limits.max_depth} levels")
            active.add(key)
            total = 1
            out: Any
            if isinstance(node, dict):
                out = {}
                for k, v in node.items():
                    value, size = walk(v, depth + 1)
                    out[k if isinstance(k, str) else _key(k)] = value
                    total += size
                    if total > limits.max_nodes:
                        break
            else:
                out = []
                for v in node:
                    value, size = walk(v, depth + 1)
                    out.append(value)
                    total += size
                    if total > limits.max_nodes:
                        break
            if total > limits.max_nodes:
                raise SpecTooLargeError(
                    f"{source}: document expands to more than {limits.max_nodes} nodes "
                    "(YAML alias bomb?)",
                    hint="remove the repeated aliases",
                )
            active.discard(key)
            done[key] = out
            sizes[key] = total
            return out, total
        if isinstance(node, _dt.date | _dt.datetime):
            return node.isoformat(), 1
        if isinstance(node, bytes):
            return node.decode("latin-1"), 1
        return node, 1

    return walk(root, 0)[0]


def _checked(doc: Any, source: str, limits: ParseLimits) -> Any:
    """``doc`` as :mod:`json` built it (already plain, no shared nodes), once its
    depth and node count are within the caps of :func:`_plain`."""
    count = 1  # each node is counted where its parent lists it
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            raise SpecError(f"{source}: nesting deeper than {limits.max_depth} levels")
        children = node.values() if isinstance(node, dict) else node
        count += len(children)
        if count > limits.max_nodes:
            raise SpecTooLargeError(
                f"{source}: document has more than {limits.max_nodes} nodes",
                hint="split the spec into files joined by relative $refs",
            )
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return doc


def _key(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    if k is None:
        return "null"
    return str(k)


def parse(data: bytes, source: str, limits: ParseLimits | None = None) -> Any:
    """Parse one JSON or YAML document into plain data."""
    limits = limits or ParseLimits()
    if len(data) > limits.max_bytes:
        raise SpecTooLargeError(
            f"{source}: file is {len(data):,} bytes, over the {limits.max_bytes:,}-byte limit",
            hint="split the spec into files joined by relative $refs, or raise openapi limits",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{source}: not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8"
        ) from None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return _checked(json.loads(text, object_pairs_hook=_unique_pairs), source, limits)
        except _DuplicateKey as exc:
            raise SpecError(
                f"{source}: duplicate key {exc.args[0]!r} in a JSON object "
                "(parsers disagree on which value wins)",
                hint="keep one of the two entries",
            ) from None
        except json.JSONDecodeError:
            pass  # flow-style YAML also starts with '{'; let the YAML parser decide
        except RecursionError:
            raise SpecError(f"{source}: JSON nested too deeply") from None
    try:
        return fastyaml.load(
            data.removeprefix(codecs.BOM_UTF8), source, limits.max_nodes, limits.max_depth
        )
    except fastyaml.Decline:
        pass  # PyYAML decides: the features we do not mirror, and located errors
    try:
        doc = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe (C) loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = (exc.problem or exc.context or "").split("\n")[0]
        raise SpecError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: invalid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise SpecError(f"{source}: YAML nested too deeply") from None
    return _plain(doc, source, limits)


def pointer(parts: Sequence[str | int]) -> str:
    """JSON pointer (RFC 6901) for a path of keys and indexes, with a leading '#'."""
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def locate(data: bytes, source: str, parts: Sequence[str | int]) -> str:
    """``source:line:col`` of the node at ``parts``, or just ``source`` when unknown."""
    if len(data) > _POSITION_MAX_BYTES:
        return source
    try:
        doc = yamldoc.load(
            data,
            source,
            yamldoc.Limits(max_bytes=_POSITION_MAX_BYTES, max_depth=1000, max_nodes=5_000_000),
        )
    except InputError:
        return source
    pos = yamldoc.position(doc, [_as_key(doc, parts, i) for i in range(len(parts))])
    return f"{source}:{pos[0]}:{pos[1]}" if pos else source


def _as_key(doc: Any, parts: Sequence[str | int], i: int) -> str | int:
    """YAML may key ``200:`` as an int where the plain data has "200"."""
    node = doc
    for p in parts[:i]:
        try:
            node = node[p] if not isinstance(node, dict) or p in node else node[int(p)]
        except (KeyError, IndexError, TypeError, ValueError):
            return parts[i]
    part = parts[i]
    if isinstance(node, dict) and part not in node and isinstance(part, str) and part.isdigit():
        return int(part)
    return part
