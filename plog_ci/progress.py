"""The progress display of a run's long stages (stderr, so stdout stays parseable)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text


class StageProgress:
    """One transient line per stage: spinner, text, bar (when the length is known), time."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: Any = None

    def __enter__(self) -> StageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stage(self, text: str, total: float | None = None) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(text, total=total)

    def advance_to(self, completed: float) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=completed)

    def warn(self, text: str) -> None:
        """A line that stays above the progress display (plain text: no markup read)."""
        self.progress.console.print(Text("warning: ", style="yellow") + Text(text))
