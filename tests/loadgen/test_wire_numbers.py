"""Integers of any size reach the wire exactly (issue 16, int64-values field case): in the
plan, in generated values, in data-file rows and in ids k6 reads back from a producer."""

import json
from pathlib import Path
from typing import Any

import pytest

from testing.paths import ROOT
from tests.loadgen.wire import k6_once, plog_gen, wire_server

pytestmark = pytest.mark.slow
FIELD_CASES = ROOT / "tests/data/field-cases"
SAFE = 2**53 - 1
BIG_ID = "9007199254740993123"  # past 2^63 too: no 64-bit type holds it either


def _unsafe_numbers(node: Any) -> list[Any]:
    """Numbers in the plan that JavaScript's JSON.parse would round."""
    if isinstance(node, bool):
        return []
    if isinstance(node, int):
        return [node] if abs(node) > SAFE else []
    if isinstance(node, dict):
        return [n for v in node.values() for n in _unsafe_numbers(v)]
    if isinstance(node, list):
        return [n for v in node for n in _unsafe_numbers(v)]
    return []


def test_int64_field_case(tmp_path: Path) -> None:
    generated = plog_gen(FIELD_CASES / "int64-values.yaml", tmp_path)
    assert _unsafe_numbers(generated.plan) == []
    with wire_server() as wire:
        wire.answers[("POST", "/entries")] = (201, b"{}")
        result = k6_once(generated.script, wire.url)
    assert result.returncode == 0, result.stderr[-3000:]
    post = wire.one("POST", "/entries")
    assert post.body == b'{"accountId":9007199254740993,"amount":5}'
    get = wire.one("GET", "/entries/")
    assert get.target == "/entries/9007199254740993?after=9007199254740993"


def _created(schema_type: str) -> dict[str, Any]:
    return {
        "post": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"example": {"owner": 9007199254740995}}},
            },
            "responses": {
                "201": {
                    "description": "created",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"id": {"type": schema_type}},
                            }
                        }
                    },
                }
            },
        }
    }


def _by_id(style: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": "id", "in": "path", "required": True, "schema": {}}
    if style:
        param["style"] = style
    ok = {"200": {"description": "ok"}}
    return {
        "parameters": [param],
        "get": {"responses": ok},
        "delete": {"responses": {"204": {"description": "gone"}}},
    }


PRODUCERS = {
    "openapi": "3.0.3",
    "info": {"title": "ids", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9"}],
    "paths": {
        "/ledgers": _created("integer"),
        "/ledgers/{id}": _by_id(),
        "/notes": _created("string"),
        "/notes/{id}": _by_id("matrix"),
    },
}


def test_ids_from_a_producer_keep_every_digit_and_their_style(tmp_path: Path) -> None:
    generated = plog_gen(PRODUCERS, tmp_path)
    assert _unsafe_numbers(generated.plan) == []
    with wire_server() as wire:
        # Numbers around the id that JSON.parse would also have to read.
        ledger = f'{{"other": [1.5e3, -0.0, {{"x": "\\u00e9\\""}}], "id": {BIG_ID}}}'
        wire.answers[("POST", "/ledgers")] = (201, ledger.encode())
        wire.answers[("POST", "/notes")] = (201, b'{"id": "a/b c;d"}')
        wire.answers[("DELETE", "/")] = (204, b"")
        result = k6_once(generated.script, wire.url)
    assert result.returncode == 0, result.stderr[-3000:]
    posts = [s for s in wire.seen if s.line.startswith("POST /ledgers ")]
    assert posts and {s.body for s in posts} == {b'{"owner":9007199254740995}'}
    assert wire.one("GET", "/ledgers/").target == f"/ledgers/{BIG_ID}"
    assert wire.one("GET", "/notes/").target == "/notes/;id=a%2Fb%20c%3Bd"
    # The DELETE creates its own resource first; teardown removes what setup made.
    deletes = {s.target for s in wire.seen if s.method == "DELETE"}
    assert deletes == {f"/ledgers/{BIG_ID}", "/notes/;id=a%2Fb%20c%3Bd"}


def test_data_file_rows_keep_every_digit(tmp_path: Path) -> None:
    spec = {
        **PRODUCERS,
        "paths": {
            "/ledgers/{id}": {
                "get": {
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {}},
                        {"name": "ref", "in": "header", "schema": {"type": "integer"}},
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            },
        },
    }
    (tmp_path / "openapi.json").write_text(json.dumps(spec), encoding="utf-8")
    (tmp_path / "rows.json").write_text(
        '[{"id": 123456789012345678901234567890, "ref": 9007199254740993}]', encoding="utf-8"
    )
    (tmp_path / "plog.yml").write_text(
        "version: 1\nservice:\n  run: 'true'\nopenapi: openapi.json\nload:\n  overrides:\n"
        "    GET /ledgers/{id}:\n      data: rows.json\n",
        encoding="utf-8",
    )
    generated = plog_gen(
        tmp_path / "openapi.json", tmp_path, "--config", str(tmp_path / "plog.yml")
    )
    assert _unsafe_numbers(generated.plan) == []
    with wire_server() as wire:
        result = k6_once(generated.script, wire.url)
    assert result.returncode == 0, result.stderr[-3000:]
    (seen,) = wire.seen
    assert seen.target == "/ledgers/123456789012345678901234567890"
    assert seen.header("ref") == "9007199254740993"
