"""The pull request comment: found again by a hidden marker, and short enough to post.

GitHub refuses comment bodies over 65,536 characters. A long report is
re-rendered shorter (Bencher's habit): whole sections are dropped from the
end, then the text is cut, always keeping the headline and a link to the full
report.
"""

from __future__ import annotations

import re

from plog_ci.forge import Report
from plog_ci.templating import md_escape, plain_text

MARKER = "<!-- plog-ci:pr-comment -->"
MAX_COMMENT_CHARS = 65_536
MAX_DESCRIPTION_CHARS = 140  # GitHub refuses a longer commit status description
MAX_CONTEXT_CHARS = 100
MAX_URL_CHARS = 2_000

_ICON = {"pass": "✅", "fail": "❌", "no-verdict": "⚪", "error": "⚠️", "cancelled": "⏭️"}
_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_URL = re.compile(r"^https?://[!#$%&'*+,\-./0-9:;=?@A-Z_a-z~]+$")


# Every text PLog sends a forge passes one of these. Spec- and service-derived
# text (operation names, reasons, service output) is plain text in a commit
# status and markdown-escaped (templating.md_escape, the report's own) in a comment.


def status_description(report: Report) -> str:
    """The commit status description: one plain line, at most 140 characters."""
    return plain_text(report.description(limit=10_000), MAX_DESCRIPTION_CHARS)


def status_context(report: Report) -> str:
    """``plog/PROFILE`` with only letters, digits and ``/._-``."""
    context = re.sub(r"[^A-Za-z0-9/._-]+", "-", plain_text(report.context))
    return context[:MAX_CONTEXT_CHARS] or "plog"


def safe_url(url: str | None) -> str | None:
    """An http(s) URL made only of URL characters (no space, quote, bracket or
    parenthesis that could end a markdown link), or None."""
    if not url or len(url) > MAX_URL_CHARS or not _URL.match(url):
        return None
    return url


def _headline(report: Report) -> str:
    icon = _ICON.get(report.result, "⚠️")
    description = md_escape(report.description(limit=300))
    line = f"## {icon} PLog `{status_context(report)}`: {description}"
    head = report.head if _SHA.match(report.head) else md_escape(report.head)
    return f"{MARKER}\n{line}\n\nCommit `{head}`"


def _link(report: Report) -> str:
    url = safe_url(report.target_url)
    if url:
        return f"[Full report]({url})"
    return "Full report: see the job's artifacts"


def _body(report: Report) -> str:
    """The report, rendered by PLog with every value escaped; a bare summary (the
    fallback when a job has no report) is escaped here."""
    markdown = report.markdown.strip()
    if not markdown or markdown == report.summary.strip():
        return md_escape(report.summary)
    return markdown


def render_comment(report: Report, limit: int = MAX_COMMENT_CHARS) -> str:
    head = _headline(report)
    markdown = _body(report)
    full = f"{head}\n\n{markdown}\n"
    if len(full) <= limit:
        return full
    note = f"\n\n---\n*Report shortened to fit a comment. {_link(report)}.*\n"
    budget = limit - len(head) - len(note) - 2
    sections = re.split(r"(?m)^(?=#{1,3} )", markdown)
    kept = ""
    for section in sections:
        if len(kept) + len(section) > budget:
            break
        kept += section
    if not kept.strip():
        kept = markdown[: max(0, budget)]
    body = f"{head}\n\n{kept.rstrip()}{note}"
    return body[:limit]
