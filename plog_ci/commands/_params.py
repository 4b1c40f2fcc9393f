"""Numeric option types: a value out of range is a usage error (exit 2) naming the option.

click's ``FloatRange`` lets ``nan`` through (every comparison with it is false) and
``inf`` through an open upper end; neither is a rate or a count anyone means.
"""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` and ``inf``."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if isinstance(number, float) and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


POSITIVE_FLOAT = FiniteFloatRange(min=0, min_open=True)
POSITIVE_INT = click.IntRange(min=1)
