"""A reviewer's changelog of a :class:`SpecDiff`, in GitHub-flavoured markdown.

Text from specs (paths, messages quoting enum values or patterns) is escaped so
it cannot open links, images or HTML in a PR comment.
"""

from __future__ import annotations

import re

from plog_ci.openapi.changes import ERROR, INFO, WARNING
from plog_ci.openapi.diff import SpecDiff

_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
_TITLES = {ERROR: "Breaking changes", WARNING: "Warnings", INFO: "Other changes"}


def md(text: str) -> str:
    """Escape markdown/HTML metacharacters; keep it on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def render(diff: SpecDiff, max_changes: int = 500) -> str:
    lines = ["## API changes", ""]
    if diff.base_source or diff.head_source:
        lines += [f"Base `{md(diff.base_source)}` → revision `{md(diff.head_source)}`", ""]
    if not (diff.added or diff.removed or diff.modified or diff.changes):
        return "\n".join([*lines, "No changes to the API surface."]) + "\n"
    verdict = "**breaking**" if diff.breaking else "not breaking"
    lines += [
        f"{len(diff.added)} added, {len(diff.modified)} modified, "
        f"{len(diff.removed)} removed operations; {verdict}.",
        "",
    ]
    for title, ops in (
        ("Added", diff.added),
        ("Modified", diff.modified),
        ("Removed", diff.removed),
    ):
        if ops:
            lines.append(f"### {title} operations")
            lines.extend(f"- {md(op)}" for op in ops)
            lines.append("")
    shown = 0
    for level in (ERROR, WARNING, INFO):
        group = [c for c in diff.changes if c.level == level]
        if not group:
            continue
        lines.append(f"### {_TITLES[level]} ({len(group)})")
        for change in group:
            if shown >= max_changes:
                break
            where = f"{md(change.operation)}: " if change.operation else ""
            lines.append(f"- {where}{md(change.message)} `{change.id}`")
            shown += 1
        lines.append("")
    if shown < len(diff.changes):
        lines.append(f"… and {len(diff.changes) - shown} more changes (see the JSON output).")
    return "\n".join(lines).rstrip() + "\n"
