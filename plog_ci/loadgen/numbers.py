"""Exact numbers for ``integer`` and ``number`` schemas.

Bounds and ``multipleOf`` are worked out in :class:`fractions.Fraction`, never
in floating point, so ``minimum: 9007199254740993`` gives 9007199254740993
exactly and an integer is always a Python ``int`` however large. Bounds come in
both spellings: OpenAPI 3.0 booleans beside ``minimum``/``maximum`` and JSON
Schema 2020-12 numbers (OpenAPI 3.1); ``format: int32``/``int64`` add their
ranges (OpenAPI 3.0.3, "Data Types").
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from plog_ci.loadgen.validity import INT32, INT64

_FORMAT_RANGE = {"int32": INT32, "int64": INT64}


def exact(value: Any) -> Fraction | None:
    """``value`` as an exact fraction (a float is read as the decimal it prints as)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float) and math.isfinite(value):
        return Fraction(repr(value))
    return None


def _bounds(schema: dict[str, Any]) -> tuple[Fraction | None, bool, Fraction | None, bool]:
    """(low, low is exclusive, high, high is exclusive); the tightest of both spellings."""
    low, high = exact(schema.get("minimum")), exact(schema.get("maximum"))
    low_open = high_open = False
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_low is True and low is not None:
        low_open = True
    elif (n := exact(ex_low)) is not None and (low is None or n >= low):
        low, low_open = n, True
    if ex_high is True and high is not None:
        high_open = True
    elif (n := exact(ex_high)) is not None and (high is None or n <= high):
        high, high_open = n, True
    return low, low_open, high, high_open


def _float_multiple(value: float, step: Any) -> bool:
    """jsonschema's own ``multipleOf`` test (floats divide in floating point).

    A step that is not > 0 is no constraint (it is noted as unusable elsewhere).
    """
    if isinstance(step, float) and step > 0:
        quotient = value / step
        return math.isfinite(quotient) and int(quotient) == quotient
    return True


def integer(schema: dict[str, Any], variant: int = 0) -> int | None:
    """The integer nearest 1 (+ ``variant`` steps) that the bounds allow, or None."""
    low, low_open, high, high_open = _bounds(schema)
    lo = None if low is None else math.floor(low) + 1 if low_open else math.ceil(low)
    hi = None if high is None else math.ceil(high) - 1 if high_open else math.floor(high)
    fmt = _FORMAT_RANGE.get(str(schema.get("format")))
    if fmt is not None:
        lo = fmt[0] if lo is None else max(lo, fmt[0])
        hi = fmt[1] if hi is None else min(hi, fmt[1])
    step = 1
    multiple = exact(schema.get("multipleOf"))
    if multiple is not None and multiple > 0:
        step = multiple.numerator  # k * p/q is an integer exactly when it is a multiple of p
    target = 1
    if lo is not None and target < lo:
        target = lo
    elif hi is not None and target > hi:
        target = hi
    target += variant * step
    value = -(-target // step) * step  # the first multiple at or above target
    if hi is not None and value > hi:
        value = (hi // step) * step
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return None
    return int(value)


def number(schema: dict[str, Any], variant: int = 0) -> int | float | None:
    """A number the bounds and ``multipleOf`` allow (nearest 1), or None.

    Returns a float unless the value is an integer that a float cannot hold
    exactly (then an int, which JSON carries as the same number).
    """
    low, low_open, high, high_open = _bounds(schema)
    raw_step = schema.get("multipleOf")
    step = exact(raw_step)
    if step is not None and step <= 0:
        step = None
    candidates: list[Fraction] = []
    base = Fraction(1)
    if low is not None and (base < low or (low_open and base == low)):
        base = low
    if high is not None and (base > high or (high_open and base == high)):
        base = high
    if step is None:
        candidates += [base, base + Fraction(1, 2), base - Fraction(1, 2)]
        if low is not None and high is not None:
            candidates.append((low + high) / 2)
    else:
        k = math.ceil(base / step)
        candidates += [step * (k + i) for i in (0, 1, -1, 2, -2)]
    out: list[int | float] = []
    for cand in candidates:
        cand += variant * (step or 1)
        if low is not None and (cand < low or (low_open and cand == low)):
            continue
        if high is not None and (cand > high or (high_open and cand == high)):
            continue
        value: int | float = (
            int(cand) if cand.denominator == 1 and abs(cand) > 2**53 else float(cand)
        )
        if isinstance(value, float) and exact(value) != cand:
            continue  # not exactly representable: the bound may not hold after rounding
        if _float_multiple(float(value), raw_step):
            out.append(value)
    return out[0] if out else None
