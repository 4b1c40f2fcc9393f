"""Where a bare repository keeps PLog's verdicts, and how to read one back.

Kept free of heavy imports: the pre-receive hook reads verdicts on every push.
"""

from __future__ import annotations

NOTES_REF = "refs/notes/plog"
REPORTS_BRANCH = "plog-reports"
REPORTS_REF = f"refs/heads/{REPORTS_BRANCH}"


def parse_verdict(note: str) -> str | None:
    """The result on a note's first line (``plog: fail (plog/load) ...``), or None."""
    first = note.splitlines()[0] if note else ""
    if not first.startswith("plog: "):
        return None
    return first[len("plog: ") :].split(" ", 1)[0] or None
