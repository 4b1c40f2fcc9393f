"""Waiting for a deployed service's health path, whatever runs it (process, container)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

POLL_S = 0.1


@dataclass(frozen=True)
class Health:
    """How the wait ended: ``seconds`` until a 2xx answer (None if none came);
    ``exited``: the service stopped first; ``last``: the last answer or error seen."""

    seconds: float | None
    exited: bool
    last: str


def wait_for_health(url: str, timeout_s: float, exited: Callable[[], bool]) -> Health:
    """Poll ``url`` until it answers 2xx, ``exited()`` says the service stopped, or
    ``timeout_s`` passes (checking ``exited`` before each request)."""
    start = time.monotonic()
    deadline = start + timeout_s
    last = "no answer yet"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if exited():
                return Health(None, True, last)
            try:
                resp = client.get(url)
                if 200 <= resp.status_code < 300:
                    return Health(time.monotonic() - start, False, last)
                last = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(POLL_S)
    return Health(None, False, last)
