"""``report.ai``: the narrative server's settings, checked beyond the schema.

The schema has the shapes (a URL that starts with http(s)://, names, bounds); this
adds what it cannot say: the URL names a host and carries no credentials, and the
timeout is a duration between 1 s and 10 min. The key itself never appears in
plog.yml: ``api_key_env`` names the environment variable that holds it.
"""

from __future__ import annotations

from typing import Any

from plog_ci.config.durations import parse_duration
from plog_ci.config.model import AiConfig
from plog_ci.config.problems import Problems
from plog_ci.config.urls import check_url

EXAMPLE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_TIMEOUT = "60s"
MAX_TIMEOUT_S = 600.0


def parse_ai(raw: dict[str, Any] | None, problems: Problems) -> AiConfig | None:
    """``report.ai`` as an ``AiConfig``, or None when absent; problems are added at
    their key's position (``report.ai.timeout: ...``)."""
    if raw is None:
        return None
    where = ["report", "ai"]
    check_url(
        str(raw["url"]), [*where, "url"], problems, example=EXAMPLE_URL, key_name="api_key_env"
    )
    try:
        timeout = parse_duration(str(raw.get("timeout", DEFAULT_TIMEOUT)))
    except ValueError as exc:
        problems.add([*where, "timeout"], str(exc))
        timeout = 60.0
    if not 1 <= timeout <= MAX_TIMEOUT_S:
        problems.add(
            [*where, "timeout"],
            "must lie between 1s and 10m (the gate waits for the narrative no longer)",
            "e.g. 60s",
        )
    keys = ("url", "model", "adapter", "max_tokens", "api_key_env", "evidence_tokens")
    fields: dict[str, Any] = {k: raw[k] for k in keys if k in raw}
    return AiConfig(**fields, timeout_s=timeout)
