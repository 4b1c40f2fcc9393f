"""Errors raised while loading a spec. All are :class:`InputError` (exit code 2)."""

from __future__ import annotations

from plog_ci.errors import InputError


class SpecError(InputError):
    """A spec that cannot be understood: invalid YAML/JSON, not OpenAPI, unsupported version."""


class RefError(SpecError):
    """A ``$ref`` that is refused or points at nothing; the message names file, ref and place."""

    def __init__(self, message: str, *, ref: str, where: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.ref = ref
        self.where = where


class SpecTooLargeError(SpecError):
    """A limit was hit (bytes, files, nodes, depth, time, paths, operations); the message
    names it and, for an operator setting, the ``PLOG_SPEC_*`` variable that raises it."""
