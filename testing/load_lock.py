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
    tests never share the machine with another load. Serial runs take no lock."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        yield
        return
    with open(Path("/tmp") / f"plog-pytest-{run}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
