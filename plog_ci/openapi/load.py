"""Load a spec from a file or a git revision, safely.

Two phases:

1. **Discovery** (ours): starting from the root file, read every document a
   ``$ref`` reaches, checking each reference *before* anything is read:
   relative paths must stay inside the repository root and name regular files
   (see :mod:`plog_ci.openapi.sources`); ``http(s)`` only for allow-listed
   hosts; ``file://``, other schemes and absolute paths never. Each document
   is parsed by :mod:`plog_ci.openapi.parse` (size, node and depth caps).
2. **Resolution** (prance's :class:`RefResolver`): run over the documents
   discovery already holds. Its fetch hook is replaced, so prance can never
   open a file or a URL itself; recursive schemas stop at the point of
   recursion with ``{"$ref": ..., "x-plog-recursive": true}``.

Schema validation (openapi-spec-validator) only produces warnings and runs
with no URL handlers at all, so the validator cannot fetch either.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from prance.util.path import path_get
from prance.util.resolver import RefResolver
from prance.util.url import ResolutionError

from plog_ci.config.hosts import forbidden, resolves_forbidden
from plog_ci.gitrepo import GitRepo
from plog_ci.openapi import checks
from plog_ci.openapi.build import build_spec
from plog_ci.openapi.errors import RefError, SpecError, SpecTooLargeError
from plog_ci.openapi.model import METHODS, Spec
from plog_ci.openapi.parse import ParseLimits, locate, parse, pointer
from plog_ci.openapi.sources import DiskSource, GitSource, Refused, Source, normalize

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_VIRTUAL = "/__plog__/"  # prance sees file URLs under this fake root; nothing is read there


@dataclass(frozen=True)
class LoadLimits:
    max_file_bytes: int = 16 << 20
    max_total_bytes: int = 64 << 20
    max_files: int = 500
    max_paths: int = 5_000
    max_operations: int = 5_000
    max_nodes: int = 5_000_000  # per document, after YAML alias expansion
    validate_max_bytes: int = 1 << 20  # full schema validation only below this size
    http_timeout_s: float = 5.0


DEFAULT_LIMITS = LoadLimits()


def _refs(doc: Any) -> Iterator[tuple[list[str | int], str]]:
    """Every ``$ref`` string in ``doc`` with the path where it appears."""
    stack: list[tuple[Any, list[str | int]]] = [(doc, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield path, ref
            for key, value in node.items():
                if isinstance(value, dict | list):
                    stack.append((value, [*path, key]))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, dict | list):
                    stack.append((value, [*path, i]))


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _pointer_get(doc: Any, fragment: str) -> bool:
    """Whether the JSON pointer ``fragment`` (without '#') names a node of ``doc``."""
    if fragment in ("", "/"):
        return True
    node = doc
    for raw in fragment.lstrip("/").split("/"):
        part = _unescape(raw)
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


class _Loader:
    def __init__(self, source: Source, allow_hosts: tuple[str, ...], limits: LoadLimits) -> None:
        self.source = source
        self.allow_hosts = tuple(h.lower() for h in allow_hosts)
        self.limits = limits
        self.parse_limits = ParseLimits(max_bytes=limits.max_file_bytes, max_nodes=limits.max_nodes)
        self.docs: dict[str, Any] = {}  # key: "file:<rel>" or the URL without fragment
        self.raw: dict[str, bytes] = {}
        self.total = 0

    # -- naming ----------------------------------------------------------
    def display(self, key: str) -> str:
        return self.source.display(key[5:]) if key.startswith("file:") else key

    def _fail(
        self, key: str, where: list[str | int], ref: str, reason: str, hint: str | None = None
    ) -> RefError:
        located = locate(self.raw.get(key, b""), self.display(key), [*where, "$ref"])
        place = pointer(where)
        return RefError(
            f"{located}: $ref {ref!r} at {place}: {reason}", ref=ref, where=place, hint=hint
        )

    # -- reading ---------------------------------------------------------
    def _store(self, key: str, data: bytes) -> None:
        self.total += len(data)
        if len(self.docs) >= self.limits.max_files:
            raise SpecTooLargeError(
                f"{self.display(key)}: more than {self.limits.max_files} files reached through $ref"
            )
        if self.total > self.limits.max_total_bytes:
            raise SpecTooLargeError(
                f"{self.display(key)}: the spec files together exceed "
                f"{self.limits.max_total_bytes:,} bytes"
            )
        self.raw[key] = data
        self.docs[key] = parse(data, self.display(key), self.parse_limits)

    def load_root(self, rel: str) -> str:
        try:
            rel = normalize(rel)
            data = self.source.read(rel, self.limits.max_file_bytes)
        except Refused as exc:
            if "limit" in str(exc):
                raise SpecTooLargeError(
                    f"{self.source.display(rel)}: {exc}",
                    hint="split the spec into files joined by relative $refs",
                ) from None
            raise SpecError(f"{self.source.display(rel)}: {exc}") from None
        key = "file:" + rel
        self._store(key, data)
        return key

    def _fetch_http(self, url: str) -> bytes:
        import httpx  # only when a host is allow-listed

        try:
            with httpx.Client(timeout=self.limits.http_timeout_s, follow_redirects=False) as client:
                with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise Refused(f"HTTP {response.status_code}")
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > self.limits.max_file_bytes:
                            raise Refused("the response is over the size limit")
                        chunks.append(chunk)
                    return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise Refused(f"cannot fetch: {exc}") from None

    def _target(self, key: str, where: list[str | int], ref: str) -> tuple[str, str]:
        """(document key, fragment) that ``ref`` in document ``key`` points at."""
        base_is_url = not key.startswith("file:")
        address, _, fragment = ref.partition("#")
        if fragment and not fragment.startswith("/"):
            raise self._fail(key, where, ref, "only JSON-pointer fragments ('#/...') are supported")
        if not address:
            return key, fragment
        if base_is_url and not _SCHEME.match(address):
            address = urljoin(key, address)
        if address.startswith("//") or _SCHEME.match(address):
            parts = urlsplit(address)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                raise self._fail(
                    key,
                    where,
                    ref,
                    f"{scheme or 'network'} references are not "
                    "allowed; $ref may only name files inside the repository",
                    hint="use a relative path such as ./schemas/pet.yaml",
                )
            host = (parts.hostname or "").lower()
            if host not in self.allow_hosts:
                raise self._fail(
                    key,
                    where,
                    ref,
                    "network references are refused (PLog never "
                    "fetches a URL unless its host is allow-listed)",
                    hint=(
                        "vendor the file into the repository; openapi.allow_hosts cannot "
                        "list a loopback, link-local or metadata address (plog diff and "
                        "plog gen take --allow-host for one)"
                        if forbidden(host)
                        else f"vendor the file into the repository, or add {host!r} "
                        "to openapi.allow_hosts in plog.yml"
                    ),
                )
            # A name in openapi.allow_hosts may not point at this machine, a link-local
            # address or a metadata service (plog.yml cannot list those: config.hosts);
            # an address the operator allow-listed literally (--allow-host 127.0.0.1) may.
            pointed = None if forbidden(host) else resolves_forbidden(host, parts.port)
            if pointed:
                raise self._fail(
                    key,
                    where,
                    ref,
                    f"refused: {pointed}, which no allow-list admits",
                    hint="vendor the file into the repository",
                )
            url = urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))
            if url not in self.docs:
                try:
                    data = self._fetch_http(url)
                except Refused as exc:
                    raise self._fail(key, where, ref, str(exc)) from None
                self._store(url, data)
            return url, fragment
        current = key[5:]
        try:
            if address.startswith("/"):
                normalize(address)  # raises: absolute
            rel = normalize(posixpath.join(posixpath.dirname(current), address))
        except Refused as exc:
            raise self._fail(
                key, where, ref, str(exc), hint="$ref may only name files inside the repository"
            ) from None
        target = "file:" + rel
        if target not in self.docs:
            try:
                data = self.source.read(rel, self.limits.max_file_bytes)
            except Refused as exc:
                raise self._fail(key, where, ref, f"{self.source.display(rel)}: {exc}") from None
            self._store(target, data)
        return target, fragment

    def discover(self, root_key: str) -> None:
        queue = [root_key]
        seen = {root_key}
        while queue:
            key = queue.pop()
            for where, ref in _refs(self.docs[key]):
                target, fragment = self._target(key, where, ref)
                if not _pointer_get(self.docs[target], fragment):
                    raise self._fail(
                        key,
                        where,
                        ref,
                        f"it points at nothing (no #{fragment} in {self.display(target)})",
                    )
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
        for key in list(self.docs):
            for where, ref in _refs(self.docs[key]):
                self._check_cycle(key, where, ref)

    def _check_cycle(self, key: str, where: list[str | int], ref: str) -> None:
        """Refuse a chain of bare ``$ref`` nodes that comes back to itself (no content)."""
        chain = [(key, pointer(where))]
        target, fragment = self._target(key, where, ref)
        while True:
            here = (target, "#" + fragment)
            if here in chain:
                names = [f"{self.display(k)}{p}" for k, p in [*chain, here]]
                raise self._fail(
                    key,
                    where,
                    ref,
                    "a $ref cycle with no content: " + " -> ".join(names),
                    hint="point one of these $refs at a definition",
                )
            chain.append(here)
            parts: list[str | int] = [_unescape(p) for p in fragment.lstrip("/").split("/") if p]
            node = self.docs[target]
            for part in parts:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
                return
            target, fragment = self._target(target, parts, node["$ref"])

    # -- prance's view ---------------------------------------------------
    def prance_url(self, key: str) -> str:
        return "file://" + _VIRTUAL + key[5:] if key.startswith("file:") else key

    def key_for(self, url: Any) -> str:
        if url.scheme == "file":
            path = posixpath.normpath(url.path)
            if not path.startswith(_VIRTUAL.rstrip("/")):
                raise ResolutionError(f"reference outside the spec: {url.geturl()}")
            return "file:" + str(path[len(_VIRTUAL) :])
        return str(urlunsplit((url.scheme, url.netloc, url.path, url.query, "")))


def _recursion_marker(limit: int, parsed_url: Any, recursions: Any = ()) -> dict[str, Any]:
    return {"$ref": "#" + parsed_url.fragment, "x-plog-recursive": True}


class _Resolver(RefResolver):  # type: ignore[misc]
    """prance's resolver, fed only with documents discovery has checked and read."""

    def __init__(self, loader: _Loader, root_key: str) -> None:
        # An empty dict avoids prance's deep copy of the whole root document.
        super().__init__(
            {},
            loader.prance_url(root_key),
            recursion_limit=1,
            recursion_limit_handler=_recursion_marker,
        )
        self.specs = loader.docs[root_key]
        self._loader = loader

    def _fetch_ref_value(self, ref_url: Any, obj_path: list[str]) -> Any:
        key = self._loader.key_for(ref_url)
        if key not in self._loader.docs:  # discovery checked every ref; never read here
            raise ResolutionError(f"reference not discovered: {ref_url.geturl()}")
        doc = self._loader.docs[key]
        return path_get(doc, obj_path) if obj_path else doc


def _check_version(doc: Any, source: str) -> str:
    if not isinstance(doc, dict):
        raise SpecError(f"{source}: not an OpenAPI document (the top level is not a mapping)")
    if "swaggerVersion" in doc:
        raise SpecError(
            f"{source}: Swagger {doc['swaggerVersion']} is not supported",
            hint="PLog reads Swagger 2.0 and OpenAPI 3.0 / 3.1; convert the spec "
            "(e.g. with swagger2openapi)",
        )
    if not (doc.get("openapi") or doc.get("swagger")):
        raise SpecError(
            f"{source}: not an OpenAPI document (no 'openapi' or 'swagger' key)",
            hint="point openapi.path in plog.yml at the OpenAPI/Swagger file",
        )
    version = str(doc.get("openapi") or doc.get("swagger"))
    if not (
        (version in ("2.0", "2") and "swagger" in doc)
        or (re.match(r"^3\.[01](\.|$)", version) and "openapi" in doc)
    ):
        raise SpecError(
            f"{source}: OpenAPI version {version} is not supported",
            hint="PLog reads Swagger 2.0 and OpenAPI 3.0 / 3.1",
        )
    if not isinstance(doc.get("paths", {}), dict):
        raise SpecError(f"{source}: 'paths' is not a mapping")
    return version


def _check_size(doc: dict[str, Any], source: str, limits: LoadLimits) -> None:
    paths = doc.get("paths") or {}
    if len(paths) > limits.max_paths:
        raise SpecTooLargeError(
            f"{source}: {len(paths):,} paths, over the limit of {limits.max_paths:,}",
            hint="PLog load-tests one service; split huge specs",
        )
    count = sum(
        1
        for item in paths.values()
        if isinstance(item, dict)
        for m in METHODS
        if isinstance(item.get(m), dict)
    )
    if count > limits.max_operations:
        raise SpecTooLargeError(
            f"{source}: {count:,} operations, over the limit of {limits.max_operations:,}"
        )


def _check_paths(doc: dict[str, Any], source: str, raw: bytes) -> None:
    """Refuse a path template with a '.' or '..' segment (written or percent-encoded):
    requests must stay under the base URL's path, whatever the server normalizes."""
    for path in doc.get("paths") or {}:
        if any(unquote(seg) in (".", "..") for seg in str(path).split("/")):
            where = locate(raw, source, ["paths", str(path)])
            raise SpecError(
                f"{where}: path {str(path)!r} at {pointer(['paths', str(path)])} has a "
                "'.' or '..' segment, which would leave the base URL's path",
                hint="write the path as the server routes it, without dot segments",
            )


def _load(source: Source, rel: str, allow_hosts: tuple[str, ...], limits: LoadLimits) -> Spec:
    loader = _Loader(source, allow_hosts, limits)
    root_key = loader.load_root(rel)
    display = loader.display(root_key)
    doc = loader.docs[root_key]
    _check_version(doc, display)
    _check_size(doc, display, limits)
    _check_paths(doc, display, loader.raw[root_key])
    loader.discover(root_key)
    warnings = checks.structural(doc, display)
    try:
        resolver = _Resolver(loader, root_key)
        resolver.resolve_references()
    except ResolutionError as exc:  # discovery should have caught it; say so plainly
        raise SpecError(f"{display}: cannot resolve references: {exc}") from None
    except RecursionError:
        raise SpecError(f"{display}: references nest too deeply") from None
    resolved = resolver.specs
    if loader.total <= limits.validate_max_bytes:
        warnings += checks.validate(resolved, display)
    else:
        warnings += (
            f"{display}: schema validation skipped for a spec over "
            f"{limits.validate_max_bytes:,} bytes (structural checks still ran)",
        )
    return build_spec(resolved, display, warnings)


def load_spec_file(
    path: str | Path,
    root: str | Path | None = None,
    allow_hosts: tuple[str, ...] = (),
    limits: LoadLimits = DEFAULT_LIMITS,
) -> Spec:
    """Load a spec from disk; ``$ref`` may reach files under ``root`` (default: its folder)."""
    file = Path(path)
    base = Path(root) if root is not None else file.parent
    try:
        rel = Path(file.absolute()).relative_to(base.absolute()).as_posix()
    except ValueError:
        raise SpecError(f"{file}: outside the repository root {base}") from None
    return _load(DiskSource(base), rel, allow_hosts, limits)


def load_spec_from_git(
    repo: GitRepo,
    rev: str,
    path: str,
    allow_hosts: tuple[str, ...] = (),
    limits: LoadLimits = DEFAULT_LIMITS,
) -> Spec:
    """Load ``path`` as committed at ``rev``; relative refs resolve in that same tree."""
    return _load(GitSource(repo, rev), path, allow_hosts, limits)


class _BytesSource:
    """One in-memory document; any file reference is refused."""

    def __init__(self, data: bytes, label: str) -> None:
        self.data = data
        self.label = label

    def display(self, rel: str) -> str:
        return self.label if rel == "spec" else rel

    def read(self, rel: str, max_bytes: int) -> bytes:
        if rel != "spec":
            raise Refused("file references are not available for an in-memory spec")
        return self.data


def load_spec_bytes(data: bytes, source: str) -> Spec:
    """Load one self-contained document (internal ``#/`` references only)."""
    return _load(_BytesSource(data, source), "spec", (), DEFAULT_LIMITS)


def spec_to_json(spec: Spec) -> str:
    return json.dumps(spec.raw, sort_keys=True)
