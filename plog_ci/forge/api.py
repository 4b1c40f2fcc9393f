"""A small REST client for forge APIs: retries, Retry-After, rate limits, no token leaks.

Retry policy (GitHub's documented guidance on secondary rate limits, which
Gitea follows closely enough):

* transport errors and 5xx: exponential backoff, up to ``attempts`` tries;
* 429, or 403 with ``x-ratelimit-remaining: 0`` or a ``retry-after`` header:
  wait ``retry-after`` seconds, else until ``x-ratelimit-reset``; a wait longer
  than ``max_wait_s`` fails at once with a DependencyError saying when to retry;
* other 4xx: fail at once (retrying a bad request does not fix it).

The token only ever goes into the Authorization header; messages carry the
method, path and status, and everything is passed through ``redact``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from plog_ci.errors import DependencyError
from plog_ci.redaction import redact


class ApiError(DependencyError):
    """``transient``: worth trying again later (rate limit, outage); else the request is wrong."""

    def __init__(
        self, message: str, *, status: int | None, hint: str | None = None, transient: bool = True
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.transient = transient


def _rate_limit_wait(response: httpx.Response, now: float) -> float | None:
    """Seconds to wait before retrying, or None when this is no rate limit."""
    headers = response.headers
    retry_after = headers.get("retry-after")
    limited = response.status_code == 429 or (
        response.status_code == 403
        and (headers.get("x-ratelimit-remaining") == "0" or retry_after is not None)
    )
    if not limited:
        return None
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return 60.0
    reset = headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return 60.0
    return 60.0


class ApiClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        auth_scheme: str,
        headers: Mapping[str, str] | None = None,
        attempts: int = 5,
        max_wait_s: float = 120.0,
        timeout_s: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        name: str = "forge",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.attempts = attempts
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self.name = name
        all_headers = {"User-Agent": "plog-ci", "Accept": "application/json"}
        all_headers.update(headers or {})
        if token:
            all_headers["Authorization"] = f"{auth_scheme} {token}"
        self._client = httpx.Client(
            base_url=self.base_url, headers=all_headers, timeout=timeout_s, follow_redirects=False
        )

    def close(self) -> None:
        self._client.close()

    def _clean(self, text: str) -> str:
        return redact(text, (self._token,) if self._token else ())

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        where = f"{self.name} {method} {path}"
        delay = 0.5
        last: str = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._client.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                if attempt == self.attempts:
                    break
                self.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            wait = _rate_limit_wait(response, time.time())
            if wait is not None:
                last = f"rate limited (HTTP {response.status_code})"
                if wait > self.max_wait_s:
                    raise ApiError(
                        self._clean(f"{where}: rate limited for another {wait:.0f}s"),
                        status=response.status_code,
                        hint="the job keeps its result; the status is posted on the next "
                        "worker pass",
                    )
                if attempt == self.attempts:
                    break
                self.sleep(wait)
                continue
            if response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                if attempt == self.attempts:
                    break
                self.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            if response.status_code >= 400:
                raise ApiError(
                    self._clean(
                        f"{where}: HTTP {response.status_code}: {_message(response)[:300]}"
                    ),
                    status=response.status_code,
                    hint=_hint(response.status_code),
                    transient=False,
                )
            return response
        raise ApiError(
            self._clean(f"{where}: gave up after {self.attempts} tries ({last})"),
            status=None,
            hint="check that the forge is reachable; PLog retries on the next worker pass",
        )


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return response.text.strip()


def _hint(status: int) -> str:
    if status in (401, 403):
        return "check the token's permissions (statuses and issues: write)"
    if status == 404:
        return "check the repository name and that the token can see it"
    return "this request was refused; see the forge's message above"
