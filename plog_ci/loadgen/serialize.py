"""Parameter values → the text on the wire, for every OpenAPI parameter style.

Rules (OpenAPI 3.1.1 §4.8.12.4 "Style Values" and "Style Examples", RFC 6570
§3.2.2 simple, §3.2.5 label, §3.2.7 matrix, §3.2.8 form; OpenAPI 2.0
``collectionFormat``)::

    style (in)             explode  [blue, black]            {R: 100, G: 200}
    simple (path, header)  false    blue,black               R,100,G,200
    simple                 true     blue,black               R=100,G=200
    label (path)           false    .blue,black              .R,100,G,200
    label                  true     .blue.black              .R=100.G=200
    matrix (path)          false    ;color=blue,black        ;color=R,100,G,200
    matrix                 true     ;color=blue;color=black  ;R=100;G=200
    form (query, cookie)   false    color=blue,black         color=R,100,G,200
    form                   true     color=blue&color=black   R=100&G=200
    spaceDelimited (query) false    color=blue%20black       color=R%20100%20G%20200
    pipeDelimited (query)  false    color=blue%7Cblack       color=R%7C100%7CG%7C200
    deepObject (query)     true     color%5B0%5D=blue...     color%5BR%5D=100&color%5BG%5D=200

A primitive is ``blue``, ``.blue``, ``;color=blue`` or ``color=blue``.
Defaults: ``form`` for query and cookie, ``simple`` for path and header; explode
is true for ``form`` and false otherwise (a ``deepObject`` without ``explode``
is taken as exploded: the false combination is undefined). Label's
non-exploded arrays use ``,`` as in RFC 6570 and OpenAPI 3.1.1 (3.0.x's table
showed ``.blue.black.brown``). Swagger 2.0 ``collectionFormat``: ``csv`` is
``form``/``simple`` not exploded, ``multi`` is ``form`` exploded, ``ssv`` is
``spaceDelimited``, ``pipes`` is ``pipeDelimited`` and ``tsv`` joins with
``%09``; an array without one is ``csv`` (Swagger 2.0 "Parameter Object").

Percent-encoding (RFC 3986 §2): in the path and query everything but the
unreserved characters is encoded, delimiters stay literal (``,`` ``=`` ``;``
``.`` ``&``), and the delimiters RFC 3986 does not allow in a query (space,
``|``, ``[``, ``]``) are always encoded. ``allowReserved`` (query only) lets
the reserved characters and existing ``%XX`` triples through, except ``[ ] #``
and the form delimiters ``& = +`` (OpenAPI 3.1.1 Appendix C and E). Header
values are not percent-encoded (HTTP field values are not URIs); cookie values
keep the RFC 6265 cookie-octets and encode the rest, and several cookies go in
one ``Cookie`` header (form style for cookies is implementation-defined,
OpenAPI 3.1.1 Appendix D).

``deepObject`` beyond an object of primitives is undefined by the spec; real
specs (Stripe's, for every form property) use it for arrays, primitives and
nested objects, so PLog follows the convention of the ``qs`` library (Stripe's
and Rails's too): nested objects as ``name[a][b]=v``, arrays as
``name[0]=v&name[1]=w``, a primitive as ``name=v``.

A value a style cannot carry (an object inside an array for ``form``,
``spaceDelimited`` with ``explode: true``, ``deepObject`` with ``explode:
false``, a style not defined for the location) raises
:class:`Unsendable` with the reason: the caller leaves the parameter out or
skips the operation, and says so.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from plog_ci.openapi.model import Parameter

DEFAULT_STYLE = {"query": "form", "cookie": "form", "path": "simple", "header": "simple"}
STYLES_IN = {
    "path": ("simple", "label", "matrix"),
    "query": ("form", "spaceDelimited", "pipeDelimited", "deepObject", "tabDelimited"),
    "header": ("simple",),
    "cookie": ("form",),
}
# Swagger 2.0 collectionFormat → (style, explode); path and header csv is simple.
COLLECTION_FORMATS = {
    "csv": ("form", False),
    "multi": ("form", True),
    "ssv": ("spaceDelimited", False),
    "tsv": ("tabDelimited", False),
    "pipes": ("pipeDelimited", False),
}
_DELIMITED = {"spaceDelimited": "%20", "pipeDelimited": "%7C", "tabDelimited": "%09"}
# RFC 3986 reserved characters that allowReserved lets through: all but [ ] # and & = +.
_RESERVED_OK = ":/?@!$'()*,;"
_TRIPLE = re.compile(r"(%[0-9A-Fa-f]{2})")
# RFC 6265 §4.1.1 cookie-octet, less '%' (which starts an encoded byte).
_COOKIE_SAFE = "".join(
    chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\%' and not chr(c).isalnum()
)
_HEADER_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Unsendable(ValueError):
    """What PLog cannot put on the wire as the spec asks; the message says what and why."""


@dataclass(frozen=True)
class Style:
    """How one parameter (or form-body property) is serialised."""

    name: str
    location: str  # path | query | header | cookie | body (a form body's property)
    style: str
    explode: bool
    allow_reserved: bool = False


def style_of(param: Parameter) -> Style:
    """The effective style of ``param``, defaults and Swagger 2.0 collectionFormat applied.

    Raises :class:`Unsendable` for a style not defined for the parameter's location.
    """
    location = param.location
    if location not in DEFAULT_STYLE:
        raise Unsendable(f"parameter {param.name!r}: unknown location {location!r}")
    fmt = param.collection_format
    if fmt is not None:
        if fmt not in COLLECTION_FORMATS:
            raise Unsendable(f"{location} parameter {param.name!r}: collectionFormat {fmt!r}")
        style, explode = COLLECTION_FORMATS[fmt]
        if location in ("path", "header"):
            if fmt != "csv":
                raise Unsendable(
                    f"{location} parameter {param.name!r}: collectionFormat {fmt!r} is only "
                    "defined for query and formData parameters"
                )
            style = "simple"
        return Style(param.name, location, style, explode, param.allow_reserved)
    style = param.style or DEFAULT_STYLE[location]
    if style not in STYLES_IN[location] or style == "tabDelimited":
        raise Unsendable(
            f"{location} parameter {param.name!r}: style {style!r} is not defined for "
            f"{location} parameters (OpenAPI 3.1 'Style Values': "
            f"{', '.join(s for s in STYLES_IN[location] if s != 'tabDelimited')})"
        )
    given = param.explode
    explode = given if isinstance(given, bool) else style in ("form", "deepObject")
    return Style(param.name, location, style, explode, param.allow_reserved)


def scalar_text(value: Any, where: str) -> str:
    """A primitive as text: ``true``/``false``, integers with every digit, JSON numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unsendable(f"{where}: {value!r} is not a finite number")
        return json.dumps(value)
    if isinstance(value, str):
        return value
    raise Unsendable(f"{where}: a nested {_kind(value)} cannot be serialised in this style")


def _kind(value: Any) -> str:
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "value"


def encode(text: str, allow_reserved: bool = False) -> str:
    """RFC 3986 percent-encoding of UTF-8 ``text``: unreserved characters stay.

    With ``allow_reserved`` (RFC 6570 reserved expansion, as OpenAPI 3.1.1 restricts
    it for queries) the reserved characters but ``[ ] # & = +`` stay, and so do
    existing ``%XX`` triples.
    """
    if not allow_reserved:
        return quote(text, safe="")
    parts = _TRIPLE.split(text)
    return "".join(p if _TRIPLE.fullmatch(p) else quote(p, safe=_RESERVED_OK) for p in parts)


def _items(value: Any, where: str) -> list[str]:
    return [scalar_text(v, where) for v in value]


def _pairs(value: dict[Any, Any], where: str) -> list[tuple[str, str]]:
    return [(str(k), scalar_text(v, where)) for k, v in value.items()]


def path_value(style: Style, value: Any) -> str:
    """The text that replaces ``{name}`` in the path (percent-encoded)."""
    where = f"path parameter {style.name!r}"
    enc = encode
    name = enc(style.name)
    if isinstance(value, list):
        items = [enc(v) for v in _items(value, where)]
        if not items:
            return ""
        if style.style == "simple":
            return ",".join(items)
        if style.style == "label":
            return "." + ("." if style.explode else ",").join(items)
        if style.explode:
            return "".join(f";{name}={v}" for v in items)
        return f";{name}=" + ",".join(items)
    if isinstance(value, dict):
        pairs = [(enc(k), enc(v)) for k, v in _pairs(value, where)]
        if not pairs:
            return ""
        flat = ",".join(f"{k},{v}" for k, v in pairs)
        if style.style == "simple":
            return ",".join(f"{k}={v}" for k, v in pairs) if style.explode else flat
        if style.style == "label":
            return "." + ".".join(f"{k}={v}" for k, v in pairs) if style.explode else "." + flat
        if style.explode:
            return "".join(f";{k}={v}" for k, v in pairs)
        return f";{name}={flat}"
    return path_prefix(style, value == "") + enc(scalar_text(value, where))


def path_prefix(style: Style, empty: bool = False) -> str:
    """What comes before a primitive's encoded text: ``""``, ``"."`` or ``";name="``
    (``";name"`` for the empty string, RFC 6570 §3.2.7)."""
    if style.style == "label":
        return "."
    if style.style == "matrix":
        return f";{encode(style.name)}" + ("" if empty else "=")
    return ""


def query_pairs(style: Style, value: Any) -> list[str]:
    """``name=value`` items of the query string (percent-encoded, joined by ``&``)."""
    kind = "form property" if style.location == "body" else "query parameter"
    where = f"{kind} {style.name!r}"
    name = encode(style.name)

    def enc(text: str) -> str:
        return encode(text, style.allow_reserved)

    if style.style == "deepObject":
        if not style.explode:
            raise Unsendable(
                f"{where}: deepObject with explode: false is undefined "
                "(OpenAPI 3.1 'Style Examples')"
            )
        if isinstance(value, (dict, list)):
            return [f"{k}={enc(v)}" for k, v in _deep(style.name, value, where)]
        return [f"{name}={enc(scalar_text(value, where))}"]
    if isinstance(value, list):
        items = [enc(v) for v in _items(value, where)]
        if style.style in _DELIMITED:
            if style.explode:
                raise Unsendable(f"{where}: {style.style} with explode: true is undefined")
            return [f"{name}=" + _DELIMITED[style.style].join(items)] if items else []
        if style.explode:
            return [f"{name}={v}" for v in items]
        return [f"{name}=" + ",".join(items)] if items else []
    if isinstance(value, dict):
        pairs = [(enc(k), enc(v)) for k, v in _pairs(value, where)]
        if style.style in _DELIMITED:
            if style.explode:
                raise Unsendable(f"{where}: {style.style} with explode: true is undefined")
            sep = _DELIMITED[style.style]
            return [f"{name}=" + sep.join(f"{k}{sep}{v}" for k, v in pairs)] if pairs else []
        if style.explode:
            return [f"{k}={v}" for k, v in pairs]
        return [f"{name}=" + ",".join(f"{k},{v}" for k, v in pairs)] if pairs else []
    return [f"{name}={enc(scalar_text(value, where))}"]


def _deep(prefix: str, value: Any, where: str) -> list[tuple[str, str]]:
    """``filter[a][b]=v`` pairs, the names already encoded (brackets as %5B %5D)."""
    out: list[tuple[str, str]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, sub in items:
        name = f"{prefix}[{key}]"
        if isinstance(sub, (dict, list)):
            out += _deep(name, sub, where)
        else:
            out.append((encode(name), scalar_text(sub, where)))
    return out


def header_value(style: Style, value: Any) -> str:
    """The header's value (simple style, not percent-encoded).

    Raises :class:`Unsendable` for a value that holds line breaks or control characters.
    """
    where = f"header parameter {style.name!r}"
    if isinstance(value, list):
        text = ",".join(_items(value, where))
    elif isinstance(value, dict):
        pairs = _pairs(value, where)
        sep = "=" if style.explode else ","
        text = ",".join(f"{k}{sep}{v}" for k, v in pairs)
    else:
        text = scalar_text(value, where)
    if _HEADER_BAD.search(text):
        raise Unsendable(f"{where}: the value holds line breaks or control characters")
    return text


def cookie_pairs(style: Style, value: Any) -> list[tuple[str, str]]:
    """(name, value) cookies for the ``Cookie`` header (form style, values encoded)."""
    where = f"cookie parameter {style.name!r}"

    def enc(text: str) -> str:
        return quote(text, safe=_COOKIE_SAFE)

    if isinstance(value, list):
        items = [enc(v) for v in _items(value, where)]
        if style.explode:
            return [(style.name, v) for v in items]
        return [(style.name, ",".join(items))]
    if isinstance(value, dict):
        pairs = [(enc(k), enc(v)) for k, v in _pairs(value, where)]
        if style.explode:
            return pairs
        return [(style.name, ",".join(f"{k},{v}" for k, v in pairs))]
    return [(style.name, enc(scalar_text(value, where)))]


def content_text(param: Parameter, value: Any) -> str:
    """A parameter with ``content`` (one media type): its value as that media type's text."""
    media = (param.content_type or "").split(";")[0].strip().lower()
    where = f"{param.location} parameter {param.name!r}"
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise Unsendable(f"{where}: the value holds a number JSON cannot carry") from None
    if media.startswith("text/"):
        return scalar_text(value, where)
    raise Unsendable(f"{where}: content of type {param.content_type!r} cannot be generated")
