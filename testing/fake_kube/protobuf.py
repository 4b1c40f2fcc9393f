"""Kubernetes protobuf request bodies decoded to JSON objects, for the kinds Helm's release
storage writes (Secret, ConfigMap, DeleteOptions): client-go's typed clients send protobuf.

Wire format: the bytes ``k8s\\x00`` then a ``runtime.Unknown`` (1: typeMeta {1: apiVersion,
2: kind}, 2: raw, 3: contentEncoding, 4: contentType); ``raw`` is the object's message.
Field numbers are those of k8s.io/api and k8s.io/apimachinery ``generated.proto``. Empty
strings, zero numbers and zero times are what gogo-protobuf writes for unset fields: they
are dropped, as the JSON form omits them.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"

# message name -> field number -> (json name, kind); kinds: str, bytes, int, bool, a message
# name, "map:str", "map:bytes", "list:str", "list:<message>"
MESSAGES: dict[str, dict[int, tuple[str, str]]] = {
    "Unknown": {
        1: ("typeMeta", "TypeMeta"),
        2: ("raw", "bytes"),
        3: ("contentEncoding", "str"),
        4: ("contentType", "str"),
    },
    "TypeMeta": {1: ("apiVersion", "str"), 2: ("kind", "str")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "ObjectMeta": {
        1: ("name", "str"),
        2: ("generateName", "str"),
        3: ("namespace", "str"),
        4: ("selfLink", "str"),
        5: ("uid", "str"),
        6: ("resourceVersion", "str"),
        7: ("generation", "int"),
        8: ("creationTimestamp", "Time"),
        9: ("deletionTimestamp", "Time"),
        10: ("deletionGracePeriodSeconds", "int"),
        11: ("labels", "map:str"),
        12: ("annotations", "map:str"),
        13: ("ownerReferences", "list:OwnerReference"),
        14: ("finalizers", "list:str"),
    },
    "OwnerReference": {
        1: ("kind", "str"),
        3: ("name", "str"),
        4: ("uid", "str"),
        5: ("apiVersion", "str"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int"),
        2: ("preconditions", "Preconditions"),
        3: ("orphanDependents", "bool"),
        4: ("propagationPolicy", "str"),
        5: ("dryRun", "list:str"),
        6: ("ignoreStoreReadErrorWithClusterBreakingPotential", "bool"),
    },
    "Preconditions": {1: ("uid", "str"), 2: ("resourceVersion", "str")},
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map:bytes"),
        3: ("type", "str"),
        4: ("stringData", "map:str"),
        5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map:str"),
        3: ("binaryData", "map:bytes"),
        4: ("immutable", "bool"),
    },
}
KINDS = {
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "DeleteOptions"): "DeleteOptions",
    ("meta.k8s.io/v1", "DeleteOptions"): "DeleteOptions",
}


class ProtobufError(ValueError):
    """Not a Kubernetes protobuf body, or a kind the fake cannot decode."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            out.append((number, int.from_bytes(data[pos : pos + size], "little")))
            pos += size
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _value(kind: str, raw: int | bytes) -> Any:
    if kind == "int":
        assert isinstance(raw, int)
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    if kind == "bool":
        return bool(raw)
    if not isinstance(raw, bytes):
        raise ProtobufError(f"expected bytes for {kind}")
    if kind == "str":
        return raw.decode("utf-8")
    if kind == "bytes":
        return raw
    return message(kind, raw)


def message(name: str, data: bytes) -> dict[str, Any]:
    """Decode message ``name`` (a key of MESSAGES); unknown fields are refused."""
    spec = MESSAGES[name]
    out: dict[str, Any] = {}
    for number, raw in _fields(data):
        if number not in spec:
            raise ProtobufError(f"{name}: field {number} is not one the fake decodes")
        field, kind = spec[number]
        if kind.startswith("map:"):
            entry = dict(_fields(raw if isinstance(raw, bytes) else b""))
            key = _value("str", entry.get(1, b""))
            value = _value(kind[4:], entry.get(2, b""))
            out.setdefault(field, {})[key] = value
        elif kind.startswith("list:"):
            out.setdefault(field, []).append(_value(kind[5:], raw))
        else:
            out[field] = _value(kind, raw)
    return out


def _json(name: str, obj: dict[str, Any]) -> dict[str, Any]:
    spec = {field: kind for field, kind in MESSAGES[name].values()}
    out: dict[str, Any] = {}
    for field, value in obj.items():
        kind = spec[field]
        if kind == "Time":
            if value.get("seconds"):
                stamp = datetime.fromtimestamp(value["seconds"], UTC)
                out[field] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif kind in MESSAGES:
            out[field] = _json(kind, value)
        elif kind == "map:bytes":
            out[field] = {k: base64.b64encode(v).decode() for k, v in value.items()}
        elif kind.startswith("list:") and kind[5:] in MESSAGES:
            out[field] = [_json(kind[5:], v) for v in value]
        elif value not in ("", 0) or kind == "bool":
            out[field] = value
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body -> the object as JSON would carry it."""
    if not body.startswith(MAGIC):
        raise ProtobufError("a Kubernetes protobuf body starts with k8s\\0")
    unknown = message("Unknown", body[len(MAGIC) :])
    type_meta = unknown.get("typeMeta", {})
    key = (type_meta.get("apiVersion", ""), type_meta.get("kind", ""))
    if key not in KINDS:
        raise ProtobufError(f"the fake decodes no protobuf {key[0]} {key[1]}")
    name = KINDS[key]
    obj = _json(name, message(name, unknown.get("raw", b"")))
    return {"apiVersion": key[0], "kind": key[1], **obj}
