"""Generate a k6 script for the selected operations.

The script is a fixed template plus one JSON document (the plan): operation
names, paths and values from the spec reach JavaScript only as JSON data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from plog_ci import __version__
from plog_ci.config.durations import format_duration
from plog_ci.config.model import LoadConfig
from plog_ci.loadgen.values import for_media, for_parameter
from plog_ci.openapi.model import Operation, Spec
from plog_ci.templating import render

TREND_STATS = ["min", "avg", "med", "p(90)", "p(95)", "p(99)", "max", "count"]
_BODY_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/plain")


@dataclass(frozen=True)
class Script:
    text: str
    operations: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def plan_operation(op: Operation) -> dict[str, Any]:
    path = op.path
    for param in op.params("path"):
        path = path.replace("{" + param.name + "}", quote(_as_text(for_parameter(param)), safe=""))
    query = [
        [p.name, _as_text(for_parameter(p))] for p in op.params("query") if p.required or p.examples
    ]
    headers = {p.name: _as_text(for_parameter(p)) for p in op.params("header") if p.required}
    body: Any = None
    body_type = None
    if op.request_body and op.request_body.content:
        for media_type in _BODY_TYPES:
            if media_type in op.request_body.content:
                body_type = media_type
                body = for_media(op.request_body.content[media_type])
                break
    return {
        "name": op.key,
        "method": op.method,
        "path": path,
        "query": query,
        "headers": headers,
        "body": body,
        "bodyType": body_type,
        "expected": list(op.success_statuses()),
    }


def k6_options(load: LoadConfig, count: int) -> dict[str, Any]:
    duration = format_duration(load.duration_s)
    scenarios: dict[str, Any] = {}
    if load.rate:
        # Open model: arrivals do not wait for slow responses (no coordinated omission).
        for index in range(count):
            scenarios[f"op{index}"] = {
                "executor": "constant-arrival-rate",
                "exec": "runOperation",
                "env": {"PLOG_OP": str(index)},
                "rate": load.rate,
                "timeUnit": "1s",
                "duration": duration,
                "preAllocatedVUs": load.vus,
                "maxVUs": max(load.vus, 4 * load.vus),
            }
    else:
        scenarios["all"] = {
            "executor": "constant-vus",
            "exec": "runAll",
            "vus": load.vus,
            "duration": duration,
        }
    return {
        "scenarios": scenarios,
        "summaryTrendStats": TREND_STATS,
        "discardResponseBodies": True,
        "noConnectionReuse": False,
    }


def generate(
    spec: Spec, operations: list[Operation], load: LoadConfig, default_base_url: str | None = None
) -> Script:
    plan_ops = [plan_operation(op) for op in operations]
    options = k6_options(load, len(plan_ops))
    # Thresholds that always hold make k6 report per-operation submetrics.
    thresholds: dict[str, list[str]] = {}
    for op in plan_ops:
        tag = op["name"]
        thresholds[f"http_req_duration{{name:{tag}}}"] = ["max>=0"]
        thresholds[f"http_req_failed{{name:{tag}}}"] = ["rate>=0"]
        thresholds[f"http_reqs{{name:{tag}}}"] = ["count>=0"]
    options["thresholds"] = thresholds
    base = default_base_url or (spec.servers[0] if spec.servers else "http://127.0.0.1:8080")
    text = render(
        "k6/script.js.j2",
        version=__version__,
        source_label=spec.title or spec.source,
        plan={"defaultBaseUrl": base, "operations": plan_ops},
        options=options,
    )
    return Script(text, tuple(op["name"] for op in plan_ops))
