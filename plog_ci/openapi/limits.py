"""How much work loading one spec may cost: operator settings, never plog.yml keys.

A pusher controls the spec, so the limits that protect the machine running PLog
come from its environment (the operator's), not from the repository. Real specs
stay far below every default; a spec over one is refused with an error that
names the limit, the figure and the variable that raises it.

============================  ===========  ==============================================
variable                      default      what it bounds
============================  ===========  ==============================================
PLOG_SPEC_MAX_FILE_BYTES      16 MiB       bytes of one spec file (checked before reading)
PLOG_SPEC_MAX_TOTAL_BYTES     64 MiB       bytes of all files one load reads through $ref
PLOG_SPEC_MAX_FILES           20000        files one load reads through $ref
PLOG_SPEC_MAX_NODES           5000000      nodes of one file after YAML alias expansion
PLOG_SPEC_MAX_DEPTH           500          nesting of the resolved spec, through $refs
PLOG_SPEC_LOAD_TIMEOUT        30           seconds one load may take (reading, resolving)
============================  ===========  ==============================================

For scale: Stripe's 3.9 MB spec nests 124 levels deep once resolved;
DigitalOcean's description is about 2,600 files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from plog_ci.openapi.errors import SpecError, SpecTooLargeError

ENV = {
    "max_file_bytes": "PLOG_SPEC_MAX_FILE_BYTES",
    "max_total_bytes": "PLOG_SPEC_MAX_TOTAL_BYTES",
    "max_files": "PLOG_SPEC_MAX_FILES",
    "max_nodes": "PLOG_SPEC_MAX_NODES",
    "max_depth": "PLOG_SPEC_MAX_DEPTH",
    "timeout_s": "PLOG_SPEC_LOAD_TIMEOUT",
}


@dataclass(frozen=True)
class LoadLimits:
    max_file_bytes: int = 16 << 20
    max_total_bytes: int = 64 << 20
    max_files: int = 20_000
    max_nodes: int = 5_000_000  # per document, after YAML alias expansion
    max_depth: int = 500  # containers on the longest path of the resolved spec
    timeout_s: float = 30.0
    max_paths: int = 5_000
    max_operations: int = 5_000
    validate_max_bytes: int = 1 << 20  # full schema validation only below this size
    validate_max_nodes: int = 100_000  # ... and below this many nodes, $refs expanded
    http_timeout_s: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LoadLimits:
        """Defaults, overridden by the ``PLOG_SPEC_*`` variables that are set.

        Raises :class:`SpecError` for a value that is not a positive number."""
        env = os.environ if env is None else env
        changes: dict[str, float | int] = {}
        types = {f.name: f.type for f in fields(cls)}
        for name, var in ENV.items():
            text = env.get(var, "").strip()
            if not text:
                continue
            try:
                value = float(text) if types[name] in (float, "float") else int(text)
            except ValueError:
                value = -1
            if not value > 0:
                raise SpecError(
                    f"{var}={text!r} is not a positive number",
                    hint=f"unset {var} for its default ({getattr(cls(), name)})",
                )
            changes[name] = value
        return replace(cls(), **changes)  # type: ignore[arg-type]


def too_large(
    where: str, what: str, limit_name: str, limit: float, unit: str = ""
) -> SpecTooLargeError:
    """The error for a limit hit: ``where: what, over the limit of N (VARIABLE)``."""
    var = ENV[limit_name]
    figure = f"{limit:,}" if isinstance(limit, int) else f"{limit:g}"
    return SpecTooLargeError(
        f"{where}: {what}, over the limit of {figure}{unit} ({var})",
        hint=f"if the spec is genuine, whoever runs PLog can raise {var} "
        "(an environment variable of the machine running PLog; plog.yml cannot)",
    )


class Deadline:
    """The wall-clock budget of one load (``timeout_s``), checked between steps."""

    def __init__(self, limits: LoadLimits, where: str) -> None:
        self.limits = limits
        self.where = where
        self.start = time.monotonic()
        self.end = self.start + limits.timeout_s

    def check(self, doing: str) -> None:
        """Raise :class:`SpecTooLargeError` once the budget is spent."""
        if time.monotonic() > self.end:
            raise too_large(
                self.where,
                f"loading took over {self.limits.timeout_s:g} s (while {doing})",
                "timeout_s",
                self.limits.timeout_s,
                " s",
            )
