"""The pull request comment: found again by a hidden marker, and short enough to post.

GitHub refuses comment bodies over 65,536 characters. A long report is
re-rendered shorter (Bencher's habit): whole sections are dropped from the
end, then the text is cut, always keeping the headline and a link to the full
report.
"""

from __future__ import annotations

import re

from plog_ci.forge import Report

MARKER = "<!-- plog-ci:pr-comment -->"
MAX_COMMENT_CHARS = 65_536

_ICON = {"pass": "✅", "fail": "❌", "no-verdict": "⚪", "error": "⚠️", "cancelled": "⏭️"}


def _headline(report: Report) -> str:
    icon = _ICON.get(report.result, "⚠️")
    line = f"## {icon} PLog `{report.context}`: {report.description(limit=300)}"
    return f"{MARKER}\n{line}\n\nCommit `{report.head}`"


def _link(report: Report) -> str:
    if report.target_url:
        return f"[Full report]({report.target_url})"
    return "Full report: see the job's artifacts"


def render_comment(report: Report, limit: int = MAX_COMMENT_CHARS) -> str:
    head = _headline(report)
    full = f"{head}\n\n{report.markdown.strip()}\n"
    if len(full) <= limit:
        return full
    note = f"\n\n---\n*Report shortened to fit a comment. {_link(report)}.*\n"
    budget = limit - len(head) - len(note) - 2
    sections = re.split(r"(?m)^(?=#{1,3} )", report.markdown.strip())
    kept = ""
    for section in sections:
        if len(kept) + len(section) > budget:
            break
        kept += section
    if not kept.strip():
        kept = report.markdown.strip()[: max(0, budget)]
    body = f"{head}\n\n{kept.rstrip()}{note}"
    return body[:limit]
