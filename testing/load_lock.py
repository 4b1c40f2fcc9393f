"""The lock that keeps timing tests alone on the machine when the suite runs on both
cores (pytest-xdist): tests/conftest.py takes it around each test, and a heavy
module-scoped fixture takes it itself."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def load_lock(exclusive: bool) -> Iterator[None]:
    """Under xdist, the run's lock: held exclusively by a ``timing`` test, shared by
    whatever else loads the CPU (real load, servers, Chromium, training), so timing
    tests never share the machine with another load. Serial runs take no lock.

    flock has no queue: shared holders that overlap would starve an exclusive
    waiter. So a turnstile goes first: an exclusive waiter holds it until it has the
    lock, and a newcomer of either kind passes it before taking the lock."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        yield
        return
    base = Path("/tmp") / f"plog-pytest-{run}"
    with open(f"{base}.lock", "a") as lock, open(f"{base}.turnstile", "a") as turnstile:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
