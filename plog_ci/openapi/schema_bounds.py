"""Numeric bounds of a schema as one value each way, across OpenAPI versions.

OpenAPI 3.0 (JSON Schema draft 4/5): ``exclusiveMinimum: true`` makes
``minimum`` exclusive. OpenAPI 3.1 (JSON Schema 2020-12, section 6.2.5):
``exclusiveMinimum`` is a number of its own, a bound beside ``minimum``; both
apply, so the effective bound is the tighter one. Either way a bound is a value
and whether it is exclusive, and a change narrows when the head bound rejects a
value the base bound accepted (``minimum: 5`` → ``exclusiveMinimum: 5`` narrows:
5 is no longer allowed), as oasdiff's min/max checks for the same keywords.

Values stay ``int`` where the spec wrote integers: ``format: int64`` bounds above
2**53 are compared exactly (Python compares ints and floats exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Number = int | float


def number(value: Any) -> Number | None:
    """A JSON number as written (bool is not a number), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


@dataclass(frozen=True)
class Bound:
    value: Number
    exclusive: bool
    keyword: str  # the keyword that sets it: minimum | exclusiveMinimum | ...

    def text(self) -> str:
        return f"{self.keyword} {self.value}"


def _bound(schema: dict[str, Any], plain: str, exclusive: str, lower: bool) -> Bound | None:
    inclusive_value = number(schema.get(plain))
    flag = schema.get(exclusive)
    if isinstance(flag, bool):  # 3.0: a modifier of the plain keyword
        if inclusive_value is None:
            return None
        return Bound(inclusive_value, flag, f"{exclusive} {plain}" if flag else plain)
    candidates = []
    if inclusive_value is not None:
        candidates.append(Bound(inclusive_value, False, plain))
    exclusive_value = number(flag)
    if exclusive_value is not None:
        candidates.append(Bound(exclusive_value, True, exclusive))
    if not candidates:
        return None

    def tightness(bound: Bound) -> tuple[Number, bool]:
        return (bound.value if lower else -bound.value, bound.exclusive)

    return max(candidates, key=tightness)


def lower(schema: dict[str, Any]) -> Bound | None:
    """The effective lower bound (``minimum``, ``exclusiveMinimum``), or None."""
    return _bound(schema, "minimum", "exclusiveMinimum", lower=True)


def upper(schema: dict[str, Any]) -> Bound | None:
    """The effective upper bound (``maximum``, ``exclusiveMaximum``), or None."""
    return _bound(schema, "maximum", "exclusiveMaximum", lower=False)


def narrows(base: Bound, head: Bound, lower_bound: bool) -> bool:
    """Whether ``head`` rejects a value that ``base`` accepted."""
    if head.value != base.value:
        return head.value > base.value if lower_bound else head.value < base.value
    return head.exclusive and not base.exclusive


def same(base: Bound | None, head: Bound | None) -> bool:
    if base is None or head is None:
        return base is head
    return base.value == head.value and base.exclusive == head.exclusive
