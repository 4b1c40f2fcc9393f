"""Where a run's dashboard page is: the URL the reports, PR comments and commit
statuses link to (``PLOG_DASHBOARD_URL``, ``--dashboard-url``).

The base URL is the operator's, but it ends up in markdown that a forge renders and
in statuses' ``target_url``: only an absolute ``http``/``https`` URL with a host, no
credentials, query, fragment, whitespace or markdown-significant characters is taken.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from plog_ci.errors import InputError

ENV = "PLOG_DASHBOARD_URL"
_UNSAFE = re.compile(r"[\s<>()\[\]\"'`\\|*_{}!^]")


def dashboard_url(text: str | None) -> str | None:
    """``text`` as a dashboard base URL without its trailing slash; None for none.

    Raises InputError (naming ``PLOG_DASHBOARD_URL``) for anything else than an
    absolute http(s) URL with a host and no credentials, query or fragment."""
    if text is None or not text.strip():
        return None
    url = text.strip()
    parts = urlsplit(url)
    problem = None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "it must be an absolute http:// or https:// URL with a host"
    elif parts.username is not None or parts.password is not None:
        problem = "it must not hold credentials (the dashboard takes a token)"
    elif parts.query or parts.fragment or "?" in url or "#" in url:
        problem = "it must have no query or fragment"
    elif _UNSAFE.search(url) or not url.isprintable() or not url.isascii():
        problem = "it must have no spaces, quotes, brackets or markdown characters"
    if problem is not None:
        raise InputError(
            f"dashboard URL {url[:100]!r}: {problem}",
            hint=f"set {ENV} (or --dashboard-url) to e.g. https://plog.example.com",
        )
    return url.rstrip("/")


def run_url(base: str | None, run_id: int | None) -> str | None:
    """The page of run ``run_id`` under ``base`` (None when either is missing)."""
    if not base or run_id is None:
        return None
    return f"{base}/runs/{int(run_id)}"
