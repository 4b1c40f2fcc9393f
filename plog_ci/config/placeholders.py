"""Placeholders that ``plog init`` leaves where it could not guess a value.

A placeholder is a string that starts with ``TODO:`` (``TODO: the command that starts
your service``). ``plog validate`` and ``plog run`` refuse a plog.yml that still holds
one, naming the key and the line, so a half-written file never runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PREFIX = "TODO:"


def placeholder(what: str) -> str:
    """The placeholder for a value ``plog init`` could not find: ``TODO: <what>``."""
    return f"{PREFIX} {what}"


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip().startswith(PREFIX)


def find(plain: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[list[str | int], str]]:
    """Every placeholder in a plain YAML document (mappings, lists, scalars), with the
    key path that leads to it, in document order."""
    if isinstance(plain, dict):
        for key, value in plain.items():
            yield from find(value, (*path, str(key)))
    elif isinstance(plain, list):
        for index, value in enumerate(plain):
            yield from find(value, (*path, index))
    elif is_placeholder(plain):
        yield list(path), plain
