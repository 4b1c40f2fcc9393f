"""The environment fingerprint: what must match for two stored runs to be comparable.

A run measured on another machine kind, core count, Python, PLog or k6 is not a
baseline: the sequential comparison looks for stored runs with the same fingerprint
(``ResultsStore.comparable_runs``).
"""

from __future__ import annotations

import os
import platform
import re
from functools import cache
from typing import Any

from plog_ci import __version__, proc
from plog_ci.errors import MissingToolError
from plog_ci.runner.k6 import find_k6

_VERSION = re.compile(r"\bv?(\d+\.\d+\.\d+[^\s()]*)")


@cache
def k6_version(binary: str) -> str:
    """The version ``binary version`` prints (``k6 v1.1.0 (commit/...)`` → ``1.1.0``).

    Raises MissingToolError when the binary cannot run, ProcessError when it fails.
    """
    out = proc.run((binary, "version"), timeout=30.0).stdout
    found = _VERSION.search(out)
    return found.group(1) if found else out.strip()[:80]


def environment_fingerprint() -> dict[str, Any]:
    """Machine, system, CPUs, Python, PLog, and the version of the k6 that runs the load
    (``PLOG_K6`` or the one found on PATH; ``None`` when there is none to run, which
    the load stage reports as a missing tool)."""
    try:
        k6: str | None = k6_version(find_k6())
    except (MissingToolError, proc.ProcessError):
        k6 = None
    return {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "plog": __version__,
        "k6": k6,
    }
