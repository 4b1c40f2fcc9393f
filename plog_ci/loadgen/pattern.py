"""A short string that matches a regular expression (for schema ``pattern``).

Walks Python's own regex parse tree and takes the first choice everywhere,
repeating the minimum number of times (at least once for ``+``/``*`` so a
value is not empty when the schema also has ``minLength``). Returns None for
what it cannot honour (lookarounds, backreferences), so the caller falls back.
"""

from __future__ import annotations

import re

# Python 3.11 (our floor) keeps the regex parser in re._parser.
import re._parser as sre_parse  # type: ignore[import-not-found,unused-ignore]
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


def _emit(tree: Any) -> str:
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
            out.append(_emit(arg[1][0]))
        elif op is SUBPATTERN:
            out.append(_emit(arg[-1]))
        elif op in (MAX_REPEAT, MIN_REPEAT):
            low, _high, sub = arg
            out.append(_emit(sub) * max(low, 1 if _high else 0))
        elif op is AT:
            continue
        else:
            raise _Unsupported
        if sum(len(x) for x in out) > MAX_LEN:
            raise _Unsupported
    return "".join(out)


def sample(pattern: str) -> str | None:
    """A string matching ``pattern`` (searched, as JSON Schema does), or None."""
    try:
        text = _emit(sre_parse.parse(pattern))
        if re.search(pattern, text):
            return text
    except (_Unsupported, re.error, RecursionError, OverflowError, ValueError, TypeError):
        return None
    return None
