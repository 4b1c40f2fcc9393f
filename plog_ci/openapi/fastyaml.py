"""YAML to plain data through rapidyaml's C++ parser, with PyYAML's meaning.

libyaml's scanner reads multi-line quoted scalars at a few MB/s, so a 4 MB
spec took over a second in PyYAML's C loader. rapidyaml parses the same file
into a flat tree in well under 0.1 s; we then build the Python values here.

The result must equal what :mod:`plog_ci.openapi.parse`'s PyYAML loader gives,
so a spec means the same whichever parser read it:

- plain scalars are resolved with PyYAML's own YAML 1.1 resolver table and
  constructors (``yes``/``on`` are booleans, ``0o10`` is a string, ``010`` is
  octal, timestamps stay strings); quoted and block scalars are strings;
- anything this module does not reproduce exactly raises :class:`Decline`, and
  the caller re-parses with PyYAML, which also gives the located error message:
  any tag (PyYAML's safe loader is the tag allow-list), merge keys (``<<``),
  anchors or aliases on keys, undefined aliases, directives, several documents,
  characters PyYAML refuses or reads as line breaks, and every rapidyaml error.

Safety does not depend on rapidyaml: its tree is linear in the input (aliases
are not expanded there), the node count is checked right after parsing, and the
walk below enforces the same depth cap, alias-expansion cap (aliases share one
object; their expanded size is counted with memoisation) and cycle refusal as
``parse._plain``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from typing import Any

import ryml  # type: ignore[import-untyped]
import yaml  # type: ignore[import-untyped]

from plog_ci.openapi.errors import SpecError, SpecTooLargeError


class Decline(Exception):
    """This document needs PyYAML (a feature we do not mirror, or an error to locate)."""


# PyYAML refuses these (reader.py NON_PRINTABLE) or, for NEL/LS/PS, reads them as
# line breaks where YAML 1.2 parsers do not.
_UNSAFE_CHARS = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]"
)
_PRINTABLE_ASCII = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x7F)])


def _needs_pyyaml(data: bytes) -> bool:
    """Characters or directives that PyYAML reads differently (or refuses)."""
    if data.startswith(b"%") or b"\n%" in data:
        return True
    # Deleting printable ASCII leaves whole UTF-8 sequences (and control bytes):
    # a few bytes to check instead of a regex over megabytes.
    rest = data.translate(None, _PRINTABLE_ASCII)
    return bool(rest) and _UNSAFE_CHARS.search(rest.decode("utf-8")) is not None


_RESOLVERS: dict[str | None, list[tuple[str, re.Pattern[str]]]] = (
    yaml.resolver.Resolver.yaml_implicit_resolvers
)
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"


def _construct(tag: str) -> Callable[[str], Any]:
    method = {
        "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
        "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
        "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    }[tag]
    return lambda value: method(yaml.ScalarNode(tag, value))


_CONSTRUCTORS: dict[str, Callable[[str], Any]] = {
    "tag:yaml.org,2002:bool": _construct("tag:yaml.org,2002:bool"),
    "tag:yaml.org,2002:int": _construct("tag:yaml.org,2002:int"),
    "tag:yaml.org,2002:float": _construct("tag:yaml.org,2002:float"),
    "tag:yaml.org,2002:null": lambda value: None,
    # parse._SafeLoader keeps timestamps as their text (JSON has no dates).
    "tag:yaml.org,2002:timestamp": lambda value: value,
}


def _plain_scalar(value: str) -> Any:
    """PyYAML's implicit resolution of an untagged plain scalar."""
    for tag, regexp in _RESOLVERS.get(value[0] if value else "", ()):
        if regexp.match(value):
            construct = _CONSTRUCTORS.get(tag)
            if construct is None:  # merge ('<<') or value ('='): PyYAML's business
                raise Decline(tag)
            return construct(value)
    return value


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, bool):
        return "true" if k else "false"
    if k is None:
        return "null"
    return str(k)


# rapidyaml reports errors on stderr before raising; the caller re-parses with
# PyYAML for the message, so that text is noise. fd 2 is process-wide, hence the lock.
_STDERR_LOCK = threading.Lock()


def _parse_quietly(data: bytes) -> Any:
    with _STDERR_LOCK:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            return ryml.parse_in_arena(data)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def load(data: bytes, source: str, max_nodes: int, max_depth: int) -> Any:
    """Plain data for one YAML document (valid UTF-8, no BOM); :class:`Decline`
    where PyYAML must decide."""
    if _needs_pyyaml(data):
        raise Decline("characters or directives PyYAML treats differently")
    try:
        tree = _parse_quietly(data)
    except Exception:  # every rapidyaml error: PyYAML finds and locates it
        raise Decline("rapidyaml error") from None
    if tree.size() > max_nodes:  # before building anything from it
        raise SpecTooLargeError(
            f"{source}: document has more than {max_nodes} nodes",
            hint="split the spec into files joined by relative $refs",
        )
    root = tree.root_id()
    if tree.is_stream(root):
        if tree.num_children(root) != 1:
            raise Decline("not exactly one document")
        root = tree.first_child(root)
    if not (tree.is_map(root) or tree.is_seq(root) or tree.has_val(root)):
        raise Decline("empty document")
    return _Walker(tree, source, max_nodes, max_depth).value(root, 0)[0]


# Node type bits, read once per node; the SWIG functions are called on the raw
# tree handle (``tree.this``), which is several times cheaper than the methods.
_R = ryml.ryml._ryml
_MAP, _SEQ = ryml.MAP, ryml.SEQ
_KEY_SPECIAL = ryml.KEYREF | ryml.KEYANCH | ryml.KEYTAG
_VALREF, _VALANCH, _VALTAG = ryml.VALREF, ryml.VALANCH, ryml.VALTAG
_KEYQUO, _VALQUO = ryml.KEYQUO, ryml.VALQUO
_NONE = ryml.NONE
_NOT_SCALAR = _MAP | _SEQ | _VALREF | _VALANCH | _VALTAG
_CACHE_CHARS = 64  # scalars up to this length are resolved once per document


class _Walker:
    def __init__(self, tree: Any, source: str, max_nodes: int, max_depth: int) -> None:
        self.tree = tree.this
        self.source = source
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        # anchor name -> (object, expanded size); None while the anchored node is being built
        self.anchors: dict[bytes, tuple[Any, int] | None] = {}
        # text of a plain scalar -> its value, and of a plain key -> the key: specs
        # repeat a few hundred words ("type", "string", "description") everywhere.
        # Values are immutable (str, int, float, bool, None), so sharing is safe.
        self.plain: dict[str, Any] = {}
        self.keys: dict[str, str] = {}

    def value(self, node: int, depth: int) -> tuple[Any, int]:
        """(value, expanded size) of the value part of ``node``."""
        t = self.tree
        bits = _R.Tree_type(t, node)
        if bits & _VALTAG:
            raise Decline("tag")
        if bits & _VALREF:
            name = bytes(_R.Tree_val_ref(t, node))
            if name not in self.anchors:
                raise Decline("undefined alias")
            entry = self.anchors[name]
            if entry is None:
                raise SpecError(
                    f"{self.source}: recursive YAML alias (a node that contains itself)",
                    hint="replace the alias by a $ref",
                )
            return entry
        anchor = None
        if bits & _VALANCH:
            anchor = bytes(_R.Tree_val_anchor(t, node))
            if anchor in self.anchors:  # PyYAML refuses a redefined anchor
                raise Decline("duplicate anchor")
            self.anchors[anchor] = None
        result: tuple[Any, int]
        if bits & (_MAP | _SEQ):
            if depth > self.max_depth:
                raise SpecError(f"{self.source}: nesting deeper than {self.max_depth} levels")
            result = self._container(node, bool(bits & _MAP), depth)
        else:
            raw = _R.Tree_val(t, node)
            text = "" if raw is None else str(raw, "utf-8")
            result = (text if bits & _VALQUO else _plain_scalar(text)), 1
        if anchor is not None:
            self.anchors[anchor] = result
        return result

    def _container(self, node: int, is_map: bool, depth: int) -> tuple[Any, int]:
        t = self.tree
        total = 1
        out: Any = {} if is_map else []
        plain = self.plain
        keys = self.keys
        type_of, val_of, key_of, next_of = (
            _R.Tree_type,
            _R.Tree_val,
            _R.Tree_key,
            _R.Tree_next_sibling,
        )
        child = _R.Tree_first_child(t, node)
        while child != _NONE:
            bits = type_of(t, child)
            if bits & _NOT_SCALAR:
                value, size = self.value(child, depth + 1)
            else:  # the common case, inline: a plain or quoted scalar
                raw = val_of(t, child)
                text = "" if raw is None else str(raw, "utf-8")
                if bits & _VALQUO:
                    value = text
                elif text in plain:
                    value = plain[text]
                else:
                    value = _plain_scalar(text)
                    if len(text) <= _CACHE_CHARS:
                        plain[text] = value
                size = 1
            if is_map:
                if bits & _KEY_SPECIAL:
                    raise Decline("key with a tag, anchor or alias")
                raw = key_of(t, child)
                text = "" if raw is None else str(raw, "utf-8")
                if bits & _KEYQUO:
                    key = text
                elif text in keys:
                    key = keys[text]
                else:
                    key = keys[text] = _key(_plain_scalar(text))
                if key in out:  # PyYAML refuses it with the place (parse._SafeLoader)
                    raise Decline("duplicate key")
                out[key] = value
            else:
                out.append(value)
            total += size
            if total > self.max_nodes:
                raise SpecTooLargeError(
                    f"{self.source}: document expands to more than {self.max_nodes} nodes "
                    "(YAML alias bomb?)",
                    hint="remove the repeated aliases",
                )
            child = next_of(t, child)
        return out, total
