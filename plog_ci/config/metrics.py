"""plog.yml's ``metrics``: the cluster's Prometheus, checked beyond the schema
(a host, no credentials: the token only by the name of its variable)."""

from __future__ import annotations

from typing import Any

from plog_ci.config.model import MetricsConfig
from plog_ci.config.problems import Problems
from plog_ci.config.urls import check_url

EXAMPLE_URL = "http://prometheus.monitoring.svc:9090"


def parse_metrics(raw: dict[str, Any] | None, problems: Problems) -> MetricsConfig | None:
    """``metrics`` as a ``MetricsConfig``, or None when absent."""
    if raw is None:
        return None
    url = str(raw["prometheus"])
    check_url(url, ["metrics", "prometheus"], problems, example=EXAMPLE_URL, key_name="token_env")
    return MetricsConfig(prometheus=url.rstrip("/"), token_env=raw.get("token_env"))
