r"""A short string that matches a regular expression (for schema ``pattern``).

Walks Python's own regex parse tree and takes the first choice everywhere,
repeating the minimum number of times (at least once for ``+``/``*`` so a
value is not empty when the schema also has ``minLength``), or more when a
minimum length asks for it. Returns None for what it cannot honour
(lookarounds, backreferences), so the caller falls back.

Schema patterns are ECMA-262 regular expressions (JSON Schema 2020-12, section
6.4); :func:`to_python` rewrites the common spellings Python's ``re`` reads
differently (``[\w-.]``, ``(?<name>...)``).
"""

from __future__ import annotations

import re

# Python 3.11 (our floor) keeps the regex parser in re._parser.
import re._parser as sre_parse  # type: ignore[import-not-found,unused-ignore]
from functools import lru_cache
from re._constants import (  # type: ignore[import-not-found,unused-ignore]
    ANY,
    AT,
    BRANCH,
    CATEGORY,
    IN,
    LITERAL,
    MAX_REPEAT,
    MIN_REPEAT,
    NEGATE,
    NOT_LITERAL,
    RANGE,
    SUBPATTERN,
)
from typing import Any

_CATEGORY_SAMPLE = {
    "CATEGORY_DIGIT": "0",
    "CATEGORY_NOT_DIGIT": "a",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "a",
    "CATEGORY_WORD": "a",
    "CATEGORY_NOT_WORD": "-",
}
MAX_LEN = 256


class _Unsupported(Exception):
    pass


def _in(items: list[tuple[Any, Any]]) -> str:
    negate = any(op is NEGATE for op, _ in items)
    if negate:
        banned: set[str] = set()
        for op, arg in items:
            if op is LITERAL:
                banned.add(chr(arg))
            elif op is RANGE:
                banned.update(chr(c) for c in range(arg[0], min(arg[1], arg[0] + 512) + 1))
        for candidate in "aA0_-x":
            if candidate not in banned:
                return candidate
        raise _Unsupported
    for op, arg in items:
        if op is LITERAL:
            return chr(arg)
        if op is RANGE:
            # Prefer a letter or digit inside the range when there is one.
            for candidate in "a0A":
                if arg[0] <= ord(candidate) <= arg[1]:
                    return candidate
            return chr(arg[0])
        if op is CATEGORY:
            return _CATEGORY_SAMPLE.get(str(arg), "a")
    raise _Unsupported


def _emit(tree: Any, grow: int = 0, lean: bool = False) -> str:
    out = []
    for op, arg in tree:
        if op is LITERAL:
            out.append(chr(arg))
        elif op is NOT_LITERAL:
            out.append("a" if chr(arg) != "a" else "b")
        elif op is ANY:
            out.append("a")
        elif op is IN:
            out.append(_in(arg))
        elif op is BRANCH:
            out.append(_emit(arg[1][0], grow, lean))
        elif op is SUBPATTERN:
            out.append(_emit(arg[-1], grow, lean))
        elif op in (MAX_REPEAT, MIN_REPEAT):
            low, high, sub = arg
            count = low if lean else max(low, 1 if high else 0)
            count = min(count + grow, high) if high > low else count
            out.append(_emit(sub, grow, lean) * count)
        elif op is AT:
            continue
        else:
            raise _Unsupported
        if sum(len(x) for x in out) > MAX_LEN:
            raise _Unsupported
    return "".join(out)


_CLASS_ESCAPE_DASH = re.compile(r"(\\[wWdDsS])-(?!\])")
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def to_python(pattern: str) -> str:
    """An ECMA-262 pattern in Python ``re`` syntax (the differences specs hit in practice)."""
    pattern = _CLASS_ESCAPE_DASH.sub(r"\1\\-", pattern)
    return _NAMED_GROUP.sub("(?P<", pattern)


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` compiled for Python (see :func:`to_python`), or None when it cannot be."""
    try:
        return re.compile(to_python(pattern))
    except (re.error, RecursionError, OverflowError, ValueError, TypeError):
        return None


def sample(pattern: str, min_len: int = 0, max_len: int | None = None) -> str | None:
    """A string matching ``pattern`` (searched, as JSON Schema does) whose length is in
    ``[min_len, max_len]``, or None."""
    regex = compiled(pattern)
    if regex is None:
        return None
    try:
        tree = sre_parse.parse(regex.pattern)
        tries = [(0, False), (0, True)]
        grow = 1
        while grow <= max(min_len, 1) and grow <= MAX_LEN:
            tries.append((grow, False))
            grow *= 2
        tries.append((min_len, False))
        for grow, lean in tries:
            try:
                text = _emit(tree, grow, lean)
            except _Unsupported:
                if grow:
                    break
                continue
            if len(text) < min_len or (max_len is not None and len(text) > max_len):
                continue
            if regex.search(text):
                return text
    except (_Unsupported, re.error, RecursionError, OverflowError, ValueError, TypeError):
        return None
    return None
