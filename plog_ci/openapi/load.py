"""Load a spec from a file or a git revision.

Walking-skeleton loader: internal ``#/`` references only. The safe
multi-file loader (prance, refs confined to the repository) replaces it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plog_ci import yamldoc
from plog_ci.errors import InputError
from plog_ci.gitrepo import GitRepo
from plog_ci.openapi.build import build_spec
from plog_ci.openapi.model import Spec

LIMITS = yamldoc.Limits(max_bytes=32 << 20, max_depth=128, max_nodes=5_000_000)


def _parse(data: bytes, source: str) -> dict[str, Any]:
    doc = yamldoc.to_plain(yamldoc.load(data, source, LIMITS))
    if not isinstance(doc, dict) or not (doc.get("openapi") or doc.get("swagger")):
        raise InputError(f"{source}: not an OpenAPI document (no 'openapi' or 'swagger' key)")
    version = str(doc.get("openapi") or doc.get("swagger"))
    if not (version == "2.0" or version.startswith(("3.0", "3.1"))):
        raise InputError(
            f"{source}: OpenAPI version {version} is not supported",
            hint="PLog reads Swagger 2.0 and OpenAPI 3.0 / 3.1",
        )
    return doc


def _resolve(node: Any, root: dict[str, Any], source: str, seen: tuple[str, ...] = ()) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#/"):
                raise InputError(
                    f"{source}: $ref {ref!r}: only references inside the document "
                    "are supported by this loader"
                )
            if ref in seen:
                return {"$ref": ref, "x-plog-recursive": True}
            target: Any = root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise InputError(f"{source}: $ref {ref!r} points at nothing")
                target = target[part]
            return _resolve(target, root, source, (*seen, ref))
        return {k: _resolve(v, root, source, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, root, source, seen) for v in node]
    return node


def load_spec_bytes(data: bytes, source: str) -> Spec:
    doc = _parse(data, source)
    resolved = _resolve(doc, doc, source)
    return build_spec(resolved, source)


def load_spec_from_git(
    repo: GitRepo, rev: str, path: str, allow_hosts: tuple[str, ...] = ()
) -> Spec:
    return load_spec_bytes(repo.read(rev, path), f"{rev[:12]}:{path}")


def load_spec_file(path: str | Path) -> Spec:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    return load_spec_bytes(data, str(path))


def spec_to_json(spec: Spec) -> str:
    return json.dumps(spec.raw, sort_keys=True)
