"""k6-operator ``TestRun`` manifests for the same script, checked against the CRD.

k6-operator runs ``parallelism`` pods, each with its own execution segment,
but cannot merge their histograms or judge gates on the whole; PLog's
capture can when the pods push to it (``capture_url``): then the pods run with
``--no-thresholds`` and PLog judges the merged result (``runner.testrun``). The schema PLog
checks against is an excerpt of k6-operator's CRD (see the JSON file's
``$comment``), validated strictly: unknown fields are errors, as with
``kubectl apply --validate=strict``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from plog_ci.errors import InputError
from plog_ci.loadgen.script import Script
from plog_ci.runner.k6 import OUTPUT, capture_env

SCHEMA_PATH = Path(str(resources.files("plog_ci.runner") / "schema" / "k6.io_testruns.json"))
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@cache
def crd_schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    strict: dict[str, Any] = _strict(doc["openAPIV3Schema"])
    return strict


def _strict(node: Any) -> Any:
    """OpenAPI v3 structural schema → JSON Schema that rejects unknown fields."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        if out.get("format") == "int32":
            out.pop("format")
            out.update(minimum=-(2**31), maximum=2**31 - 1)
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def validate_testrun(manifest: dict[str, Any]) -> None:
    """Raise InputError listing every way ``manifest`` breaks the TestRun CRD."""
    validator = jsonschema.Draft7Validator(crd_schema())
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors
        ]
        raise InputError(
            "TestRun manifest does not match the k6-operator CRD:\n" + "\n".join(lines)
        )


def testrun_manifests(
    script: Script,
    *,
    name: str,
    parallelism: int,
    base_url: str,
    namespace: str | None = None,
    capture_url: str | None = None,
    image: str | None = None,
    targets: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """A ConfigMap holding the script and a TestRun that runs it in ``parallelism`` pods.

    ``targets``: more environment variables naming URLs for the pods (a two-sided
    script's side URLs); like ``base_url``, each host must be in the script's
    allow-list. Raises InputError for a bad name, parallelism or host."""
    if not _DNS_LABEL.match(name):
        raise InputError(f"TestRun name {name!r} is not a DNS label (a-z, 0-9, '-')")
    if not 1 <= parallelism <= 1000:
        raise InputError(f"parallelism {parallelism} is not between 1 and 1000")
    for url in (base_url, *(targets or {}).values()):
        host = (urlsplit(url).hostname or "").lower()
        if script.allow_hosts and host not in script.allow_hosts:
            raise InputError(
                f"TestRun target host {host!r} is not in the script's allow-list "
                f"({', '.join(script.allow_hosts)})",
                hint="generate the script with --allow-host for the in-cluster service name",
            )
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    env: list[dict[str, Any]] = [
        {"name": "BASE_URL", "value": base_url},
        {"name": "K6_NO_USAGE_REPORT", "value": "true"},
        *({"name": k, "value": v} for k, v in sorted((targets or {}).items())),
    ]
    arguments = "--no-color"
    if capture_url:
        env += [{"name": k, "value": v} for k, v in sorted(capture_env(capture_url).items())]
        # PLog judges the merged result it captures; no pod judges its own share.
        arguments += f" --out {OUTPUT} --no-thresholds"
    for secret_name in script.secret_env:
        env.append(
            {
                "name": secret_name,
                "valueFrom": {"secretKeyRef": {"name": f"{name}-auth", "key": secret_name}},
            }
        )
    runner: dict[str, Any] = {"env": env}
    if image:
        runner["image"] = image
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": dict(meta, name=f"{name}-script"),
        "data": {"script.js": script.text},
    }
    testrun = {
        "apiVersion": "k6.io/v1alpha1",
        "kind": "TestRun",
        "metadata": meta,
        "spec": {
            "parallelism": parallelism,
            "script": {"configMap": {"name": f"{name}-script", "file": "script.js"}},
            "arguments": arguments,
            "separate": False,
            "runner": runner,
        },
    }
    validate_testrun(testrun)
    return [config_map, testrun]
