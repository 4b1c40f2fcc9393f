"""Whether a request wants a page or JSON (errors, and ``/jobs/<id>``)."""

from __future__ import annotations

from flask import request


def wants_page() -> bool:
    """A browser asking for a dashboard page (not the webhook, not ``/api/``): its
    ``Accept`` prefers HTML to JSON."""
    if request.path == "/webhook" or request.path.startswith("/api/"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"
