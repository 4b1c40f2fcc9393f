"""The operation model: what PLog knows about an API, independent of spec version.

Swagger 2.0, OpenAPI 3.0 and 3.1 all load into these classes. Schemas stay
plain JSON-Schema dicts with every ``$ref`` resolved (recursive schemas keep a
``$ref`` at the point of recursion, marked by ``x-plog-recursive``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM_RE = re.compile(r"\{[^}/]*\}")

JsonSchema = dict[str, Any]


def normalize_path(path: str) -> str:
    """``/pets/{petId}`` and ``/pets/{id}`` are the same operation (as in oasdiff)."""
    return _PARAM_RE.sub("{}", path)


def operation_key(method: str, path: str) -> str:
    return f"{method.upper()} {path}"


@dataclass(frozen=True)
class Encoding:
    """One property's entry of a media type's ``encoding`` (OpenAPI 3.x Encoding Object)."""

    content_type: str | None = None
    style: str | None = None
    explode: bool | None = None
    allow_reserved: bool = False


@dataclass(frozen=True)
class MediaType:
    media_type: str
    schema: JsonSchema | None = None
    examples: tuple[Any, ...] = ()  # ``example`` first, then ``examples[*].value``
    # Per property of a form body (x-www-form-urlencoded, multipart/form-data).
    encoding: dict[str, Encoding] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path | query | header | cookie
    required: bool = False
    schema: JsonSchema | None = None
    deprecated: bool = False
    examples: tuple[Any, ...] = ()
    style: str | None = None
    explode: bool | None = None
    # Declared on the path item (shared by its operations) rather than on the operation.
    shared: bool = field(default=False, compare=False)
    # How the value is written on the wire (generation only; the diff does not read these):
    allow_reserved: bool = field(default=False, compare=False)  # 3.x allowReserved
    collection_format: str | None = field(default=None, compare=False)  # 2.0 arrays: csv...
    content_type: str | None = field(default=None, compare=False)  # 3.x ``content``'s key


@dataclass(frozen=True)
class RequestBody:
    required: bool = False
    content: dict[str, MediaType] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    status: str  # "200", "2XX", "default"
    description: str = ""
    content: dict[str, MediaType] = field(default_factory=dict)
    headers: dict[str, Parameter] = field(default_factory=dict)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str
    operation_id: str | None = None
    summary: str = ""
    tags: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    request_body: RequestBody | None = None
    responses: dict[str, Response] = field(default_factory=dict)
    security: tuple[dict[str, tuple[str, ...]], ...] | None = None  # None: inherits global
    servers: tuple[str, ...] = ()
    deprecated: bool = False
    sunset: str | None = None  # x-sunset

    @property
    def key(self) -> str:
        return operation_key(self.method, self.path)

    @property
    def normalized_key(self) -> str:
        return operation_key(self.method, normalize_path(self.path))

    def success_statuses(self) -> tuple[int, ...]:
        """Documented 2xx/3xx statuses (``2XX`` expands); 200 when none is documented."""
        out: list[int] = []
        for status in self.responses:
            if status.isdigit() and 200 <= int(status) < 400:
                out.append(int(status))
            elif status.upper() in ("2XX", "3XX"):
                first = int(status[0]) * 100
                out.extend(range(first, first + 100))
        return tuple(sorted(set(out))) or (200,)

    def params(self, location: str) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.location == location)


@dataclass(frozen=True)
class SecurityScheme:
    name: str
    type: str  # apiKey | http | oauth2 | openIdConnect | mutualTLS | basic (2.0)
    scheme: str | None = None  # bearer | basic for type http
    location: str | None = None  # header | query | cookie for apiKey
    param_name: str | None = None


@dataclass(frozen=True)
class Spec:
    version: str  # "2.0", "3.0.3", "3.1.0"
    title: str
    servers: tuple[str, ...]
    operations: dict[str, Operation]  # by key "METHOD /path"
    security: tuple[dict[str, tuple[str, ...]], ...] = ()
    security_schemes: dict[str, SecurityScheme] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def base_path(self) -> str:
        """The path the operations' paths are under on the deployed service: Swagger 2.0
        ``basePath``, or the path of OpenAPI 3's first server (variables at their
        defaults); "" for the root, or when the first server's URL is relative without a
        leading ``/`` (OpenAPI: relative to where the document is served, unknown here)."""
        if not self.servers:
            return ""
        url = self.servers[0]
        path = urlsplit(url).path if "://" in url else url
        return path.rstrip("/") if path.startswith("/") else ""

    def find(self, key: str) -> Operation | None:
        """Look up ``METHOD /path``, tolerating different parameter names."""
        if key in self.operations:
            return self.operations[key]
        method, _, path = key.partition(" ")
        wanted = operation_key(method, normalize_path(path))
        for op in self.operations.values():
            if op.normalized_key == wanted:
                return op
        return None
