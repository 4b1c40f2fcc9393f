"""Prometheus's HTTP API, as PLog reads it: ``/api/v1/query_range`` with an optional
bearer token, PromQL string literals, and the errors a caller turns into a note.

Errors name Prometheus's URL without credentials, query or fragment
(``safe_url``); the token is registered for redaction and never put in any text.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import httpx

from plog_ci.errors import DependencyError
from plog_ci.redaction import register_secret

TIMEOUT_S = 15.0

# Per series of a range query: its labels, and its (Unix seconds, value) points.
Series = list[tuple[dict[str, str], list[tuple[float, float]]]]


class MetricsError(DependencyError):
    """Prometheus could not answer for the release's resources; the caller turns it
    into a note (the run keeps its verdict, without resources)."""


class PrometheusUnreachable(MetricsError):
    """No connection, or no answer in time."""


class PrometheusRefused(MetricsError):
    """An HTTP error status (401/403: the token; 400/422: the query; 5xx), or an
    answer that is not Prometheus's JSON. ``status`` is the HTTP status."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class NoSeries(MetricsError):
    """A query matched no series in the window. ``query`` is the PromQL."""

    def __init__(self, message: str, *, query: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.query = query


def promql_string(value: str) -> str:
    """``value`` as a PromQL double-quoted string literal. PromQL strings take Go's
    escapes; JSON's (``\\"`` ``\\\\`` ``\\n`` ``\\uXXXX``) are a subset of them, so a
    quote, backslash or ``}`` stays inside the one label value."""
    return json.dumps(value, ensure_ascii=False)


def safe_url(url: str) -> str:
    """``url`` without user:password, query or fragment: what error text may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: shown as no port rather than raising here
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class Prometheus:
    """Prometheus's HTTP API at ``url`` (a base URL, e.g. ``http://prometheus:9090``
    or a proxy's prefix), with an optional bearer ``token`` (never in any text)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.shown = safe_url(self.url)
        headers = {"Accept": "application/json"}
        if token:
            register_secret(token)
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            headers=headers, timeout=timeout_s, transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query_range(self, query: str, start: float, end: float, step_s: float) -> Series:
        """``query`` evaluated at ``start``, ``start + step_s``, ... ``<= end`` (Unix
        seconds): per series, its labels and ``(ts, value)`` points (NaN kept).
        Raises PrometheusUnreachable, PrometheusRefused."""
        endpoint = f"{self.url}/api/v1/query_range"
        form = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
        try:
            response = self._client.post(endpoint, data=form)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise PrometheusUnreachable(
                f"Prometheus at {self.shown} did not answer ({type(exc).__name__})",
                hint="check metrics.prometheus in plog.yml and that PLog can reach it "
                "(in a cluster: the Service's name and port, a NetworkPolicy)",
            ) from None
        return _matrix(response, self.shown)


def _matrix(response: httpx.Response, shown: str) -> Series:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    said = body.get("error") if isinstance(body, dict) else None
    if status in (401, 403):
        raise PrometheusRefused(
            f"Prometheus at {shown} refused the request (HTTP {status})",
            status=status,
            hint="check the token in the variable metrics.token_env names, and its rights",
        )
    if status >= 400 or not isinstance(body, dict) or body.get("status") != "success":
        why = f": {str(said)[:300]}" if said else ""
        raise PrometheusRefused(
            f"Prometheus at {shown} answered HTTP {status}{why}",
            status=status,
            hint="is metrics.prometheus Prometheus's base URL (the API is under /api/v1)?",
        )
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise PrometheusRefused(f"Prometheus at {shown} answered no matrix", status=status)
    out: Series = []
    try:
        for row in data.get("result") or []:
            labels = {str(k): str(v) for k, v in (row.get("metric") or {}).items()}
            points = [(round(float(ts), 3), float(v)) for ts, v in row.get("values") or []]
            out.append((labels, points))
    except (AttributeError, TypeError, ValueError):
        raise PrometheusRefused(
            f"Prometheus at {shown} answered a malformed matrix", status=status
        ) from None
    return out
