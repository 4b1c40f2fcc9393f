"""Cut the Kubernetes OpenAPI (swagger 2.0) description down to what the fake serves.

Usage: ``python -m testing.fake_kube.cut_swagger SOURCE.json tests/data/kubernetes/swagger.json``
where SOURCE is kubernetes-client/python's ``kubernetes/swagger.json.unprocessed``.

Kept: the discovery paths (/api/, /api/v1/, /apis/, /apis/GROUP/, /apis/GROUP/VERSION/,
/version/), and for each resource in ``RESOURCES`` its collection, item and listed
subresource paths, namespaced and cluster-wide (the deprecated /watch/ paths are dropped:
clients watch with ``?watch=true``); then every ``#/parameters`` and ``#/definitions``
entry those paths reach, transitively, plus ``EXTRA_DEFINITIONS``. The prose (every string
``description``) is dropped; nothing else is rewritten: kept entries are the source's,
re-serialised with sorted keys.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

# group/version -> resources (plural) -> subresources kept
RESOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "v1": {
        "namespaces": ("status",),
        "pods": ("log", "status"),
        "events": (),
        "configmaps": (),
        "secrets": (),
        "services": ("status",),
        "serviceaccounts": (),
        "endpoints": (),
        "persistentvolumeclaims": (),
    },
    "apps/v1": {
        "deployments": ("status",),
        "replicasets": ("status",),
        "statefulsets": ("status",),
    },
    "autoscaling/v2": {"horizontalpodautoscalers": ("status",)},
    "batch/v1": {"jobs": ("status",), "cronjobs": ("status",)},
    "networking.k8s.io/v1": {"ingresses": ("status",)},
    "policy/v1": {"poddisruptionbudgets": ("status",)},
    "rbac.authorization.k8s.io/v1": {
        "roles": (),
        "rolebindings": (),
        "clusterroles": (),
        "clusterrolebindings": (),
    },
}
EXTRA_DEFINITIONS = (
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions",
)


def _prefix(group_version: str) -> str:
    return "/api/v1" if group_version == "v1" else f"/apis/{group_version}"


def kept_path(path: str) -> bool:
    """Whether the fake serves ``path`` (a swagger path template)."""
    if path in ("/api/", "/api/v1/", "/apis/", "/version/"):
        return True
    for gv, resources in RESOURCES.items():
        prefix = _prefix(gv)
        if gv != "v1" and path in (f"/apis/{gv.split('/')[0]}/", f"{prefix}/"):
            return True
        for resource, subs in resources.items():
            sub = "|".join(re.escape(s) for s in subs) or "(?!)"
            pattern = (
                rf"^{re.escape(prefix)}(/namespaces/\{{namespace\}})?/{re.escape(resource)}"
                rf"(/\{{name\}}(/({sub}))?)?$"
            )
            if re.match(pattern, path) and not (resource == "namespaces" and "{namespace}" in path):
                return True
    return False


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.add(ref)
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def _strip_descriptions(node: Any) -> Any:
    # prose only: a "description" whose value is a dict is a property named so, and stays
    if isinstance(node, dict):
        return {
            k: _strip_descriptions(v)
            for k, v in node.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_strip_descriptions(v) for v in node]
    return node


def cut(doc: dict[str, Any]) -> dict[str, Any]:
    """The part of ``doc`` the fake serves (see the module docstring)."""
    paths = {p: item for p, item in doc["paths"].items() if kept_path(p)}
    pending: set[str] = set()
    _refs(paths, pending)
    pending |= {f"#/definitions/{name}" for name in EXTRA_DEFINITIONS}
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, section, name = ref.split("/", 2)
        _refs(doc[section][name], pending)
    sections: dict[str, dict[str, Any]] = {"definitions": {}, "parameters": {}}
    for ref in sorted(seen):
        _, section, name = ref.split("/", 2)
        sections[section][name] = doc[section][name]
    cut_doc: dict[str, Any] = _strip_descriptions(
        {
            "swagger": doc["swagger"],
            "info": doc["info"],
            "security": doc["security"],
            "securityDefinitions": doc["securityDefinitions"],
            "paths": paths,
            "parameters": sections["parameters"],
            "definitions": sections["definitions"],
        }
    )
    return cut_doc


def main(argv: list[str]) -> int:
    source, target = Path(argv[0]), Path(argv[1])
    doc = json.loads(source.read_text(encoding="utf-8"))
    out = cut(doc)
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(out['paths'])} paths, {len(out['definitions'])} definitions -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
