"""Errors of the build and push stages; their messages go to the commit status.

An unreachable registry or Harbor is a ``plog_ci.errors.DependencyError`` (exit 4:
the queue retries); these are the commit's or the configuration's fault (exit 2).
"""

from __future__ import annotations

from pathlib import Path

from plog_ci.errors import ExitCode, PlogError


class BuildError(PlogError):
    """The image did not build. ``step`` is ``(n, m)`` of buildah's ``STEP n/m`` that
    failed (None before the first step), ``instruction`` its text, ``tail`` the last
    lines of the output, ``log_path`` the whole output."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        step: tuple[int, int] | None = None,
        instruction: str | None = None,
        tail: tuple[str, ...] = (),
        log_path: Path | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.step = step
        self.instruction = instruction
        self.tail = tail
        self.log_path = log_path


class RegistryError(PlogError):
    """A registry (or Harbor) answered, but no: a refused credential, a missing project
    or artifact, an untrusted certificate, a failed scan."""

    exit_code = ExitCode.INVALID_INPUT


class RegistryAuthError(RegistryError):
    """The registry refused the credentials, or the user may not do that."""
