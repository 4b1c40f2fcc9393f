"""Problems in plog.yml, each placed at ``plog.yml:LINE:COL: KEY.PATH``.

``Problems`` collects them (all at once, sorted by position) and raises one
ConfigError; ``check_schema`` turns the JSON schema's complaints into plain
messages with hints (the closest known key, the accepted values).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plog_ci import yamldoc
from plog_ci.errors import ConfigError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(str(resources.files("plog_ci.config") / "schema" / "plog.schema.json"))

_ONEOF_HINTS = {
    "openapi": "give the spec's path, e.g. 'openapi: openapi.yaml', or a mapping with 'path'",
    "operations": "use 'changed', 'all', or a list like ['GET /pets', 'POST /pets']",
    "gates": "write a gate string like 'p95 < 300ms' or a mapping with 'check'",
    "setup": "write each step as a command string, or a list of arguments",
}


def _quick_check(plain: Any) -> bool:
    """True when ``plain`` matches the schema (compiled validator, first error only)."""
    from fastjsonschema import JsonSchemaException

    from plog_ci.config.schema_validator import (
        validate_https___plog_ci_dev_schema_plog_schema_json as validate,
    )

    try:
        validate(plain)  # type: ignore[no-untyped-call]
    except JsonSchemaException:
        return False
    return True


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def _key_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _subschema(path: Sequence[str | int]) -> dict[str, Any]:
    """The schema object that governs the mapping at ``path`` (for key suggestions)."""
    node = schema()
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            props = node.get("properties", {})
            extra = node.get("additionalProperties")
            # Maps keyed by free names (load.overrides) describe values in additionalProperties.
            node = props[part] if part in props or not isinstance(extra, dict) else extra
        if "$ref" in node and str(node["$ref"]).startswith("#/$defs/"):
            node = schema()["$defs"].get(str(node["$ref"]).rsplit("/", 1)[-1], node)
        if "oneOf" in node:
            node = next((b for b in node["oneOf"] if b.get("type") in ("object", "array")), node)
    return node


class Problems:
    def __init__(self, filename: str, doc: Any) -> None:
        self.filename = filename
        self.doc = doc
        self.items: list[tuple[tuple[int, int], str]] = []

    def add(
        self, path: Sequence[str | int], message: str, hint: str | None = None, at_key: bool = False
    ) -> None:
        pos = yamldoc.position(self.doc, path, at_key=at_key) or (1, 1)
        text = f"{self.filename}:{pos[0]}:{pos[1]}: {_key_path(path)}: {message}"
        if hint:
            text += f" (hint: {hint})"
        self.items.append((pos, text))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        lines = [text for _, text in sorted(self.items)]
        raise ConfigError(
            lines[0]
            if len(lines) == 1
            else f"{len(lines)} problems in {self.filename}:\n" + "\n".join(lines),
            errors=lines,
        )


def _report_schema_error(problems: Problems, error: ValidationError) -> None:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(_subschema(path).get("properties", {}))
        instance: Any = error.instance
        extra = [k for k in instance if k not in allowed]
        for key in extra:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"allowed keys here: {', '.join(allowed)}"
            )
            if path == ["influx"] and key in ("token", "password"):
                hint = (
                    f"never put secrets in plog.yml: write '{key}_env: NAME' and set the "
                    "environment variable NAME in CI"
                )
            if path == ["report", "ai"] and key in ("api_key", "key", "token"):
                hint = (
                    "never put secrets in plog.yml: write 'api_key_env: NAME' and set the "
                    "environment variable NAME where PLog runs"
                )
            problems.add([*path, key], f"unknown key '{key}'", hint, at_key=True)
        return
    if error.validator == "oneOf":
        # Report the errors of the branch whose type matches what was written.
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context or []:
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        matching = [
            errs
            for errs in branches.values()
            if not any(e.validator in ("type", "enum") and not e.relative_path for e in errs)
        ]
        if len(matching) == 1:
            for sub in matching[0]:
                _report_schema_error(problems, sub)
            return
        name = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
        problems.add(
            path, f"{json.dumps(error.instance)[:80]} is not accepted here", _ONEOF_HINTS.get(name)
        )
        return
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        desc = _subschema([*path, missing]).get("description")
        problems.add(path, f"missing required key '{missing}'", desc)
        return
    if error.validator == "enum":
        values: Any = error.validator_value
        choices = ", ".join(json.dumps(v) for v in values)
        problems.add(path, f"{json.dumps(error.instance)} is not one of {choices}")
        return
    if error.validator == "const":
        problems.add(
            path,
            f"must be {json.dumps(error.validator_value)}",
            "this PLog reads plog.yml version 1",
        )
        return
    if error.validator == "pattern" and path and "duration" in json.dumps(_subschema(path)).lower():
        problems.add(
            path,
            f"{json.dumps(error.instance)} is not a duration",
            "write e.g. 500ms, 30s, 2m or 1m30s",
        )
        return
    if error.validator == "pattern" and path and str(path[-1]).endswith("_env"):
        # The value may be a secret pasted in place of a name: never quote it.
        problems.add(
            path,
            "is not the name of an environment variable",
            "write the variable's name (letters, digits and _, e.g. MY_SERVICE_TOKEN), not its "
            "value, and set that variable where PLog runs",
        )
        return
    if error.validator == "pattern" and error.validator_value == "^[A-Za-z]+ /":
        problems.add(
            path,
            f"{json.dumps(error.instance)} is not an operation",
            "write 'METHOD /path' as in the spec, e.g. 'GET /pets/{petId}'",
        )
        return
    if error.validator in _BOUNDS:
        problems.add(
            path,
            f"{json.dumps(error.instance)} is out of range",
            f"write a number {_range_words(_subschema(path))}",
        )
        return
    if error.validator in _SIZES:
        what, unit = _SIZES[error.validator]
        size = len(error.instance) if isinstance(error.instance, str | list | dict) else 0
        # Never the value itself: a long one may be a pasted secret, and it floods the log.
        problems.add(path, f"is too {what}: {size} {unit}, at most {error.validator_value}")
        return
    if error.validator == "pattern" and error.validator_value == "^https?://":
        problems.add(
            path,
            f"{json.dumps(error.instance)[:80]} is not an http(s) URL",
            "write a URL that starts with http:// or https://",
        )
        return
    if error.validator == "type":
        string = error.validator_value == "string"
        type_hint = _flow_mapping_hint(error.instance) if string else None
        if (
            isinstance(error.instance, int | float)
            and not isinstance(error.instance, bool)
            and math.isfinite(error.instance)
            and path
            and "a duration" in json.dumps(_subschema(path)).lower()
        ):
            # `max_duration: 120`: a bare number has no unit (k6's durations need one).
            type_hint = f"a duration needs its unit: write e.g. {error.instance:g}s or 2m"
        problems.add(
            path,
            f"expected {error.validator_value}, got "
            f"{type(error.instance).__name__} {json.dumps(error.instance)[:60]}",
            type_hint,
        )
        return
    problems.add(path, error.message)


# JSON Schema's numeric bounds (draft 2020-12, section 6.2).
_BOUNDS = ("exclusiveMinimum", "minimum", "exclusiveMaximum", "maximum")
# Size bounds worth a message of their own: jsonschema's quotes the whole value.
_SIZES = {
    "maxLength": ("long", "characters"),
    "maxItems": ("long", "items"),
    "maxProperties": ("big", "keys"),
}


def _range_words(bounds: dict[str, Any]) -> str:
    """A schema's numeric bounds in words: "from 1 to 8", "above 0, at most 0.5"."""
    low = next((k for k in ("minimum", "exclusiveMinimum") if k in bounds), None)
    high = next((k for k in ("maximum", "exclusiveMaximum") if k in bounds), None)
    if low == "minimum" and high == "maximum":
        return f"from {bounds[low]:g} to {bounds[high]:g}"
    words = {"minimum": "at least", "exclusiveMinimum": "above"}
    words |= {"maximum": "at most", "exclusiveMaximum": "below"}
    return ", ".join(f"{words[k]} {bounds[k]:g}" for k in (low, high) if k is not None)


def _flow_mapping_hint(value: Any) -> str | None:
    """For ``run: {port}``: a value written as ``{name}`` is a YAML flow mapping
    (YAML 1.2 section 7.4) whose keys have no values, not the text."""
    if isinstance(value, dict) and value and all(v is None for v in value.values()):
        text = "{" + ", ".join(str(k) for k in value) + "}"
        return f"a value that starts with '{{' is a YAML mapping: quote it, e.g. \"{text}\""
    return None


def _non_finite(plain: Any, path: list[str | int], problems: Problems) -> None:
    """YAML's .nan and .inf are floats a JSON schema's bounds cannot refuse (every
    comparison with NaN is false): a problem at each, wherever it sits."""
    if isinstance(plain, float) and not math.isfinite(plain):
        problems.add(path, f"{plain} is not a number PLog can use", "write a finite number")
    elif isinstance(plain, dict):
        for key, value in plain.items():
            _non_finite(value, [*path, str(key)], problems)
    elif isinstance(plain, list):
        for index, value in enumerate(plain):
            _non_finite(value, [*path, index], problems)


def check_schema(plain: Any, problems: Problems) -> None:
    """Add every way ``plain`` breaks the schema to ``problems``."""
    _non_finite(plain, [], problems)
    if _quick_check(plain):
        return
    # Only an invalid file pays for jsonschema (~0.15 s to import), which lists
    # every problem; a valid one passes the compiled check (pre-receive stays fast).
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    for error in validator.iter_errors(plain):
        _report_schema_error(problems, error)
