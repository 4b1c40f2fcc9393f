"""One error type for everything PLog reports to a user, mapped to exit codes.

Exit codes follow k6's habit of documenting each failure class (the README's
"Exit codes" table says the same; tests/test_errors.py holds the three together):

====  =========================================================
code  meaning
====  =========================================================
0     pass, or no verdict (nothing could be judged)
1     a gate failed (the run itself worked)
2     invalid configuration or input (plog.yml, spec, revision, a service that does not start)
3     internal error (a bug in PLog; please report it)
4     a tool is missing, a dependency is unreachable, or the state directory is not writable
130   interrupted (Ctrl-C or SIGTERM); everything PLog started is stopped first
====  =========================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    GATE_FAILED = 1
    INVALID_INPUT = 2
    INTERNAL = 3
    MISSING_DEPENDENCY = 4
    INTERRUPTED = 130


class PlogError(Exception):
    """Base error: a message that says what and where, and a hint that says what to do."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(PlogError):
    """plog.yml is missing or invalid. ``errors`` holds every problem found, one per line."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(
        self, message: str, *, hint: str | None = None, errors: list[str] | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.errors = errors or [message]


class InputError(PlogError):
    """Bad input other than plog.yml: a spec, a revision, a command-line value."""

    exit_code = ExitCode.INVALID_INPUT


class ServiceError(PlogError):
    """The service under test could not be started or never became healthy."""

    exit_code = ExitCode.INVALID_INPUT


class MissingToolError(PlogError):
    """A program PLog needs (k6, git, podman) is not installed."""

    exit_code = ExitCode.MISSING_DEPENDENCY


class DependencyError(PlogError):
    """A service PLog talks to (registry, forge, InfluxDB) is unreachable."""

    exit_code = ExitCode.MISSING_DEPENDENCY


class StateError(PlogError):
    """PLog's own state directory ($PLOG_HOME: results store, queue, reports) cannot be
    written: a read-only or immutable file or directory, a full disk. An environmental
    fault, not a verdict: the queue retries the job."""

    exit_code = ExitCode.MISSING_DEPENDENCY

    def __init__(self, path: object, detail: str | None = None) -> None:
        self.path = str(path)
        message = f"state directory not writable: {self.path}"
        if detail:
            message += f" ({detail})"
        super().__init__(
            message,
            hint="make $PLOG_HOME writable (permissions, read-only mount, chattr +i, free "
            "space), or point PLOG_HOME elsewhere",
        )


class InternalError(PlogError):
    exit_code = ExitCode.INTERNAL
