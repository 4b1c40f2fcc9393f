"""The consoles commands print through (rich, imported on first use).

Both print text as it is: no emoji codes (``:100:`` in ``spec.yaml:100:19`` is a place,
not an emoji), no highlighting, and long lines are not wrapped (``soft_wrap``: a
terminal wraps them itself, and a CI log or a pipe gets each message on one line).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def err_console() -> Console:
    """Progress, warnings and errors: stderr."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


@cache
def out_console() -> Console:
    """Results: stdout."""
    from rich.console import Console

    return Console(highlight=False, emoji=False, soft_wrap=True)
