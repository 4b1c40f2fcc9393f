"""Request bodies: which media type to send and its exact bytes (as text).

The body type is the first the operation accepts in this order (JSON first):
``application/json``, ``*/*+json``, ``application/x-www-form-urlencoded``,
``multipart/form-data``, ``text/plain``, XML (``application/xml``,
``text/xml``, ``*/*+xml``), ``application/octet-stream``, then the ranges
``*/*`` and ``application/*`` (sent as JSON) and ``text/*`` (sent as
``text/plain``). A type whose value cannot be rendered (say a free-form object
as multipart) yields to the next; when none renders, :class:`Unsendable` says
why for each. Media-type parameters (``; charset=utf-8``) are kept in the
Content-Type sent.

- JSON: compact, integers with every digit (RFC 8259 puts no bound on them).
- ``application/x-www-form-urlencoded`` (OpenAPI 3.1 "Encoding Object" and
  "Support for x-www-form-urlencoded Request Bodies": without an encoding the
  Encoding Object's defaults apply, ``style: form``, ``explode: true``;
  Appendix E): each property is serialised like a query parameter of its
  style, so a primitive is ``name=value``, an object its own ``k=v`` pairs and
  an array repeated ``name=a&name=b``. Only an encoding's ``contentType``
  (without ``style``/``explode``/``allowReserved``) sends the whole property as
  that content (JSON text for ``application/json``). Objects or arrays inside
  them are refused except with ``deepObject`` (form style leaves them
  undefined). Percent-encoded per RFC 3986 (a space is ``%20``, ``+`` is ``%2B``).
- ``multipart/form-data`` (RFC 7578): one part per property, arrays as
  repeated parts; ``format: binary`` or ``contentMediaType`` properties as
  file parts with a filename and their content type (``application/octet-stream``
  unless the encoding or ``contentMediaType`` says otherwise); objects as
  ``application/json`` parts; an encoding's ``contentType`` wins. At least one
  part (RFC 2046 §5.1.1): a free-form object with no properties yields none.
- ``text/plain``: a primitive's text. Objects and arrays are refused.
- XML: a flat object of primitives (and arrays of primitives) under the root
  element named by the schema's ``xml.name``, honouring ``xml.name``,
  ``attribute``, ``wrapped``, ``prefix`` and ``namespace`` (OpenAPI 3.1 "XML
  Object"); nested objects are refused.
- ``application/octet-stream``: the value's text as UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from plog_ci.loadgen.serialize import STYLES_IN, Style, Unsendable, encode, query_pairs, scalar_text
from plog_ci.openapi.model import Encoding, JsonSchema, MediaType, RequestBody

_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Body:
    content_type: str  # the Content-Type header, boundary included
    text: str  # the body, sent as UTF-8


def base_type(media_type: str) -> str:
    return media_type.split(";")[0].strip().lower()


def kind_of(media_type: str) -> tuple[int, str, str] | None:
    """(preference rank, renderer, Content-Type to send) for a media type, or None."""
    base = base_type(media_type)
    if base == "application/json":
        return 0, "json", media_type
    if base.endswith("+json"):
        return 1, "json", media_type
    if base == "application/x-www-form-urlencoded":
        return 2, "form", media_type
    if base == "multipart/form-data":
        return 3, "multipart", "multipart/form-data"
    if base == "text/plain":
        return 4, "text", media_type
    if base in ("application/xml", "text/xml") or base.endswith("+xml"):
        return 5, "xml", media_type
    if base == "application/octet-stream":
        return 6, "binary", media_type
    if base in ("*/*", "application/*"):
        return 7, "json", "application/json"
    if base == "text/*":
        return 8, "text", "text/plain"
    return None


def choose(
    body: RequestBody | None,
    value_for: Callable[[MediaType], Any],
    override: tuple[Any] | None,
    notes: list[str],
) -> Body | None:
    """The body to send, or None.

    ``override`` is ``(value,)`` when plog.yml (or a data-file row) gives the
    body. An optional body that cannot be rendered is left out and the reasons
    go to ``notes``; a required one (or an override) raises :class:`Unsendable`.
    """
    content = body.content if body else {}
    if not content:
        if override is None:
            return None
        return render("json", MediaType("application/json"), override[0], "application/json")
    ranked = sorted(
        ((kind, media) for media in content.values() if (kind := kind_of(media.media_type))),
        key=lambda pair: pair[0][0],
    )
    reasons = [
        f"{media.media_type} bodies are not generated"
        for media in content.values()
        if kind_of(media.media_type) is None
    ]
    for (_, renderer, send_as), media in ranked:
        value = override[0] if override is not None else value_for(media)
        try:
            return render(renderer, media, value, send_as)
        except Unsendable as exc:
            reasons.append(str(exc))
    why = "; ".join(reasons) or "no media type"
    if override is not None or (body is not None and body.required):
        raise Unsendable(f"request body: {why}")
    notes.append(f"optional request body left out: {why}")
    return None


def render(renderer: str, media: MediaType, value: Any, content_type: str) -> Body:
    """``value`` as a ``media`` body; raises :class:`Unsendable` when it cannot be."""
    if renderer == "json":
        return Body(content_type, _json(value, content_type))
    if renderer == "form":
        return Body(content_type, _form(media, value))
    if renderer == "multipart":
        return _multipart(media, value)
    if renderer == "xml":
        return Body(content_type, _xml(media.schema or {}, value, content_type))
    if renderer in ("text", "binary"):
        if isinstance(value, (dict, list)):
            raise Unsendable(f"{content_type}: the value is an object or array, not text")
        return Body(content_type, scalar_text(value, content_type))
    raise Unsendable(f"{content_type}: no renderer {renderer!r}")


def _json(value: Any, where: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise Unsendable(f"{where}: the value holds a number JSON cannot carry") from None


def _properties(schema: JsonSchema | None, depth: int = 0) -> dict[str, JsonSchema]:
    """Property schemas of an object schema, ``allOf`` parts merged."""
    if not isinstance(schema, dict) or depth > 8:
        return {}
    props = schema.get("properties")
    out = {k: v for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else {}
    for part in schema.get("allOf") or []:
        out.update(_properties(part, depth + 1))
    return out


def _is_json(content_type: str | None) -> bool:
    base = base_type(content_type or "")
    return base == "application/json" or base.endswith("+json")


def _style_based(enc: Encoding | None) -> bool:
    return enc is not None and (
        enc.style is not None or enc.explode is not None or enc.allow_reserved
    )


def _form(media: MediaType, value: Any) -> str:
    """An ``application/x-www-form-urlencoded`` body (see the module doc for the rules)."""
    where = "application/x-www-form-urlencoded"
    if not isinstance(value, dict):
        raise Unsendable(f"{where}: the value is not an object")
    items: list[str] = []
    for name, sub in value.items():
        name = str(name)
        enc = media.encoding.get(name)
        if enc is not None and enc.content_type and not _style_based(enc):
            # Encoding by content type: the whole value as that media type's text.
            if _is_json(enc.content_type) or isinstance(sub, (dict, list)):
                text = _json(sub, f"{where}: property {name!r}")
            else:
                text = scalar_text(sub, f"{where}: property {name!r}")
            items.append(f"{encode(name)}={encode(text)}")
            continue
        # The Encoding Object's defaults otherwise: style form, explode true.
        style = (enc.style if enc is not None else None) or "form"
        if style not in STYLES_IN["query"]:
            raise Unsendable(f"{where}: property {name!r}: style {style!r} is not for forms")
        given = enc.explode if enc is not None else None
        explode = given if given is not None else style in ("form", "deepObject")
        reserved = enc.allow_reserved if enc is not None else False
        if style != "deepObject" and _nested(sub):
            raise Unsendable(
                f"{where}: property {name!r} holds a nested object or array, which style "
                f"{style!r} does not define (OpenAPI 3.1 'Style Values'); give it an encoding "
                "(contentType: application/json, or style: deepObject) or the body in plog.yml"
            )
        items += query_pairs(Style(name, "body", style, explode, reserved), sub)
    return "&".join(items)


def _nested(value: Any) -> bool:
    """Whether an object or array holds an object or array (form style cannot write it)."""
    inner = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return any(isinstance(v, (dict, list)) for v in inner)


def _binary(schema: JsonSchema) -> bool:
    return schema.get("format") == "binary" or isinstance(schema.get("contentMediaType"), str)


def _quoted(text: str) -> str:
    """A part header's quoted-string, as browsers write it (WHATWG, RFC 7578 §4.2)."""
    return '"' + text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22") + '"'


def _multipart(media: MediaType, value: Any) -> Body:
    where = "multipart/form-data"
    if not isinstance(value, dict):
        raise Unsendable(f"{where}: the value is not an object")
    props = _properties(media.schema)
    parts: list[tuple[list[str], str]] = []
    for name, sub in value.items():
        name = str(name)
        schema = props.get(name, {})
        enc = media.encoding.get(name)
        items = sub if isinstance(sub, list) else [sub]
        item_schema = schema.get("items") if isinstance(sub, list) else schema
        item_schema = item_schema if isinstance(item_schema, dict) else {}
        for item in items:
            given = enc.content_type.split(",")[0].strip() if enc and enc.content_type else None
            headers = [f"Content-Disposition: form-data; name={_quoted(name)}"]
            if _binary(item_schema):
                content_type = given or str(item_schema.get("contentMediaType") or "")
                content_type = content_type or "application/octet-stream"
                extension = mimetypes.guess_extension(base_type(content_type)) or ".bin"
                headers[0] += f"; filename={_quoted(name + extension)}"
                headers.append(f"Content-Type: {content_type}")
                if isinstance(item, (dict, list)):
                    raise Unsendable(f"{where}: file part {name!r} holds an object or array")
                text = scalar_text(item, f"{where}: part {name!r}")
            elif isinstance(item, (dict, list)) or _is_json(given):
                headers.append(f"Content-Type: {given or 'application/json'}")
                text = _json(item, f"{where}: part {name!r}")
            else:
                if given:
                    headers.append(f"Content-Type: {given}")
                text = scalar_text(item, f"{where}: part {name!r}")
            if any("\r" in h or "\n" in h for h in headers):
                raise Unsendable(f"{where}: part {name!r}: a content type with line breaks")
            parts.append((headers, text))
    if not parts:
        raise Unsendable(
            f"{where}: the schema yields no part (a free-form object with no properties?)"
        )
    seed = hashlib.sha256("\0".join(t for _, t in parts).encode("utf-8")).hexdigest()
    boundary = f"plog-{seed[:24]}"
    while any(boundary in text for _, text in parts):
        boundary += "x"
    chunks = [
        f"--{boundary}\r\n" + "\r\n".join(headers) + f"\r\n\r\n{text}\r\n"
        for headers, text in parts
    ]
    return Body(
        f"multipart/form-data; boundary={boundary}", "".join(chunks) + f"--{boundary}--\r\n"
    )


def _xml_name(schema: JsonSchema, default: str, where: str) -> tuple[str, str]:
    """(qualified element name, namespace declaration or "")."""
    xml = schema.get("xml") if isinstance(schema.get("xml"), dict) else {}
    assert isinstance(xml, dict)
    name = str(xml.get("name") or default)
    prefix = xml.get("prefix")
    namespace = xml.get("namespace")
    for part in (name, prefix) if isinstance(prefix, str) else (name,):
        if not _XML_NAME.match(part):
            raise Unsendable(f"{where}: {part!r} is not an XML name")
    qualified = f"{prefix}:{name}" if isinstance(prefix, str) else name
    declaration = ""
    if isinstance(namespace, str):
        attr = f"xmlns:{prefix}" if isinstance(prefix, str) else "xmlns"
        declaration = f" {attr}={quoteattr(namespace)}"
    return qualified, declaration


def _xml_text(value: Any, where: str) -> str:
    text = scalar_text(value, where)
    if _XML_BAD.search(text):
        raise Unsendable(f"{where}: the value holds characters XML 1.0 cannot carry")
    return escape(text)


def _xml(schema: JsonSchema, value: Any, where: str) -> str:
    root_xml = schema.get("xml")
    if not isinstance(root_xml, dict) or not root_xml.get("name"):
        raise Unsendable(f"{where}: the schema names no root element (xml.name)")
    if not isinstance(value, dict):
        raise Unsendable(f"{where}: only a flat object can be written as XML")
    root, root_ns = _xml_name(schema, "", where)
    props = _properties(schema)
    attributes: list[str] = [root_ns] if root_ns else []
    children: list[str] = []
    for key, sub in value.items():
        prop = props.get(str(key), {})
        name, ns = _xml_name(prop, str(key), where)
        xml = prop.get("xml") if isinstance(prop.get("xml"), dict) else {}
        assert isinstance(xml, dict)
        if xml.get("attribute") is True:
            attributes.append(f" {name}={quoteattr(scalar_text(sub, where))}")
        elif isinstance(sub, list):
            items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
            assert isinstance(items, dict)
            item_name, item_ns = _xml_name(items, str(xml.get("name") or key), where)
            inner = "".join(
                f"<{item_name}{item_ns}>{_xml_text(v, where)}</{item_name}>" for v in sub
            )
            children.append(f"<{name}{ns}>{inner}</{name}>" if xml.get("wrapped") else inner)
        elif isinstance(sub, dict):
            raise Unsendable(f"{where}: property {key!r} is an object (only flat XML is written)")
        else:
            children.append(f"<{name}{ns}>{_xml_text(sub, where)}</{name}>")
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    return f"{head}<{root}{''.join(attributes)}>{''.join(children)}</{root}>"
