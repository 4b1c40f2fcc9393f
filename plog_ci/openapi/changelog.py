"""A reviewer's changelog of a :class:`SpecDiff`, in GitHub-flavoured markdown.

Text from specs (paths, messages quoting enum values or patterns) is escaped so
it cannot open links, images or HTML in a PR comment.
"""

from __future__ import annotations

import re

from plog_ci.openapi.changes import ERROR, INFO, WARNING, Change
from plog_ci.openapi.diff import SpecDiff
from plog_ci.templating import code_span

_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
_TITLES = {ERROR: "Breaking changes", WARNING: "Warnings", INFO: "Other changes"}


def md(text: str) -> str:
    """Escape markdown/HTML metacharacters; keep it on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def render(diff: SpecDiff, max_changes: int = 500) -> str:
    lines = ["## API changes", ""]
    if diff.base_source or diff.head_source:
        lines += [
            f"Base {code_span(diff.base_source)} → revision {code_span(diff.head_source)}",
            "",
        ]
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
        for changes in _by_place(group):
            if shown >= max_changes:
                break
            lines.extend(_entry(changes))
            shown += len(changes)
        lines.append("")
    if shown < len(diff.changes):
        lines.append(f"… and {len(diff.changes) - shown} more changes (see the JSON output).")
    return "\n".join(lines).rstrip() + "\n"


def _shared(change: Change) -> bool:
    """Whether the change lies in a named component (a shared schema)."""
    pointer = change.source.partition("#")[2]
    return pointer.startswith(("/components/schemas/", "/definitions/"))


def _by_place(changes: list[Change]) -> list[list[Change]]:
    """One entry per change, except that one change of a shared component reached
    from several operations is one entry (same id and place in the spec file)."""
    groups: dict[tuple[str, str], list[Change]] = {}
    out: list[list[Change]] = []
    for change in changes:
        if not _shared(change):
            out.append([change])
            continue
        key = (change.id, change.source)
        if key not in groups:
            groups[key] = []
            out.append(groups[key])
        groups[key].append(change)
    return out


def _entry(changes: list[Change], listed: int = 10) -> list[str]:
    first = changes[0]
    if len(changes) == 1:
        where = f"{md(first.operation)}: " if first.operation else ""
        return [f"- {where}{md(first.message)} `{first.id}`"]
    place = first.source.partition("#")[2]
    ops = sorted({c.operation for c in changes})
    more = f" and {len(ops) - listed} more" if len(ops) > listed else ""
    # The message names the property as one operation reaches it (and its status):
    # said as that operation's, so it is true of the line it stands on.
    return [
        f"- the shared schema {code_span(place)} changed, reached from {len(ops)} "
        f"operations `{first.id}`; in {md(first.operation)}: {md(first.message)}",
        f"  - operations: {', '.join(md(op) for op in ops[:listed])}{more}",
    ]
