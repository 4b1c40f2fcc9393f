"""OpenAI's published API description, cut to chat completions, as a validator.

``tests/data/openai/chat-completions.openapi.json`` is cut from ``openapi.yaml`` of
github.com/openai/openai-openapi (MIT, ``LICENSE`` beside it; the commit is in the
cut's ``x-cut-from``) by ``cut``: the ``POST /chat/completions`` operation (without
its ``x-oaiMeta`` examples) and every schema it reaches through ``$ref``, unchanged.
Regenerate with ``python -m testing.openai_spec PATH/TO/openapi.yaml COMMIT``.

``request_errors(body)`` / ``response_errors(body)``: what is wrong with a request
body or a 200 answer, as OpenAI's schemas say (an empty list when valid).
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).resolve().parent.parent / "tests" / "data" / "openai"
CUT = SPEC / "chat-completions.openapi.json"
PATH, METHOD = "/chat/completions", "post"
ROOTS = ("CreateChatCompletionRequest", "CreateChatCompletionResponse")


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[-1])
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def cut(full: dict[str, Any], commit: str) -> dict[str, Any]:
    """The operation and the schemas it reaches (see the module doc)."""
    operation = {k: v for k, v in full["paths"][PATH][METHOD].items() if k != "x-oaiMeta"}
    schemas = full["components"]["schemas"]
    todo, kept = set(ROOTS), set[str]()
    while todo:
        name = todo.pop()
        if name in kept:
            continue
        kept.add(name)
        found: set[str] = set()
        _refs(schemas[name], found)
        todo |= found - kept
    return {
        "openapi": full["openapi"],
        "info": {**full["info"], "x-cut-from": f"openai/openai-openapi@{commit} openapi.yaml"},
        "paths": {PATH: {METHOD: operation}},
        "components": {"schemas": {name: schemas[name] for name in sorted(kept)}},
    }


@cache
def _spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CUT.read_text(encoding="utf-8"))
    return data


def _validator(name: str) -> OAS31Validator:
    spec = _spec()
    registry: Registry[Any] = Registry().with_resource(
        "urn:openai", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    schema = {"$ref": f"urn:openai#/components/schemas/{name}"}
    return OAS31Validator(schema, registry=registry)


def _errors(name: str, body: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:300]}"
        for e in _validator(name).iter_errors(body)
    ]


def request_errors(body: Any) -> list[str]:
    return _errors("CreateChatCompletionRequest", body)


def response_errors(body: Any) -> list[str]:
    return _errors("CreateChatCompletionResponse", body)


def main(argv: list[str]) -> None:
    import yaml  # type: ignore[import-untyped]

    full = yaml.safe_load(Path(argv[0]).read_text(encoding="utf-8"))
    CUT.write_text(json.dumps(cut(full, argv[1]), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {CUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
