"""Whether a value is one an OpenAPI schema accepts, checked with ``jsonschema``.

Dialects (what :func:`errors` validates with):

- ``"3.0"`` (Swagger 2.0 and OpenAPI 3.0): JSON Schema Draft 4 (boolean
  ``exclusiveMinimum``/``exclusiveMaximum``), plus ``nullable: true`` (and
  Swagger's ``x-nullable``) letting ``null`` pass ``type`` (OpenAPI 3.0.3,
  Schema Object, "nullable"), also beside ``allOf``/``anyOf``/``oneOf`` (the
  generators' idiom for a nullable ``$ref``).
- ``"3.1"``: JSON Schema 2020-12 (OpenAPI 3.1, section 4.8.24).
- ``"any"`` (generation, where the version is not known): 2020-12 with
  ``nullable`` and the boolean exclusive bounds of 3.0 read as 3.0 does. A value
  valid here is valid under the other two for a schema either version allows.

OpenAPI-only keywords: ``readOnly`` properties are not required in a request
and are an error when present in one; ``writeOnly`` the same for responses
(OpenAPI 3.0.3, Schema Object, "readOnly"/"writeOnly"). ``discriminator``,
``xml``, ``example`` are annotations. ``format`` is checked for ``int32``,
``int64`` (ranges), ``uri`` and ``uri-reference`` (RFC 3986: an absolute URI has
a scheme, section 3; both hold only URI characters and ``%XX`` escapes, section
2), and the formats jsonschema's checker knows (``date-time``, ``date``,
``email``, ``ipv4``, ``uuid``, ...). A spec's example ``Url: myUrl`` for a
``format: uri`` field is thus not sent (validators such as Prism's reject it).

A numeric keyword whose value is unusable (:func:`keyword_problem`: ``minimum:
"1e400"``, ``multipleOf: 0``, ``minLength: -1``) is passed over, not raised on.

``pattern`` is read as ECMA-262 (see :func:`plog_ci.loadgen.pattern.to_python`);
a pattern Python cannot compile is not checked.

A recursion marker the loader leaves (``{"$ref": "#/...", "x-plog-recursive":
true}``) resolves against ``root`` (the resolved document, ``Spec.raw``); without
a root, or when the pointer is not in it (a multi-file spec), it accepts anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import cache
from typing import Any, Literal

from plog_ci.loadgen.pattern import compiled

Dialect = Literal["3.0", "3.1", "any"]
# JSON Schema 2020-12 validation 6.2 (numbers) and 6.3-6.5 (counts: "MUST be a
# non-negative integer"); 6.2.1 multipleOf "MUST be strictly greater than 0".
NUMBER_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
COUNT_KEYWORDS = (
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
)
_ROOT: ContextVar[dict[str, Any] | None] = ContextVar("plog_validity_root", default=None)
# RFC 3986 section 2: unreserved, reserved (gen-delims, sub-delims) and "%" of pct-encoded.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")  # RFC 3986 section 3.1
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def dialect_of(version: str) -> Dialect:
    """``"2.0"`` and ``"3.0.x"`` → ``"3.0"``; ``"3.1.x"`` → ``"3.1"``."""
    return "3.1" if version.startswith("3.1") else "3.0"


def non_finite(value: Any, where: str = "") -> str | None:
    """JSON pointer of the first ``inf``/``nan`` inside ``value`` (JSON cannot carry them)."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return at
        if isinstance(node, dict):
            stack.extend((v, f"{at}/{_escape(str(k))}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{at}/{i}") for i, v in enumerate(node))
    return None


def keyword_problem(key: str, value: Any) -> str | None:
    """What the numeric keyword ``key`` needs that ``value`` is not, or None when usable.

    ``"a number"`` (a finite JSON number; OpenAPI 3.0's boolean
    ``exclusiveMinimum``/``exclusiveMaximum`` pass), ``"a number > 0"``
    (``multipleOf``) or ``"an integer ≥ 0"`` (lengths and counts; ``2.0`` passes).
    Other keywords: None. A YAML 1.1 reader gives ``1e400`` as the string "1e400".
    """
    if key in NUMBER_KEYWORDS:
        if isinstance(value, bool):
            return None if key.startswith("exclusive") else "a number"
        if not isinstance(value, int | float) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            return "a number"
        return "a number > 0" if key == "multipleOf" and value <= 0 else None
    if key in COUNT_KEYWORDS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "an integer ≥ 0"
        if isinstance(value, float) and not value.is_integer():
            return "an integer ≥ 0"
        return "an integer ≥ 0" if value < 0 else None
    return None


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def pointer_get(root: Any, ref: str) -> Any:
    """The node ``ref`` (``#/a/b``) names in ``root``, or None."""
    if not ref.startswith("#"):
        return None
    node = root
    for raw in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


Keyword = Callable[[Any, Any, Any, dict[str, Any]], Iterator[Any]]


@cache
def _validator_class(dialect: Dialect, request: bool) -> Any:
    from jsonschema import Draft4Validator, Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    base: Any = Draft4Validator if dialect == "3.0" else Draft202012Validator
    kw: dict[str, Keyword] = dict(base.VALIDATORS)
    hidden = "readOnly" if request else "writeOnly"

    def nullable_type(v: Any, types: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
        if instance is None and dialect != "3.1":
            if schema.get("nullable") is True or schema.get("x-nullable") is True:
                return
        yield from kw["type"](v, types, instance, schema)

    def nullable_combined(key: str) -> Keyword:
        """``nullable: true`` beside ``allOf``/``anyOf``/``oneOf`` lets ``null`` through.

        The idiom of 3.0 generators (Swashbuckle, NSwag) for a nullable reference,
        ``{nullable: true, allOf: [{$ref: ...}]}``; OpenAPI 3.0.3 ties ``nullable``
        to ``type`` only, which would make the idiom mean nothing.
        """

        def run(v: Any, parts: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
            if instance is None and dialect != "3.1":
                if schema.get("nullable") is True or schema.get("x-nullable") is True:
                    return
            yield from kw[key](v, parts, instance, schema)

        return run

    def required(v: Any, names: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
        props = schema.get("properties")
        if isinstance(props, dict) and isinstance(names, list):
            names = [
                n
                for n in names
                if not (isinstance(props.get(n), dict) and props[n].get(hidden) is True)
            ]
        yield from kw["required"](v, names, instance, schema)

    def hidden_kw(v: Any, flag: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
        if flag is True:
            side = "request" if request else "response"
            yield ValidationError(f"a {hidden} value is present in a {side}")

    def ref(v: Any, target: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
        if not isinstance(target, str):
            return
        node = pointer_get(_ROOT.get(), target)
        if isinstance(node, dict | bool):
            yield from v.descend(instance, node)

    def pattern(v: Any, text: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
        if not isinstance(text, str) or not v.is_type(instance, "string"):
            return
        regex = compiled(text)  # ECMA-262 spellings rewritten; unreadable ones are not checked
        if regex is not None and not regex.search(instance):
            yield ValidationError(f"{_short(instance)} does not match {text!r}")

    def exclusive(bound: str, strict: Callable[[Any, Any], bool]) -> Keyword:
        def check(v: Any, limit: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
            if not v.is_type(instance, "number"):
                return
            if isinstance(limit, bool):  # OpenAPI 3.0 spelling next to minimum/maximum
                other = schema.get(bound)
                if not limit or isinstance(other, bool) or not isinstance(other, int | float):
                    return
                limit = other
            if not isinstance(limit, int | float):
                return
            if strict(instance, limit):
                yield ValidationError(f"{instance!r} is not beyond the exclusive bound {limit!r}")

        return check

    extra: dict[str, Keyword] = {
        "type": nullable_type,
        "required": required,
        hidden: hidden_kw,
        "$ref": ref,
        "pattern": pattern,
        "allOf": nullable_combined("allOf"),
        "anyOf": nullable_combined("anyOf"),
        "oneOf": nullable_combined("oneOf"),
    }
    if dialect == "any":
        extra["exclusiveMinimum"] = exclusive("minimum", lambda x, lim: x <= lim)
        extra["exclusiveMaximum"] = exclusive("maximum", lambda x, lim: x >= lim)

    def usable(key: str, check: Keyword) -> Keyword:
        """``check`` that passes over an unusable keyword value (values.py warns of it)."""

        def run(v: Any, limit: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
            if keyword_problem(key, limit) is not None:
                return
            flag = {"minimum": "exclusiveMinimum", "maximum": "exclusiveMaximum"}.get(key)
            if flag in schema and keyword_problem(flag, schema[flag]) is not None:
                schema = {k: val for k, val in schema.items() if k != flag}  # Draft 4 reads it
            yield from check(v, limit, instance, schema)

        return run

    for key in (*NUMBER_KEYWORDS, *COUNT_KEYWORDS):
        check = extra.get(key, kw.get(key))
        if check is not None:
            extra[key] = usable(key, check)
    return validators.extend(base, extra)  # type: ignore[no-untyped-call]


@cache
def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker()

    def ranged(low: int, high: int) -> Callable[[Any], bool]:
        def check(instance: Any) -> bool:
            if isinstance(instance, bool) or not isinstance(instance, int):
                return True
            return low <= instance <= high

        return check

    checker.checks("int32")(ranged(*INT32))
    checker.checks("int64")(ranged(*INT64))
    checker.checks("uri")(lambda v: not isinstance(v, str) or is_uri(v, absolute=True))
    checker.checks("uri-reference")(lambda v: not isinstance(v, str) or is_uri(v, absolute=False))
    return checker


def is_uri(text: str, *, absolute: bool) -> bool:
    """RFC 3986: only URI characters and well-formed ``%XX`` escapes (section 2); with
    ``absolute``, a scheme first (section 3: ``https://example.com/``, ``mailto:a@b``),
    else a URI or a relative reference (section 4.1: ``/pets?x=1``)."""
    if not _URI_CHARS.fullmatch(text) or _BAD_ESCAPE.search(text):
        return False
    return not absolute or _SCHEME.match(text) is not None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def errors(
    value: Any,
    schema: Any,
    *,
    dialect: Dialect = "any",
    request: bool = True,
    root: dict[str, Any] | None = None,
    limit: int = 5,
) -> list[str]:
    """Why ``schema`` rejects ``value``: ``"/json/pointer: message"`` lines, at most ``limit``.

    An empty list means valid. A schema jsonschema cannot use (a hostile or
    broken spec) is reported as one error, not raised.
    """
    if schema is None or schema is True or schema == {}:
        return []
    cls = _validator_class(dialect, request)
    token = _ROOT.set(root)
    try:
        validator = cls(schema, format_checker=_format_checker())
        out: list[str] = []
        for error in validator.iter_errors(value):
            where = "".join(f"/{_escape(str(p))}" for p in error.absolute_path) or "/"
            message = error.message
            if len(message) > 200:
                message = message[:197] + "..."
            out.append(f"{where}: {message}")
            if len(out) >= limit:
                break
        return out
    except (
        RecursionError,
        TypeError,
        ValueError,
        ArithmeticError,
        AttributeError,
        KeyError,
        re.error,
    ) as exc:
        return [f"/: the schema cannot be checked ({type(exc).__name__}: {_short(exc)})"]
    finally:
        _ROOT.reset(token)


def is_valid(
    value: Any,
    schema: Any,
    *,
    dialect: Dialect = "any",
    request: bool = True,
    root: dict[str, Any] | None = None,
) -> bool:
    return not errors(value, schema, dialect=dialect, request=request, root=root, limit=1)


def id_check(schema: Any) -> dict[str, Any]:
    """What a path parameter's schema asks of an id read from a producer's response, in
    a form the k6 script can test: ``type`` (``integer``, ``number`` or ``string``),
    the bounds (OpenAPI 3.0's boolean ``exclusiveMinimum: true`` becomes the 2020-12
    number form), ``minLength``/``maxLength``, ``pattern`` (ECMA-262, as written) and
    ``enum``. Unusable keyword values (:func:`keyword_problem`) are left out; {} asks
    nothing. A mock such as Prism's answers ``id: -9007199254740991`` for ``{type:
    integer}``: sent to ``GET /pets/{petId}`` (``minimum: 1``) it is rejected, where the
    generated value would have been accepted."""
    if not isinstance(schema, dict):
        return {}
    out: dict[str, Any] = {}
    types = schema.get("type")
    for name in [types] if isinstance(types, str) else types if isinstance(types, list) else []:
        if name in ("integer", "number", "string"):
            out["type"] = name
            break
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        value = schema.get(key)
        if value is None or keyword_problem(key, value) is not None or value is False:
            continue
        if value is True:  # 3.0: the bound beside it is exclusive
            bound = schema.get(key.replace("exclusiveM", "m"))
            if keyword_problem("minimum", bound) is None and not isinstance(bound, bool):
                out[key] = bound
            continue
        if key in ("minimum", "maximum") and schema.get("exclusive" + key.title()) is True:
            continue
        out[key] = value
    for key in ("minLength", "maxLength"):
        if key in schema and keyword_problem(key, schema[key]) is None:
            out[key] = int(schema[key])
    if isinstance(schema.get("pattern"), str) and compiled(schema["pattern"]) is not None:
        out["pattern"] = schema["pattern"]
    if isinstance(schema.get("enum"), list):
        out["enum"] = [v for v in schema["enum"] if isinstance(v, str | int | float)]
    return out
