"""Producer → consumer dependencies: which operation yields the id another needs.

Two sources, in order:

1. OpenAPI ``links``: a response link naming the consumer (``operationId`` or
   ``operationRef``) and mapping a parameter to ``$response.body#/pointer``.
2. Inference, the way RESTler does it: ``POST /pets`` whose success response
   has ``petId`` (or ``id``) feeds the path parameter of ``/pets/{petId}``. When
   the response schema names no such field, the path alone binds them and the
   script finds the id in the actual response (``id_candidates``, then the
   ``Location`` header).

Only path parameters are bound; the rest of a request keeps its generated
values. Cleanup: a ``DELETE`` on the consumer's path, when the API has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from plog_ci.openapi.model import JsonSchema, Operation, Spec, normalize_path


@dataclass(frozen=True)
class Binding:
    param: str  # the consumer's path parameter
    producer: str  # producer operation key
    # JSON pointer into the producer's response body; None: the schema does not name
    # the id, so the script looks for it in the response (``candidates``)
    pointer: str | None
    source: str  # "link" | "inferred"
    candidates: tuple[str, ...] = ()


def _response_schema(op: Operation) -> JsonSchema | None:
    for status in sorted(op.responses):
        if status.startswith("2"):
            for media in op.responses[status].content.values():
                if media.schema:
                    return media.schema
    return None


def _properties(schema: JsonSchema | None, depth: int = 0) -> dict[str, JsonSchema]:
    if not isinstance(schema, dict) or depth > 6:
        return {}
    props = schema.get("properties")
    out = dict(props) if isinstance(props, dict) else {}
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key) or []:
            out.update(_properties(part, depth + 1))
    return out


def _find_field(schema: JsonSchema | None, names: tuple[str, ...]) -> str | None:
    """Pointer to the first of ``names`` in the body, also inside a one-key wrapper
    such as ``{"article": {"slug": ...}}``."""
    props = _properties(schema)
    for name in names:
        if name in props:
            return "/" + name.replace("~", "~0").replace("/", "~1")
    if len(props) == 1:
        (wrapper, inner) = next(iter(props.items()))
        inner_props = _properties(inner)
        for name in names:
            if name in inner_props:
                return f"/{wrapper}/{name}".replace("~", "~0")
    return None


def _link_bindings(spec: Spec, consumer: Operation) -> list[Binding]:
    out = []
    by_id = {op.operation_id: op for op in spec.operations.values() if op.operation_id}
    for producer in spec.operations.values():
        if producer.method not in ("POST", "PUT", "GET"):
            continue
        for status, response in producer.responses.items():
            if not status.startswith("2"):
                continue
            for link in response.links.values():
                target = None
                if isinstance(link.get("operationId"), str):
                    target = by_id.get(link["operationId"])
                elif isinstance(link.get("operationRef"), str):
                    target = _by_ref(spec, link["operationRef"])
                if target is None or target.key != consumer.key or producer.key == consumer.key:
                    continue
                for name, expr in (link.get("parameters") or {}).items():
                    param = str(name).split(".", 1)[-1]
                    if not isinstance(expr, str) or not expr.startswith("$response.body#"):
                        continue
                    if param in {p.name for p in consumer.params("path")}:
                        pointer = expr[len("$response.body#") :] or ""
                        out.append(Binding(param, producer.key, pointer, "link"))
    return out


def _by_ref(spec: Spec, ref: str) -> Operation | None:
    if not ref.startswith("#/paths/"):
        return None
    parts = ref[len("#/paths/") :].split("/")
    if len(parts) != 2:
        return None
    path = parts[0].replace("~1", "/").replace("~0", "~")
    return spec.operations.get(f"{parts[1].upper()} {path}")


def _inferred(spec: Spec, consumer: Operation, param: str) -> Binding | None:
    marker = "{" + param + "}"
    if marker not in consumer.path:
        return None
    collection = consumer.path[: consumer.path.index(marker)].rstrip("/")
    if not collection:
        return None
    wanted = normalize_path(collection)
    for producer in spec.operations.values():
        if producer.method != "POST" or normalize_path(producer.path) != wanted:
            continue
        pointer = _find_field(_response_schema(producer), (param, "id", "_id", "uuid"))
        if pointer is not None:
            return Binding(param, producer.key, pointer, "inferred")
        # The path says POST /buckets makes what /buckets/{bucket_id} names, but the
        # schema names no id (or there is none): the script reads it from the actual
        # response (issue 17, item 6).
        return Binding(
            param, producer.key, None, "inferred from the path", id_candidates(param, collection)
        )
    return None


def param_stem(param: str) -> str:
    """The resource a path parameter names: ``bucket_id``, ``petId``, ``userKey`` →
    ``bucket``, ``pet``, ``user`` (the parameter itself when it has no such suffix)."""
    return re.sub(r"(?i)[_-]?(id|uuid|key)$", "", param)


# Names a resource is keyed by besides ids: tried after the Location header, unless the
# parameter says the resource is keyed by one of them ({team_slug}, {username}).
NAME_KEYS = ("key", "name", "slug")
_KEYED_BY = ("slug", "name", "key", "code", "handle", "login")


def id_candidates(param: str, collection: str) -> tuple[str, ...]:
    """Where a created resource's id may be, most telling first: the consumer's parameter
    name, the key its name ends in (``slug`` for ``{team_slug}``), ``id``-like fields, the
    resource's key (``bucket_id`` → ``bucket``), then ``key``/``name``/``slug``. The
    script tries the names up to the first of ``NAME_KEYS`` that the parameter does not
    end in, then one field whose name ends in ``id``/``uid``/``uuid`` (``{"uid": ...}``),
    then the ``Location`` header, then the rest."""
    stem = param_stem(param)
    resource = collection.rsplit("/", 1)[-1]
    lowered = param.lower()
    keyed = [k for k in _KEYED_BY if lowered.endswith(k) and lowered != k]
    names = [param, *keyed, "id", "_id", "uuid", "uid", "ID", "Id", f"{stem}_id", f"{stem}Id"]
    if stem and stem != param:
        names.append(stem)
    if resource.endswith("s"):
        names.append(resource[:-1] + "_id")
    names += [k for k in NAME_KEYS if k not in keyed]
    return tuple(dict.fromkeys(n for n in names if n))


def bindings(spec: Spec, consumer: Operation) -> list[Binding]:
    """How each path parameter of ``consumer`` can get a real value, if it can."""
    found = {b.param: b for b in _link_bindings(spec, consumer)}
    for param in consumer.params("path"):
        if param.name not in found:
            inferred = _inferred(spec, consumer, param.name)
            if inferred is not None:
                found[param.name] = inferred
    return list(found.values())


def cleanup_for(spec: Spec, binding: Binding, consumer: Operation) -> Operation | None:
    """The DELETE that removes what ``binding``'s producer created, if the API has one:
    on the consumer's path up to the bound parameter (``DELETE /buckets/{id}``, and for
    a nested resource ``DELETE /buckets/{b}/collections/{c}``, whose parent ids come
    from the producer's own request: ``parent_map``)."""
    wanted = normalize_path(consumer.path[: consumer.path.index("{" + binding.param + "}")])
    for op in spec.operations.values():
        if op.method != "DELETE":
            continue
        names = path_names(op.path)
        if names and normalize_path(op.path) == wanted + "{}":
            return op
    return None


_NAME_RE = re.compile(r"\{([^{}/]+)\}")


def path_names(path: str) -> list[str]:
    """The path's parameter names in the order the path has them."""
    return _NAME_RE.findall(path)


def parent_map(consumer_path: str, param: str, producer_path: str) -> dict[str, str]:
    """Which of the consumer's path parameters name the same parents as the producer's
    own path parameters, by position: ``/buckets/{bucket_id}/collections/{cid}`` fed by
    ``POST /buckets/{id}/collections`` gives ``{"bucket_id": "id"}``. The script fills
    them from the entry the producer created, so a nested id always goes with the
    parent it was created under (a collection is looked up in its own bucket). Empty
    when the producer's path is not the consumer's path up to ``param``."""
    marker = "{" + param + "}"
    if marker not in consumer_path:
        return {}
    prefix = consumer_path[: consumer_path.index(marker)].rstrip("/")
    if normalize_path(prefix).rstrip("/") != normalize_path(producer_path).rstrip("/"):
        return {}
    return dict(zip(path_names(prefix), path_names(producer_path), strict=False))
