"""URLs of servers PLog talks to (``report.ai.url``, ``metrics.prometheus``), checked
beyond the schema's ``^https?://``: a host, a port in range, no credentials, no
spaces. A URL is quoted in a message only when it carries no credentials."""

from __future__ import annotations

from urllib.parse import urlsplit

from plog_ci.config.problems import Problems


def check_url(
    url: str, key: list[str | int], problems: Problems, *, example: str, key_name: str
) -> None:
    """Add to ``problems`` at ``key`` why ``url`` is not a server's URL; ``key_name``
    is the plog.yml key that names the secret's variable instead (for the hint)."""
    hint = f"e.g. {example}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        problems.add(key, f"not a URL ({exc})", hint)
        return
    if parts.username or parts.password or "@" in parts.netloc:
        problems.add(
            key,
            "the URL carries credentials",
            f"never put secrets in plog.yml: write '{key_name}: NAME' and set the "
            "environment variable NAME where PLog runs",
        )
        return
    if not parts.hostname:
        problems.add(key, f"{url!r} names no host", hint)
    elif any(c.isspace() or ord(c) < 32 for c in url):
        problems.add(key, "the URL holds spaces or control characters", hint)
