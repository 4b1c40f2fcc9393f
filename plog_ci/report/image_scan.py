"""The report's "Image" section: the head's pushed image (by digest) and its Harbor
vulnerability scan (counts by severity, scanner, the gate's outcome, a link to the
artifact in Harbor), or why there is no scan. Harbor's strings are shown as text."""

from __future__ import annotations

import re

from plog_ci.build.harbor import SEVERITIES
from plog_ci.build.harbor_scan import ImageFacts, span
from plog_ci.templating import code_span, md_escape

# A link is drawn only when it is one plain http(s) URL (it ends a markdown link).
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%\[\]-]+")
_LABELS = {"pass": "pass", "fail": "**FAIL**", "report": "reported only"}


def image_section(image: ImageFacts | None) -> str:
    """Markdown from ``## Image`` on; "" when no image was pushed."""
    if image is None:
        return ""
    lines = [
        "## Image",
        "",
        f"Pushed and run by its digest: {code_span(image.reference)}",
        "",
        "### Vulnerability scan",
        "",
    ]
    scan = image.scan
    if scan is None:
        lines.append(f"No scan: {md_escape(image.note)}.")
        return "\n".join(lines)
    fails_on = (
        "fail_on: none, never fails"
        if scan.fail_on == "none"
        else f"fails on {md_escape(scan.fail_on)} or above"
    )
    lines.append(f"{_LABELS.get(scan.outcome, md_escape(scan.outcome))}: {md_escape(scan.reason)}")
    lines.append("")
    lines.append(f"Waited at most {span(scan.wait_s)}; {fails_on}.")
    if scan.finished:
        lines += ["", "| Severity | Vulnerabilities |", "|---|---:|"]
        known = tuple(reversed(SEVERITIES))
        others = sorted(k for k in scan.counts if k not in SEVERITIES)
        for severity in (*known, *others):
            count = scan.counts.get(severity, 0)
            lines.append(f"| {md_escape(severity)} | {count} |")
        lines.append(f"| **all** | {scan.total} ({scan.fixable} fixable) |")
    details = [f"Harbor's status {md_escape(scan.status)}"]
    if scan.scanner:
        details.append(f"scanner {md_escape(scan.scanner)}")
    if scan.link and _PLAIN_URL.fullmatch(scan.link):
        details.append(f"[the artifact in Harbor]({scan.link})")
    lines += ["", " · ".join(details)]
    return "\n".join(lines)
