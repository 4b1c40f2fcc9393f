"""Render a Helm chart the way an install would and check what comes out.

``render`` runs Helm's own engine (helm-python-sdk binds Helm's Go SDK: no helm
binary, no cluster), parses every manifest and validates each one strictly (an
unknown field is an error) against the Kubernetes JSON schemas that
kubernetes-validate ships. ``lint`` is ``helm lint``. Both raise the SDK's
``HelmError`` (a values schema error, a ``required``/``fail`` in a template).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml  # type: ignore[import-untyped]

# A supported minor of kubernetes-validate's schemas (K3s and Kubernetes 1.33).
KUBERNETES_VERSION = "1.33"
HelmError: type[Exception] = helm.HelmError


@dataclass(frozen=True)
class Rendered:
    """The manifests of one render: ``docs`` in file order, each validated; ``notes``
    is NOTES.txt as rendered ("" when the chart has none)."""

    docs: tuple[dict[str, Any], ...]
    notes: str

    def kinds(self) -> set[str]:
        return {doc["kind"] for doc in self.docs}

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Every manifest of ``kind``, in file order."""
        return [doc for doc in self.docs if doc["kind"] == kind]

    def get(self, kind: str, name: str | None = None) -> dict[str, Any]:
        """The one manifest of ``kind`` (named ``name`` when given). KeyError when
        there is none, ValueError when ``name`` is None and there are several."""
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        if not found:
            raise KeyError(f"no {kind} {name or ''} in {sorted(self.names())}")
        if len(found) > 1:
            raise ValueError(f"{len(found)} manifests of kind {kind}: name one")
        return found[0]

    def names(self) -> set[tuple[str, str]]:
        return {(d["kind"], d["metadata"]["name"]) for d in self.docs}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.docs)


def render(
    chart: Path,
    values: Mapping[str, Any] | None = None,
    *,
    name: str = "release",
    namespace: str = "default",
) -> Rendered:
    """Render ``chart`` (a chart folder) with ``values`` as release ``name`` in
    ``namespace``; every manifest is validated against Kubernetes
    ``KUBERNETES_VERSION`` strictly. Raises HelmError (values, templates) or
    kubernetes_validate's ValidationError (a manifest).

    The same chart and values are rendered and validated once per process (the
    validation, about 40 ms a manifest, is most of the cost); each call gets a copy."""
    key = json.dumps(dict(values or {}), sort_keys=True)
    return copy.deepcopy(_render(str(chart), key, name, namespace))


@functools.lru_cache(maxsize=256)
def _render(chart: str, values_json: str, name: str, namespace: str) -> Rendered:
    values = json.loads(values_json)
    with helm.Chart.load(chart) as loaded:
        files: dict[str, str] = loaded.render(values, name=name, namespace=namespace)
    docs: list[dict[str, Any]] = []
    notes = ""
    for path in sorted(files):
        if path.endswith("NOTES.txt"):
            notes = files[path]
            continue
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(files[path]):
            if doc:
                _validate(json.dumps(doc, sort_keys=True))
                docs.append(doc)
    return Rendered(tuple(docs), notes)


@functools.lru_cache(maxsize=1024)
def _validate(doc_json: str) -> None:
    # many value sets share manifests (RBAC, volumes): each distinct one is checked once
    kubernetes_validate.validate(json.loads(doc_json), KUBERNETES_VERSION, strict=True)


def lint(chart: Path, values: Mapping[str, Any] | None = None) -> list[str]:
    """``helm lint`` findings above info (warnings, errors) as text; [] is clean."""
    result: dict[str, Any] = helm.lint(
        str(chart), dict(values) if values else None, kube_version=f"v{KUBERNETES_VERSION}.0"
    )
    problems = [str(e) for e in result.get("errors") or []]
    problems += [
        f"{m.get('path')}: {m.get('error')}"
        for m in result.get("messages") or []
        if m.get("severity", 0) > 1
    ]
    return problems
