"""Report a verdict back where the code lives: GitHub, Gitea, or the bare repo itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# The commit status each result maps to. "no verdict" (too few samples) is
# never shown as a failure; its description says so.
STATE_FOR_RESULT = {
    "pending": "pending",
    "pass": "success",
    "fail": "failure",
    "no-verdict": "success",
    "error": "error",
    "cancelled": "error",
}


@dataclass(frozen=True)
class Report:
    """What to post for one job."""

    result: str  # pass | fail | no-verdict | error | cancelled
    profile: str
    summary: str
    markdown: str
    head: str
    target_url: str | None = None
    branch: str | None = None
    pr_number: int | None = None
    job_id: int | None = None

    @property
    def context(self) -> str:
        return f"plog/{self.profile}"

    @property
    def state(self) -> str:
        return STATE_FOR_RESULT.get(self.result, "error")

    def description(self, limit: int = 140) -> str:
        """One line for the status: the result and the headline numbers."""
        label = {"no-verdict": "no verdict", "cancelled": "skipped"}.get(self.result, self.result)
        text = " ".join(f"{label}: {self.summary}".split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


class Forge(Protocol):
    def pending(self, report: Report) -> None:
        """Mark the commit as being tested."""

    def publish(self, report: Report) -> None:
        """Post the final verdict. Must be idempotent: it may run twice after a crash."""
