"""Decode Prometheus remote-write 1.0 requests (snappy block + protobuf), no dependencies.

k6's ``experimental-prometheus-rw`` output pushes one small request per flush
interval (a few kilobytes: every series is already aggregated inside k6), so a
pure-Python decoder costs nothing that matters; what k6 does per request is
untouched. Only the message fields PLog reads are decoded (prompb WriteRequest,
TimeSeries, Label, Sample, Histogram, BucketSpan); others are skipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAX_BODY = 16 << 20  # a decompressed push larger than this is not from k6


class DecodeError(ValueError):
    """The body is not a snappy-compressed remote-write request."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint too long")


def snappy_decompress(data: bytes, limit: int = MAX_BODY) -> bytes:
    """Snappy *block* format (what remote write uses, not the framed format)."""
    length, pos = _varint(data, 0)
    if length > limit:
        raise DecodeError(f"decompressed size {length} exceeds {limit}")
    out = bytearray()
    end = len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            size = tag >> 2
            if size >= 60:
                extra = size - 59
                size = int.from_bytes(data[pos : pos + extra], "little")
                pos += extra
            size += 1
            if pos + size > end:
                raise DecodeError("literal runs past the end")
            out += data[pos : pos + size]
            pos += size
            continue
        if kind == 1:
            size = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            size = (tag >> 2) + 1
            offset = int.from_bytes(data[pos : pos + 2], "little")
            pos += 2
        else:
            size = (tag >> 2) + 1
            offset = int.from_bytes(data[pos : pos + 4], "little")
            pos += 4
        if offset == 0 or offset > len(out):
            raise DecodeError("copy offset out of range")
        start = len(out) - offset
        if offset >= size:
            out += out[start : start + size]
        else:  # overlapping copy repeats the pattern
            for i in range(size):
                out.append(out[start + i])
    if len(out) != length:
        raise DecodeError(f"decompressed {len(out)} bytes, header said {length}")
    return bytes(out)


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for every field of one message."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value = buf[pos : pos + 8]
            pos += 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value = buf[pos : pos + size]
            pos += size
        elif wire == 5:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
        if pos > end:
            raise DecodeError("field runs past the end of its message")
        out.append((number, wire, value))
    return out


def _zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _double(value: int | bytes) -> float:
    if not isinstance(value, bytes) or len(value) != 8:
        raise DecodeError("expected a double")
    result: float = struct.unpack("<d", value)[0]
    return result


def _packed_sint(value: int | bytes) -> list[int]:
    if isinstance(value, int):  # unpacked single element
        return [_zigzag(value)]
    out = []
    pos = 0
    while pos < len(value):
        raw, pos = _varint(value, pos)
        out.append(_zigzag(raw))
    return out


def _packed_double(value: int | bytes) -> list[float]:
    if not isinstance(value, bytes) or len(value) % 8:
        raise DecodeError("bad packed doubles")
    return list(struct.unpack(f"<{len(value) // 8}d", value))


@dataclass
class NativeHistogram:
    """One native (sparse exponential) histogram sample, buckets expanded by index."""

    count: float = 0.0
    sum: float = 0.0
    schema: int = 0
    zero_threshold: float = 0.0
    zero_count: float = 0.0
    positive: dict[int, float] = field(default_factory=dict)
    negative: dict[int, float] = field(default_factory=dict)
    timestamp_ms: int = 0


@dataclass
class Series:
    labels: dict[str, str]
    samples: list[tuple[float, int]]  # (value, timestamp ms)
    histograms: list[NativeHistogram]


def _buckets(
    spans: list[tuple[int, int]], deltas: list[int], counts: list[float]
) -> dict[int, float]:
    out: dict[int, float] = {}
    index = 0
    position = 0
    running = 0
    for offset, length in spans:
        index += offset
        for _ in range(length):
            if counts:
                value = counts[position] if position < len(counts) else 0.0
            else:
                running += deltas[position] if position < len(deltas) else 0
                value = float(running)
            if value:
                out[index] = value
            index += 1
            position += 1
    return out


def _span(buf: bytes) -> tuple[int, int]:
    offset = length = 0
    for number, _, value in _fields(buf):
        if number == 1 and isinstance(value, int):
            offset = _zigzag(value)
        elif number == 2 and isinstance(value, int):
            length = value
    return offset, length


def _histogram(buf: bytes) -> NativeHistogram:
    h = NativeHistogram()
    spans: dict[str, list[tuple[int, int]]] = {"pos": [], "neg": []}
    deltas: dict[str, list[int]] = {"pos": [], "neg": []}
    counts: dict[str, list[float]] = {"pos": [], "neg": []}
    for number, _, value in _fields(buf):
        if number == 1 and isinstance(value, int):
            h.count = float(value)
        elif number == 2:
            h.count = _double(value)
        elif number == 3:
            h.sum = _double(value)
        elif number == 4 and isinstance(value, int):
            h.schema = _zigzag(value)
        elif number == 5:
            h.zero_threshold = _double(value)
        elif number == 6 and isinstance(value, int):
            h.zero_count = float(value)
        elif number == 7:
            h.zero_count = _double(value)
        elif number in (8, 11) and isinstance(value, bytes):
            spans["neg" if number == 8 else "pos"].append(_span(value))
        elif number in (9, 12):
            deltas["neg" if number == 9 else "pos"].extend(_packed_sint(value))
        elif number in (10, 13):
            counts["neg" if number == 10 else "pos"].extend(_packed_double(value))
        elif number == 15 and isinstance(value, int):
            h.timestamp_ms = value - (1 << 64) if value >= 1 << 63 else value
    h.positive = _buckets(spans["pos"], deltas["pos"], counts["pos"])
    h.negative = _buckets(spans["neg"], deltas["neg"], counts["neg"])
    return h


def _series(buf: bytes) -> Series:
    labels: dict[str, str] = {}
    samples: list[tuple[float, int]] = []
    histograms: list[NativeHistogram] = []
    for number, _, value in _fields(buf):
        if not isinstance(value, bytes):
            continue
        if number == 1:
            name = label_value = ""
            for sub_number, _, sub in _fields(value):
                if isinstance(sub, bytes):
                    if sub_number == 1:
                        name = sub.decode("utf-8", "replace")
                    elif sub_number == 2:
                        label_value = sub.decode("utf-8", "replace")
            labels[name] = label_value
        elif number == 2:
            sample_value = 0.0
            stamp = 0
            for sub_number, _, sub in _fields(value):
                if sub_number == 1:
                    sample_value = _double(sub)
                elif sub_number == 2 and isinstance(sub, int):
                    stamp = sub - (1 << 64) if sub >= 1 << 63 else sub
            samples.append((sample_value, stamp))
        elif number == 4:
            histograms.append(_histogram(value))
    return Series(labels, samples, histograms)


def decode_write_request(body: bytes) -> list[Series]:
    """The time series of one snappy-compressed remote-write request."""
    raw = snappy_decompress(body)
    return [_series(v) for n, _, v in _fields(raw) if n == 1 and isinstance(v, bytes)]
