"""Swagger 2.0 definitions -> strict JSON Schema, and Kubernetes-style validation causes.

Strict as a server with ``fieldValidation=Strict``: an object with declared
``properties`` rejects any other field. Kubernetes decodes ``null`` as "unset", so
callers drop nulls (``drop_nulls``) before validating. ``int-or-string`` accepts both;
a ``Quantity`` (declared as a string) also accepts a number, as the API server does.
"""

from __future__ import annotations

from typing import Any

import jsonschema

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def strict(node: Any) -> Any:
    """One swagger schema node -> JSON Schema (draft 4) that rejects unknown fields."""
    if isinstance(node, list):
        return [strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if out.get("format") == "int-or-string":
        out.pop("type", None)
        out.pop("format")
        out["type"] = ["integer", "string"]
    elif out.get("format") in ("int32", "int64"):
        bits = 31 if out.pop("format") == "int32" else 63
        out.update(minimum=-(2**bits), maximum=2**bits - 1)
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def strict_definitions(definitions: dict[str, Any]) -> dict[str, Any]:
    out = {name: strict(schema) for name, schema in definitions.items()}
    if QUANTITY in out:
        out[QUANTITY] = {"type": ["string", "number"]}
    return out


def drop_nulls(value: Any) -> Any:
    """``value`` without the ``null`` members of its objects (how the server decodes them)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def causes(validator: jsonschema.protocols.Validator, body: Any) -> list[dict[str, str]]:
    """Every way ``body`` breaks the schema, as Status ``details.causes`` entries
    (``{"reason", "message", "field"}``), sorted by field; ``[]`` when valid."""
    out: list[dict[str, str]] = []
    for error in validator.iter_errors(body):
        where = field_path(error.absolute_path)
        if error.validator == "additionalProperties":
            schema: Any = error.schema
            known = set(schema.get("properties", {}) if isinstance(schema, dict) else ())
            instance: Any = error.instance
            for name in sorted(set(instance) - known):
                field = f"{where}.{name}" if where else name
                out.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": f'strict decoding error: unknown field "{field}"',
                        "field": field,
                    }
                )
            continue
        reason = "FieldValueInvalid"
        field = where
        if error.validator == "required":
            reason = "FieldValueRequired"
            missing = str(error.message).split("'")[1] if "'" in error.message else ""
            field = f"{where}.{missing}" if where and missing else missing or where
        elif error.validator == "enum":
            reason = "FieldValueNotSupported"
        out.append({"reason": reason, "message": f"{field}: {error.message}", "field": field})
    return sorted(out, key=lambda c: (c["field"], c["message"]))


def field_path(parts: Any) -> str:
    """``["spec", "containers", 0, "image"]`` -> ``spec.containers[0].image`` (kube's form)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
