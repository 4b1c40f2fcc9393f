"""How plog.yml names an operation: ``"METHOD /path"``, one matcher for every place.

``load.operations``, a gate's ``operation`` and the keys of ``load.overrides``
all name operations this way, and all match them by these rules:

* the method is case-insensitive (``get /pets`` is ``GET /pets``);
* path templates match whatever their parameters are called: ``GET /pets/{id}``
  names ``GET /pets/{petId}``. OpenAPI 3.1 section 4.8.8 (Paths Object): "Templated
  paths with the same hierarchy but different templated names MUST NOT exist as
  they are identical", so the names never distinguish two operations;
* anything else must be as the spec writes it (``/pets`` and ``/pets/`` differ).

A spec key written exactly wins over a template match. Names that match nothing
get a did-you-mean from ``closest``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

from plog_ci.openapi.model import METHODS, Operation, Spec, normalize_path

T = TypeVar("T")


def split_name(text: str) -> tuple[str, str] | None:
    """``("GET", "/pets/{id}")`` from ``"get  /pets/{id} "``; None when ``text`` is not
    written ``METHOD /path`` with a method of OpenAPI (3.1 section 4.8.9)."""
    method, _, path = text.strip().partition(" ")
    path = path.strip()
    if method.lower() not in METHODS or not path.startswith("/"):
        return None
    return method.upper(), path


def canonical(text: str) -> str | None:
    """The form two names share when they name the same operation
    (``GET /pets/{}``), or None when ``text`` is not ``METHOD /path``."""
    parts = split_name(text)
    if parts is None:
        return None
    return f"{parts[0]} {normalize_path(parts[1])}"


def same_operation(a: str, b: str) -> bool:
    """Whether the names ``a`` and ``b`` name the same operation."""
    if a == b:
        return True
    left = canonical(a)
    return left is not None and left == canonical(b)


def lookup(mapping: Mapping[str, T], name: str) -> T | None:
    """The value in ``mapping`` (keyed by operation names) that ``name`` names:
    the exact key first, else the first key that names the same operation."""
    if name in mapping:
        return mapping[name]
    wanted = canonical(name)
    if wanted is None:
        return None
    for key, value in mapping.items():
        if canonical(key) == wanted:
            return value
    return None


def find_operation(spec: Spec, name: str) -> Operation | None:
    """The operation of ``spec`` that ``name`` names, or None."""
    parts = split_name(name)
    if parts is None:
        return None
    return lookup(spec.operations, f"{parts[0]} {parts[1]}")


def closest(keys: Iterable[str], name: str, n: int = 3) -> list[str]:
    """Up to ``n`` of ``keys`` (operation names) that ``name`` most likely meant: the
    same path under another method first, then the names that read most alike
    (difflib, compared with parameter names set aside)."""
    keys = list(keys)
    forms = {key: canonical(key) or key for key in keys}
    wanted = canonical(name) or name.strip()
    _, _, wanted_path = wanted.partition(" ")
    same_path = [k for k in keys if forms[k].partition(" ")[2] == wanted_path]
    by_form: dict[str, list[str]] = {}
    for key in keys:
        by_form.setdefault(forms[key], []).append(key)
    alike = difflib.get_close_matches(wanted, list(by_form), n=n, cutoff=0.6)
    out: list[str] = []
    for key in [*same_path, *(k for form in alike for k in by_form[form])]:
        if key not in out:
            out.append(key)
    return out[:n]
