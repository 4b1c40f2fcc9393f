"""The remote-write decoder against hand-built snappy + protobuf bytes."""

import struct

import pytest

from plog_ci.runner.remote_write import DecodeError, decode_write_request, snappy_decompress
from testing.remote_write import field, label, snappy_literal, varint, zigzag


def test_snappy_copies_including_overlap():
    # "abcd" literal, then a 1-byte-offset copy of 8 bytes at offset 4 (overlapping).
    body = varint(12) + bytes([3 << 2]) + b"abcd" + bytes([((8 - 4) << 2) | 1, 4])
    assert snappy_decompress(body) == b"abcdabcdabcd"
    two_byte = (
        varint(8) + bytes([3 << 2]) + b"wxyz" + bytes([(3 << 2) | 2]) + (4).to_bytes(2, "little")
    )
    assert snappy_decompress(two_byte) == b"wxyzwxyz"


@pytest.mark.parametrize(
    "body",
    [
        varint(5) + bytes([3 << 2]) + b"abcd",  # shorter than the header says
        varint(8) + bytes([3 << 2]) + b"abcd" + bytes([(3 << 2) | 1, 9]),  # offset past start
        varint(1 << 30),  # absurd size
        b"\xff\xff\xff",  # truncated varint
    ],
)
def test_snappy_rejects_garbage(body):
    with pytest.raises(DecodeError):
        snappy_decompress(body)


def test_decodes_counter_and_native_histogram():
    sample = field(2, 2, field(1, 1, struct.pack("<d", 42.0)) + field(2, 0, varint(1700000000123)))
    counter = field(
        1, 2, label("__name__", "k6_http_reqs_total") + label("name", "GET /a") + sample
    )
    spans = field(11, 2, field(1, 0, varint(zigzag(-5))) + field(2, 0, varint(2))) + field(
        11, 2, field(1, 0, varint(zigzag(3))) + field(2, 0, varint(1))
    )
    deltas = field(12, 2, b"".join(varint(zigzag(d)) for d in (4, -1, 2)))
    hist = (
        field(1, 0, varint(9))
        + field(3, 1, struct.pack("<d", 0.5))
        + field(4, 0, varint(zigzag(3)))
        + field(5, 1, struct.pack("<d", 1e-9))
        + field(6, 0, varint(0))
        + spans
        + deltas
        + field(15, 0, varint(1700000000999))
    )
    series = field(1, 2, label("__name__", "k6_http_req_duration_seconds") + field(4, 2, hist))
    decoded = decode_write_request(snappy_literal(counter + series))
    assert decoded[0].labels == {"__name__": "k6_http_reqs_total", "name": "GET /a"}
    assert decoded[0].samples == [(42.0, 1700000000123)]
    h = decoded[1].histograms[0]
    assert (h.count, h.sum, h.schema, h.timestamp_ms) == (9.0, 0.5, 3, 1700000000999)
    # spans: start -5, len 2 -> buckets -5, -4; then a gap of 3 -> bucket 0; deltas 4, -1, 2.
    assert h.positive == {-5: 4.0, -4: 3.0, 0: 5.0}


def test_truncated_message_is_an_error():
    with pytest.raises(DecodeError):
        decode_write_request(snappy_literal(field(1, 2, b"\x0a\x05ab")))
