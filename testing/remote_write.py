"""Hand-built Prometheus remote-write bytes: protobuf fields and a snappy literal block."""

from __future__ import annotations


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, wire: int, payload: bytes) -> bytes:
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def snappy_literal(data: bytes) -> bytes:
    """Snappy block with one literal element (valid, uncompressed)."""
    size = len(data) - 1
    if size < 60:
        return varint(len(data)) + bytes([size << 2]) + data
    return varint(len(data)) + bytes([61 << 2]) + size.to_bytes(2, "little") + data


def label(name: str, value: str) -> bytes:
    return field(1, 2, field(1, 2, name.encode()) + field(2, 2, value.encode()))
