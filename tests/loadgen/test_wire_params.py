"""Parameters on the wire: ``plog gen``, then ``k6 run --vus 1 --iterations 1`` against a
loopback server that records each request line and header as it arrived.

Every style of OpenAPI 3.x (3.1.1 "Style Examples") and Swagger 2.0 collectionFormat,
the deep-object field case, and what PLog refuses to send (said per operation).
"""

from pathlib import Path
from typing import Any

import pytest

from testing.paths import ROOT
from tests.loadgen.wire import Generated, Wire, k6_once, plog_gen, wire_server

pytestmark = pytest.mark.slow
FIELD_CASES = ROOT / "tests/data/field-cases"


def _get(*params: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"parameters": list(params), "responses": {"200": {"description": "ok"}}}}


def _p(name: str, where: str, example: Any, schema_type: str, **kw: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": schema_type}
    if schema_type == "array":
        schema["items"] = {"type": "integer" if isinstance(example[0], int) else "string"}
    return {"name": name, "in": where, "required": True, "example": example, "schema": schema, **kw}


STYLES: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "styles", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9"}],
    "paths": {
        "/form-flat": _get(
            _p("filter", "query", {"colour": "red", "size": "M"}, "object", explode=False)
        ),
        "/space": _get(_p("ids", "query", [3, 4, 5], "array", style="spaceDelimited")),
        "/pipe": _get(_p("ids", "query", [3, 4, 5], "array", style="pipeDelimited")),
        "/simple/{id}": _get(_p("id", "path", [3, 4, 5], "array")),
        "/label/{id}": _get(_p("id", "path", [3, 4, 5], "array", style="label", explode=True)),
        "/label-flat/{id}": _get(_p("id", "path", [3, 4, 5], "array", style="label")),
        "/matrix/{id}": _get(_p("id", "path", [3, 4, 5], "array", style="matrix")),
        "/matrix-explode/{id}": _get(
            _p("id", "path", [3, 4, 5], "array", style="matrix", explode=True)
        ),
        "/matrix-object/{point}": _get(
            _p("point", "path", {"x": 1, "y": 2}, "object", style="matrix", explode=True)
        ),
        "/headers": _get(
            _p("X-Colours", "header", ["red", "blue"], "array"),
            _p("X-Rgb", "header", {"R": 100, "G": 200}, "object", explode=True),
        ),
        "/cookies": _get(
            _p("c", "cookie", ["red", "blue"], "array", explode=False),
            _p("session", "cookie", "a b", "string"),
        ),
        "/exploded": _get(
            _p("tag", "query", ["a", "b"], "array"),
            _p("rgb", "query", {"R": 100, "G": 200}, "object"),
        ),
        "/deep-array": _get(
            _p("expand", "query", ["a", "b"], "array", style="deepObject", explode=True),
            _p("limit", "query", 3, "integer", style="deepObject"),
        ),
        "/reserved": _get(
            _p("q", "query", "a/b?c", "string", allowReserved=True),
            _p("r", "query", "a/b c&d", "string"),
        ),
        "/content": _get(
            {
                "name": "coords",
                "in": "query",
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "object"},
                        "example": {"lat": 1, "long": 2},
                    }
                },
            }
        ),
        "/unsendable": _get(
            _p("ids", "query", [1, 2], "array", style="spaceDelimited", explode=True)
        ),
        "/optional-bad": _get(
            {
                **_p("ids", "query", [1, 2], "array", style="pipeDelimited", explode=True),
                "required": False,
            },
            _p("ok", "query", "yes", "string"),
        ),
    },
}

SWAGGER2: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "collections", "version": "1"},
    "host": "127.0.0.1:9",
    "paths": {
        **{
            f"/{fmt}": _get(
                {
                    "name": "ids",
                    "in": "query",
                    "required": True,
                    "type": "array",
                    "items": {"type": "string"},
                    "default": ["a", "b c"],
                    **({"collectionFormat": fmt} if fmt != "default" else {}),
                }
            )
            for fmt in ("default", "csv", "ssv", "tsv", "pipes", "multi")
        },
        "/path/{ids}": _get(
            {
                "name": "ids",
                "in": "path",
                "required": True,
                "type": "array",
                "items": {"type": "integer"},
                "default": [3, 4],
            }
        ),
    },
}


@pytest.fixture(scope="module")
def styles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Generated, Wire]:
    tmp = tmp_path_factory.mktemp("styles")
    generated = plog_gen(STYLES, tmp)
    with wire_server() as wire:
        result = k6_once(generated.script, wire.url)
    assert result.returncode == 0, result.stderr[-3000:]
    return generated, wire


def test_deep_object_field_case(tmp_path: Path) -> None:
    generated = plog_gen(FIELD_CASES / "deep-object-query.yaml", tmp_path)
    with wire_server() as wire:
        result = k6_once(generated.script, wire.url)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [s.line for s in wire.seen] == [
        "GET /products?filter%5Bcolour%5D=red&filter%5Bsize%5D=M HTTP/1.1"
    ]


@pytest.mark.parametrize(
    ("method", "path", "target"),
    [
        ("GET", "/form-flat", "/form-flat?filter=colour,red,size,M"),
        ("GET", "/space", "/space?ids=3%204%205"),
        ("GET", "/pipe", "/pipe?ids=3%7C4%7C5"),
        ("GET", "/simple/", "/simple/3,4,5"),
        ("GET", "/label/", "/label/.3.4.5"),
        ("GET", "/label-flat/", "/label-flat/.3,4,5"),
        ("GET", "/matrix/", "/matrix/;id=3,4,5"),
        ("GET", "/matrix-explode/", "/matrix-explode/;id=3;id=4;id=5"),
        ("GET", "/matrix-object/", "/matrix-object/;x=1;y=2"),
        ("GET", "/exploded", "/exploded?tag=a&tag=b&R=100&G=200"),
        ("GET", "/reserved", "/reserved?q=a/b?c&r=a%2Fb%20c%26d"),
        ("GET", "/content", "/content?coords=%7B%22lat%22%3A1%2C%22long%22%3A2%7D"),
        ("GET", "/optional-bad", "/optional-bad?ok=yes"),
        ("GET", "/deep-array", "/deep-array?expand%5B0%5D=a&expand%5B1%5D=b&limit=3"),
    ],
)
def test_styles_on_the_wire(styles: tuple[Generated, Wire], method: str, path: str, target: str):
    _, wire = styles
    assert wire.one(method, path).target == target


def test_headers_and_cookies_on_the_wire(styles: tuple[Generated, Wire]) -> None:
    _, wire = styles
    headers = wire.one("GET", "/headers")
    assert headers.header("X-Colours") == "red,blue"
    assert headers.header("X-Rgb") == "R=100,G=200"
    cookies = wire.one("GET", "/cookies")
    assert cookies.header("Cookie") == "c=red,blue; session=a%20b"


def test_what_cannot_be_sent_is_said_per_operation_and_not_sent(styles: tuple[Generated, Wire]):
    generated, wire = styles
    assert not [s for s in wire.seen if s.path.startswith("/unsendable")]
    assert "GET /unsendable" not in [op["name"] for op in generated.plan["operations"]]
    lines = generated.output.splitlines()
    assert any(
        line.startswith("warning: GET /unsendable: not loaded: query parameter 'ids'")
        and "spaceDelimited with explode: true is undefined" in line
        and "load.overrides" in line
        for line in lines
    ), generated.output
    assert any(
        line.startswith("warning: GET /optional-bad: query parameter 'ids' is not sendable")
        for line in lines
    ), generated.output
    # Each other operation was sent exactly once: the script's default function.
    sent = sorted(s.path.split("/")[1] for s in wire.seen)
    assert len(sent) == len(STYLES["paths"]) - 1 == len(set(sent))


def test_swagger2_collection_formats_and_path_arrays(tmp_path: Path) -> None:
    generated = plog_gen(SWAGGER2, tmp_path)
    with wire_server() as wire:
        result = k6_once(generated.script, wire.url)
    assert result.returncode == 0, result.stderr[-3000:]
    targets = {s.path: s.target for s in wire.seen}
    assert targets == {
        "/default": "/default?ids=a,b%20c",  # Swagger 2.0's default is csv
        "/csv": "/csv?ids=a,b%20c",
        "/ssv": "/ssv?ids=a%20b%20c",
        "/tsv": "/tsv?ids=a%09b%20c",
        "/pipes": "/pipes?ids=a%7Cb%20c",
        "/multi": "/multi?ids=a&ids=b%20c",
        "/path/3,4": "/path/3,4",
    }
