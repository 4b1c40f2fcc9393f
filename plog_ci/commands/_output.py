"""The consoles commands print through (rich, imported on first use)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def err_console() -> Console:
    """Progress, warnings and errors: stderr."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


@cache
def out_console() -> Console:
    """Results: stdout."""
    from rich.console import Console

    return Console(highlight=False)
