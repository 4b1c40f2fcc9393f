"""Load a spec from a file or a git revision, safely.

Three steps:

1. **Discovery** (:mod:`plog_ci.openapi.discover`): starting from the root file,
   read every document a ``$ref`` reaches, checking each reference *before*
   anything is read (inside the repository root, regular files, ``http(s)`` only
   for allow-listed hosts) and parse each (:mod:`plog_ci.openapi.parse`).
2. **Resolution** (:mod:`plog_ci.openapi.resolve`): each ``$ref`` is replaced by
   its target, resolved once and shared; recursion stops with
   ``{"$ref": ..., "x-plog-recursive": true}``; in OpenAPI 3.1 keywords beside a
   schema's ``$ref`` apply with it (``allOf``).
3. **Model** (:mod:`plog_ci.openapi.build`).

Cost is bounded by :class:`LoadLimits`, operator settings read from the
environment (``PLOG_SPEC_*``, see :mod:`plog_ci.openapi.limits`), never plog.yml.
Schema validation (openapi-spec-validator) only produces warnings and runs with
no URL handlers at all, so the validator cannot fetch either.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from plog_ci.gitrepo import GitRepo
from plog_ci.openapi import checks
from plog_ci.openapi.build import build_spec
from plog_ci.openapi.discover import Discovery
from plog_ci.openapi.errors import SpecError, SpecTooLargeError
from plog_ci.openapi.limits import Deadline, LoadLimits
from plog_ci.openapi.model import METHODS, Spec
from plog_ci.openapi.parse import locate, pointer
from plog_ci.openapi.resolve import Resolver, apply_siblings
from plog_ci.openapi.sources import DiskSource, GitSource, Refused, Source

__all__ = ["LoadLimits", "load_spec_bytes", "load_spec_file", "load_spec_from_git"]


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


def _load(
    source: Source, rel: str, allow_hosts: tuple[str, ...], limits: LoadLimits | None
) -> Spec:
    limits = LoadLimits.from_env() if limits is None else limits
    found = Discovery(source, allow_hosts, limits, Deadline(limits, source.display(rel)))
    root_key = found.load_root(rel)
    display = found.display(root_key)
    found.deadline.where = display
    doc = found.docs[root_key]
    version = _check_version(doc, display)
    _check_size(doc, display, limits)
    _check_paths(doc, display, found.raw[root_key])
    found.discover(root_key)
    if version.startswith("3.1"):
        apply_siblings(found.sites)
    resolver = Resolver(found)
    resolved = resolver.resolve(root_key)
    warnings = checks.structural(resolved, display)  # operations in files of their own too
    # The validator walks the expanded tree (no memoisation): bound its work.
    if found.total > limits.validate_max_bytes:
        warnings += (
            f"{display}: schema validation skipped for a spec over "
            f"{limits.validate_max_bytes:,} bytes (structural checks still ran)",
        )
    elif resolver.expanded > limits.validate_max_nodes:
        warnings += (
            f"{display}: schema validation skipped for a spec of over "
            f"{limits.validate_max_nodes:,} nodes once $refs are expanded "
            "(structural checks still ran)",
        )
    else:
        warnings += checks.validate(resolved, display)
    return build_spec(resolved, display, warnings)


def load_spec_file(
    path: str | Path,
    root: str | Path | None = None,
    allow_hosts: tuple[str, ...] = (),
    limits: LoadLimits | None = None,
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
    limits: LoadLimits | None = None,
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


def load_spec_bytes(data: bytes, source: str, limits: LoadLimits | None = None) -> Spec:
    """Load one self-contained document (internal ``#/`` references only)."""
    return _load(_BytesSource(data, source), "spec", (), limits)


def spec_to_json(spec: Spec) -> str:
    return json.dumps(spec.raw, sort_keys=True)
