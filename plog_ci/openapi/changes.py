"""The vocabulary of a spec diff: change levels, the :class:`Change` record, its :class:`Emitter`.

Ids and default levels follow oasdiff (https://www.oasdiff.com/checks) so users
can move between the tools; the levels are those of oasdiff's rules at the
commit our reference cases come from (tests/data/openapi-diff). Deliberate
differences from oasdiff are listed in docs/openapi.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ERROR, WARNING, INFO = "error", "warning", "info"
LEVEL_RANK = {INFO: 0, WARNING: 1, ERROR: 2}


@dataclass(frozen=True)
class Change:
    id: str
    level: str  # error (breaking) | warning | info
    operation: str  # "METHOD /path", or "" for changes to the whole API
    message: str
    source: str  # "<spec file>#<JSON pointer>"

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "level": self.level,
            "operation": self.operation,
            "message": self.message,
            "source": self.source,
        }


def esc(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def fmt_value(value: Any) -> str:
    """A spec value as quoted in a message: strings as they are, the rest as JSON."""
    return json.dumps(value) if not isinstance(value, str) else value


class Emitter:
    """Collects changes for one operation; ``source`` is built from pointer parts."""

    def __init__(
        self,
        operation: str,
        base_file: str,
        head_file: str,
        base_ptr: list[str | int],
        head_ptr: list[str | int],
    ) -> None:
        self.operation = operation
        self.base_file = base_file
        self.head_file = head_file
        self.base_ptr = base_ptr
        self.head_ptr = head_ptr
        self.changes: list[Change] = []

    def emit(
        self,
        change_id: str,
        level: str,
        message: str,
        suffix: list[str | int] | None = None,
        *,
        in_base: bool = False,
    ) -> None:
        parts = (self.base_ptr if in_base else self.head_ptr) + (suffix or [])
        file = self.base_file if in_base else self.head_file
        source = f"{file}#/" + "/".join(esc(p) for p in parts)
        self.changes.append(Change(change_id, level, self.operation, message, source))
