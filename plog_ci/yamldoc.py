"""Safe YAML loading with positions, for files a stranger may have written.

Round-trip loading keeps line/column information so every error can say
``file:LINE:COL``. Before anything is constructed, the event stream is
checked: only the standard YAML tags, bounded nesting depth, and a bounded
*expanded* size, which is what defeats alias bombs ("billion laughs": a few
dozen aliases that expand to billions of nodes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    NodeEvent,
    ScalarEvent,
)
from ruamel.yaml.scalarbool import ScalarBoolean

from plog_ci.errors import InputError

_STANDARD_TAGS = frozenset(
    "tag:yaml.org,2002:" + t
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "binary", "timestamp")
)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1 << 20
    max_depth: int = 64
    max_nodes: int = 200_000  # after alias expansion


class YamlError(InputError):
    """A YAML document that cannot be accepted; the message starts with file:line:col."""

    def __init__(
        self,
        filename: str,
        line: int | None,
        col: int | None,
        message: str,
        *,
        hint: str | None = None,
    ) -> None:
        where = filename if line is None else f"{filename}:{line}:{col or 1}"
        super().__init__(f"{where}: {message}", hint=hint)
        self.filename = filename
        self.line = line
        self.col = col


def _mark(filename: str, mark: Any, message: str, hint: str | None = None) -> YamlError:
    if mark is None:
        return YamlError(filename, None, None, message, hint=hint)
    return YamlError(filename, mark.line + 1, mark.column + 1, message, hint=hint)


def _check_events(yaml: YAML, text: str, filename: str, limits: Limits) -> None:
    anchors: dict[str, int] = {}
    stack: list[list[Any]] = []  # [anchor, expanded size]
    total = 0
    documents = 0
    try:
        for event in yaml.parse(text):
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _mark(
                        filename,
                        event.start_mark,
                        "more than one YAML document",
                        hint="keep a single document (remove the '---' separator)",
                    )
            if isinstance(event, NodeEvent) and not isinstance(event, AliasEvent):
                tag = getattr(event, "tag", None)
                tag_value = getattr(tag, "value", tag) if tag is not None else None
                if tag_value and tag_value not in _STANDARD_TAGS and tag_value != "!":
                    raise _mark(
                        filename,
                        event.start_mark,
                        f"tag {tag_value!r} is not allowed",
                        hint="only plain YAML values are accepted; remove the tag",
                    )
            if isinstance(event, CollectionStartEvent):
                stack.append([event.anchor, 1])
                if len(stack) > limits.max_depth:
                    raise _mark(
                        filename, event.start_mark, f"nesting deeper than {limits.max_depth} levels"
                    )
                continue
            if isinstance(event, ScalarEvent):
                size = 1
                if event.anchor:
                    anchors[event.anchor] = 1
            elif isinstance(event, AliasEvent):
                size = anchors.get(event.anchor, 1)
            elif isinstance(event, CollectionEndEvent):
                anchor, size = stack.pop()
                if anchor:
                    anchors[anchor] = size
            else:
                continue
            if stack:
                stack[-1][1] += size
                if stack[-1][1] > limits.max_nodes:
                    raise _mark(
                        filename,
                        event.start_mark,
                        f"document expands to more than {limits.max_nodes} nodes (alias bomb?)",
                        hint="remove the repeated aliases",
                    )
            else:
                total += size
    except MarkedYAMLError as exc:
        raise _mark(
            filename, exc.problem_mark, f"invalid YAML: {exc.problem}", syntax_hint(exc, text)
        ) from None
    except YAMLError as exc:
        raise YamlError(filename, None, None, f"invalid YAML: {exc}") from None


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def syntax_hint(exc: MarkedYAMLError, text: str) -> str | None:
    """What to do about a YAML scanner or parser error a person often makes, or None.

    A tab in indentation (YAML 1.2 section 6.1: indentation is spaces only), ``: `` in
    an unquoted value (it starts a mapping key, section 7.3.3), a quote, ``[`` or
    ``{`` left open, and a value that starts with ``{`` (``{port} --x``: a flow
    mapping, section 7.4, not text).
    """
    problem = exc.problem or ""
    context = exc.context or ""
    mark, opened = exc.problem_mark, exc.context_mark
    if "'\\t'" in problem and mark is not None:
        return f"YAML indents with spaces: replace the tab at {_at(mark)} with spaces"
    if problem.startswith("mapping values are not allowed"):
        return (
            "': ' inside a value starts a new key: quote the whole value "
            '(key: "a: b"), or indent this line as the keys beside it'
        )
    if "quoted scalar" in context and opened is not None:
        quote = text[opened.index] if opened.index < len(text) else '"'
        return f"the {quote!r} opened at {_at(opened)} is never closed: close it on that line"
    if "flow sequence" in context or "flow mapping" in context:
        bracket, close = ("[", "]") if "sequence" in context else ("{", "}")
        where = f" at {_at(opened)}" if opened is not None else ""
        return (
            f"the '{bracket}'{where} is not closed: add '{close}', or quote the value "
            f"if the '{bracket}' is part of it"
        )
    if "expected <block end>" in problem and mark is not None:
        line = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
        if re.search(r"(^|:\s|-\s)\{", line[: mark.column]):
            return (
                "a value that starts with '{' is a YAML mapping, {port} too: quote the "
                'whole value, e.g. run: "{port} --x" (or start it with the command)'
            )
        return "check this line's indentation against the lines above it"
    return None


def load(text: str | bytes, filename: str, limits: Limits | None = None) -> Any:
    """Parse one YAML (or JSON) document safely; mappings keep their positions."""
    limits = limits or Limits()
    if isinstance(text, bytes):
        if len(text) > limits.max_bytes:
            raise YamlError(
                filename,
                None,
                None,
                f"file is {len(text)} bytes, over the {limits.max_bytes}-byte limit",
            )
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start]
            line = before.count(b"\n") + 1
            col = exc.start - (before.rfind(b"\n") + 1) + 1
            raise YamlError(
                filename, line, col, "not UTF-8 text", hint="save the file as UTF-8"
            ) from None
    elif len(text.encode("utf-8")) > limits.max_bytes:
        raise YamlError(filename, None, None, f"file is over the {limits.max_bytes}-byte limit")
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    _check_events(yaml, text, filename, limits)
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        problem = exc.problem or str(exc)
        if "duplicate key" in problem:
            problem = problem.split("\n")[0]
            return_hint = "each key may appear once in a mapping"
            raise _mark(filename, exc.problem_mark, problem, hint=return_hint) from None
        raise _mark(
            filename, exc.problem_mark, f"invalid YAML: {problem}", syntax_hint(exc, text)
        ) from None
    except YAMLError as exc:
        raise YamlError(filename, None, None, f"invalid YAML: {exc}") from None


def position(
    doc: Any, path: Sequence[str | int], *, at_key: bool = False
) -> tuple[int, int] | None:
    """1-based (line, col) of the deepest node on ``path`` that has a position.

    Scalars point at their value, collections (and ``at_key``) at their key.
    """
    best: tuple[int, int] | None = None
    node = doc
    for i, part in enumerate(path):
        if isinstance(node, CommentedMap) and part in node:
            last = i == len(path) - 1
            use_key = (at_key and last) or isinstance(node[part], (CommentedMap, CommentedSeq))
            try:
                line, col = node.lc.key(part) if use_key else node.lc.value(part)
                best = (line + 1, col + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            try:
                line, col = node.lc.item(part)
                best = (line + 1, col + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            node = node[part]
        else:
            break
    if best is None and hasattr(doc, "lc"):
        best = (doc.lc.line + 1, doc.lc.col + 1)
    return best


def to_plain(node: Any) -> Any:
    """Commented* containers to plain dicts/lists (for JSON Schema and dataclasses)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, ScalarBoolean):
        return bool(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def scalar_text(value: Any) -> str:
    """A YAML scalar as the text a user wrote for a string value: ``true``/``false``
    for booleans (YAML's spelling, not Python's ``True``), else ``str(value)``."""
    return str(value).lower() if isinstance(value, bool) else str(value)
