"""Turn a resolved OpenAPI/Swagger document (plain dicts) into the operation model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from plog_ci.openapi import lenient
from plog_ci.openapi.model import (
    METHODS,
    Encoding,
    MediaType,
    Operation,
    Parameter,
    RequestBody,
    Response,
    SecurityScheme,
    Spec,
)


def _examples(node: dict[str, Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    if "example" in node:
        out.append(node["example"])
    examples = node.get("examples")
    if isinstance(examples, dict):
        for ex in examples.values():
            if isinstance(ex, dict) and "value" in ex:
                out.append(ex["value"])
    elif isinstance(examples, list):  # 3.1 schema-level examples
        out.extend(examples)
    return tuple(out)


def _encoding(node: Any) -> dict[str, Encoding]:
    """A media type's ``encoding`` map (OpenAPI 3.x Encoding Object); junk entries dropped."""
    if not isinstance(node, dict):
        return {}
    out = {}
    for name, enc in node.items():
        if not isinstance(enc, dict):
            continue
        content_type = enc.get("contentType")
        style = enc.get("style")
        explode = enc.get("explode")
        out[str(name)] = Encoding(
            content_type=content_type if isinstance(content_type, str) else None,
            style=style if isinstance(style, str) else None,
            explode=explode if isinstance(explode, bool) else None,
            allow_reserved=enc.get("allowReserved") is True,
        )
    return out


def _media(content: Any) -> dict[str, MediaType]:
    if not isinstance(content, dict):
        return {}
    out = {}
    for name, media in content.items():
        media = media if isinstance(media, dict) else {}
        schema = media.get("schema") if isinstance(media.get("schema"), dict) else None
        out[str(name)] = MediaType(
            str(name), schema, _examples(media), _encoding(media.get("encoding"))
        )
    return out


def _swagger2_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A Swagger 2.0 non-body parameter's schema; ``type: file`` is binary content."""
    schema = {k: v for k, v in node.items() if k in _SWAGGER2_SCHEMA_KEYS}
    if schema.get("type") == "file":
        schema = {"type": "string", "format": "binary"}
    return schema


_SWAGGER2_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "pattern",
    "minLength",
    "maxLength",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
)


def _parameter(node: dict[str, Any], swagger2: bool) -> Parameter:
    content_type: str | None = None
    collection_format: str | None = None
    content_examples: tuple[Any, ...] = ()
    if swagger2:
        schema = _swagger2_schema(node)
        if schema.get("type") == "array":  # Swagger 2.0: csv unless said otherwise
            fmt = node.get("collectionFormat", "csv")
            collection_format = str(fmt) if isinstance(fmt, str) else "csv"
    elif isinstance(node.get("content"), dict) and node["content"]:
        # OpenAPI 3.x: a parameter described by one media type instead of a schema.
        content_type, media = next(iter(_media(node["content"]).items()))
        schema = media.schema or {}
        content_examples = media.examples
    else:
        schema = node["schema"] if isinstance(node.get("schema"), dict) else {}
    examples = _examples(node) or content_examples
    if not examples and schema and "example" in schema:
        examples = (schema["example"],)
    style = node.get("style")
    explode = node.get("explode")
    return Parameter(
        name=str(node.get("name", "")),
        location=str(node.get("in", "query")),
        required=bool(node.get("required", False)) or node.get("in") == "path",
        schema=schema or None,
        deprecated=bool(node.get("deprecated", False)),
        examples=examples,
        style=style,
        explode=explode,
        allow_reserved=node.get("allowReserved") is True,
        collection_format=collection_format,
        content_type=content_type,
    )


# Swagger 2.0 formData arrays: collectionFormat as the 3.x encoding of the property.
_FORM_COLLECTIONS = {
    "csv": Encoding(style="form", explode=False),
    "multi": Encoding(style="form", explode=True),
    "ssv": Encoding(style="spaceDelimited", explode=False),
    "pipes": Encoding(style="pipeDelimited", explode=False),
    "tsv": Encoding(style="tabDelimited", explode=False),
}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _form_body(
    form: dict[str, dict[str, Any]],
    required: list[str],
    consumes: list[Any],
) -> RequestBody:
    """Swagger 2.0 ``formData`` parameters as the 3.x body they stand for.

    The media types are those of ``consumes`` that carry forms; with none,
    ``multipart/form-data`` when a parameter is a file, else
    ``application/x-www-form-urlencoded`` (Swagger 2.0 "Parameter Object").
    """
    properties = {name: _swagger2_schema(node) for name, node in form.items()}
    encoding = {}
    for name, node in form.items():
        if properties[name].get("type") == "array":
            fmt = node.get("collectionFormat", "csv")
            encoding[name] = _FORM_COLLECTIONS.get(str(fmt), _FORM_COLLECTIONS["csv"])
    has_file = any(p.get("format") == "binary" for p in properties.values())
    types = [str(c) for c in consumes if str(c).split(";")[0].strip().lower() in _FORM_TYPES]
    if not types:
        types = ["multipart/form-data" if has_file else "application/x-www-form-urlencoded"]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return RequestBody(bool(required), {c: MediaType(c, schema, (), encoding) for c in types})


def _security(node: Any) -> tuple[dict[str, tuple[str, ...]], ...]:
    if not isinstance(node, list):
        return ()
    return tuple(
        {str(k): tuple(v or ()) for k, v in req.items()} for req in node if isinstance(req, dict)
    )


def _servers(doc: dict[str, Any]) -> tuple[str, ...]:
    if doc.get("swagger"):
        host = doc.get("host")
        base = doc.get("basePath", "") or ""
        if not host:
            return (base,) if base and base != "/" else ()
        scheme = (doc.get("schemes") or ["http"])[0]
        return (f"{scheme}://{host}{base}".rstrip("/"),)
    out = []
    for server in doc.get("servers") or []:
        if isinstance(server, dict) and isinstance(server.get("url"), str):
            url = server["url"]
            for name, var in (server.get("variables") or {}).items():
                if isinstance(var, dict) and "default" in var:
                    url = url.replace("{" + name + "}", str(var["default"]))
            out.append(url.rstrip("/") if url != "/" else url)
    return tuple(out)


def _schemes(doc: dict[str, Any]) -> dict[str, SecurityScheme]:
    swagger2 = bool(doc.get("swagger"))
    raw = (
        doc.get("securityDefinitions")
        if swagger2
        else (doc.get("components") or {}).get("securitySchemes")
    ) or {}
    out = {}
    for name, node in raw.items():
        if not isinstance(node, dict):
            continue
        kind = str(node.get("type", ""))
        scheme = node.get("scheme")
        if kind == "basic":  # Swagger 2.0 spelling
            kind, scheme = "http", "basic"
        out[str(name)] = SecurityScheme(str(name), kind, scheme, node.get("in"), node.get("name"))
    return out


def build_spec(doc: dict[str, Any], source: str = "", warnings: tuple[str, ...] = ()) -> Spec:
    """Map a fully resolved document to a :class:`Spec`."""
    swagger2 = bool(doc.get("swagger"))
    version = str(doc.get("swagger") or doc.get("openapi") or "")
    global_consumes = doc.get("consumes") or ["application/json"]
    global_produces = doc.get("produces") or ["application/json"]
    operations: dict[str, Operation] = {}
    lenient_warnings: list[str] = []
    seen: set[int] = set()  # schema objects whose types were read leniently already
    for path, item in (doc.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        shared = [p for p in item.get("parameters") or [] if isinstance(p, dict)]
        path_servers = _servers({"servers": item["servers"]}) if item.get("servers") else ()
        for method in METHODS:
            node = item.get(method)
            if not isinstance(node, dict):
                continue
            own = [p for p in node.get("parameters") or [] if isinstance(p, dict)]
            merged = {(p.get("in"), p.get("name")): p for p in shared}
            merged.update({(p.get("in"), p.get("name")): p for p in own})
            params: list[Parameter] = []
            body: RequestBody | None = None
            form: dict[str, dict[str, Any]] = {}
            form_required: list[str] = []
            for p in merged.values():
                if swagger2 and p.get("in") == "body":
                    consumes = node.get("consumes") or global_consumes
                    schema = p.get("schema") if isinstance(p.get("schema"), dict) else None
                    body = RequestBody(
                        bool(p.get("required", False)),
                        {c: MediaType(c, schema, _examples(p)) for c in consumes},
                    )
                elif swagger2 and p.get("in") == "formData":
                    form[str(p.get("name"))] = p
                    if p.get("required"):
                        form_required.append(str(p.get("name")))
                else:
                    param = _parameter(p, swagger2)
                    if any(p is q for q in shared) and not any(
                        (o.get("in"), o.get("name")) == (p.get("in"), p.get("name")) for o in own
                    ):
                        param = replace(param, shared=True)
                    params.append(param)
            declared = {(p.location, p.name) for p in params}
            if form:
                consumes = node.get("consumes") or doc.get("consumes") or []
                body = _form_body(
                    form, form_required, consumes if isinstance(consumes, list) else []
                )
            if not swagger2 and isinstance(node.get("requestBody"), dict):
                rb = node["requestBody"]
                body = RequestBody(bool(rb.get("required", False)), _media(rb.get("content")))
            responses: dict[str, Response] = {}
            for status, resp in (node.get("responses") or {}).items():
                resp = resp if isinstance(resp, dict) else {}
                if swagger2:
                    produces = node.get("produces") or global_produces
                    schema = resp.get("schema") if isinstance(resp.get("schema"), dict) else None
                    content = (
                        {
                            c: MediaType(c, schema, tuple((resp.get("examples") or {}).values()))
                            for c in produces
                        }
                        if schema
                        else {}
                    )
                else:
                    content = _media(resp.get("content"))
                headers = {
                    str(h): _parameter(
                        {"name": h, "in": "header", **(v if isinstance(v, dict) else {})}, swagger2
                    )
                    for h, v in (resp.get("headers") or {}).items()
                }
                links = {
                    str(k): v for k, v in (resp.get("links") or {}).items() if isinstance(v, dict)
                }
                responses[str(status)] = Response(
                    str(status), str(resp.get("description", "")), content, headers, links
                )
            params += lenient.undeclared_path_parameters(str(path), params)
            notes = _lenient_notes(params, body, responses, declared, seen)
            lenient_warnings += [f"{method.upper()} {path}: {note}" for note in notes]
            op = Operation(
                method=method.upper(),
                path=str(path),
                operation_id=node.get("operationId"),
                summary=str(node.get("summary", "") or ""),
                tags=tuple(str(t) for t in node.get("tags") or ()),
                parameters=tuple(params),
                request_body=body,
                responses=responses,
                security=_security(node["security"]) if "security" in node else None,
                servers=_servers({"servers": node["servers"]})
                if node.get("servers")
                else path_servers,
                deprecated=bool(node.get("deprecated", False)),
                sunset=node.get("x-sunset"),
            )
            operations[op.key] = op
    info: dict[str, Any] = doc["info"] if isinstance(doc.get("info"), dict) else {}
    return Spec(
        version=version,
        title=str(info.get("title", "")),
        servers=_servers(doc),
        operations=operations,
        security=_security(doc.get("security")),
        security_schemes=_schemes(doc),
        warnings=(*warnings, *lenient_warnings),
        source=source,
        raw=doc,
    )


def _lenient_notes(
    params: list[Parameter],
    body: RequestBody | None,
    responses: dict[str, Response],
    declared: set[tuple[str, str]],
    seen: set[int],
) -> list[str]:
    """What this operation's spec says that is read leniently (``plog_ci.openapi.lenient``)."""
    notes: list[str] = []
    for param in params:
        notes += lenient.fix_types(param.schema, seen)
        # (an undeclared path parameter is said by the structural checks: openapi.checks)
        if (param.location, param.name) in declared and lenient.untyped(param):
            notes.append(f"{param.location} parameter {param.name} has no type; sent as a string")
    for media in body.content.values() if body is not None else ():
        notes += lenient.fix_types(media.schema, seen)
    for response in responses.values():
        for media in response.content.values():
            notes += lenient.fix_types(media.schema, seen)
    return notes
