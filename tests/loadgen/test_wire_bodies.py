"""Request bodies on the wire: each body type through ``plog gen`` and a real
``k6 run --vus 1 --iterations 1`` to a recording loopback server, byte for byte;
the multipart field case; what cannot be rendered is said per operation and not sent."""

import json
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from plog_ci.loadgen.bodies import choose, kind_of
from plog_ci.loadgen.serialize import Unsendable
from plog_ci.openapi.model import Encoding, MediaType, RequestBody
from testing.paths import ROOT
from testing.specs import spec_from_dict
from tests.loadgen.wire import Generated, Wire, k6_once, plog_gen, wire_server

FIELD_CASES = ROOT / "tests/data/field-cases"


def _post(content: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {
        "post": {
            "requestBody": {"required": required, "content": content},
            "responses": {"204": {"description": "stored"}},
        }
    }


PET_XML = {
    "type": "object",
    "xml": {"name": "Pet"},
    "required": ["id", "name", "tags"],
    "properties": {
        "id": {"type": "integer", "example": 9007199254740993, "xml": {"attribute": True}},
        "name": {"type": "string", "example": "Rex & <Co>", "xml": {"name": "petName"}},
        "tags": {
            "type": "array",
            "example": ["a", "b"],
            "items": {"type": "string", "xml": {"name": "tag"}},
            "xml": {"wrapped": True},
        },
    },
}
BODIES: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "bodies", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9"}],
    "paths": {
        "/json": _post(
            {
                "application/xml": {"schema": PET_XML},
                "application/json": {"example": {"big": 123456789012345678901234567890}},
            }
        ),
        "/vnd": _post({"application/vnd.api+json": {"example": {"data": {"type": "x"}}}}),
        "/form": _post(
            {
                "application/x-www-form-urlencoded": {
                    "example": {
                        "name": "a b+c",
                        "tags": ["x", "y"],
                        "meta": {"k": "v"},
                        "rgb": {"R": 1, "G": 2},
                        "ids": [1, 2],
                    },
                    "encoding": {
                        "tags": {"style": "form", "explode": False},
                        "rgb": {"style": "deepObject", "explode": True},
                    },
                }
            }
        ),
        "/multi": _post(
            {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "title": {"type": "string", "example": "report"},
                            "file": {"type": "string", "format": "binary"},
                            "photo": {"type": "string", "format": "binary"},
                            "pages": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "minItems": 2,
                            },
                            "meta": {"type": "object", "properties": {"n": {"type": "integer"}}},
                            "count": {"type": "integer", "example": 9007199254740993},
                        },
                    },
                    "encoding": {"photo": {"contentType": "image/png"}},
                }
            }
        ),
        "/text": _post({"text/plain": {"schema": {"type": "string", "example": "hello world"}}}),
        "/xml": _post({"application/xml": {"schema": PET_XML}}),
        "/octet": _post(
            {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        ),
        "/png": _post({"image/png": {"schema": {"type": "string", "format": "binary"}}}),
        "/png-optional": _post(
            {"image/png": {"schema": {"type": "string", "format": "binary"}}}, required=False
        ),
        "/xml-no-name": _post({"application/xml": {"schema": {"type": "object"}}}),
    },
}


def _multipart(seen_headers: list[tuple[str, str]], body: bytes) -> list[Any]:
    content_type = dict((k.lower(), v) for k, v in seen_headers)["content-type"]
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    assert message.is_multipart() and not message.defects
    return list(message.iter_parts())


@pytest.fixture(scope="module")
def bodies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Generated, Wire]:
    tmp = tmp_path_factory.mktemp("bodies")
    generated = plog_gen(BODIES, tmp)
    with wire_server() as wire:
        for path in BODIES["paths"]:
            wire.answers[("POST", path)] = (204, b"")
        result = k6_once(generated.script, wire.url)
    assert result.returncode == 0, result.stderr[-3000:]
    return generated, wire


@pytest.mark.slow
def test_json_first_with_every_digit(bodies: tuple[Generated, Wire]) -> None:
    _, wire = bodies
    seen = wire.one("POST", "/json")
    assert seen.header("Content-Type") == "application/json"
    assert seen.body == b'{"big":123456789012345678901234567890}'
    vnd = wire.one("POST", "/vnd")
    assert vnd.header("Content-Type") == "application/vnd.api+json"
    assert json.loads(vnd.body) == {"data": {"type": "x"}}


@pytest.mark.slow
def test_form_urlencoded_with_its_encoding(bodies: tuple[Generated, Wire]) -> None:
    _, wire = bodies
    seen = wire.one("POST", "/form")
    assert seen.header("Content-Type") == "application/x-www-form-urlencoded"
    assert seen.body == (b"name=a%20b%2Bc&tags=x,y&k=v&rgb%5BR%5D=1&rgb%5BG%5D=2&ids=1&ids=2")
    assert parse_qsl(seen.body.decode())[:2] == [("name", "a b+c"), ("tags", "x,y")]


@pytest.mark.slow
def test_multipart_parts_files_and_json(bodies: tuple[Generated, Wire]) -> None:
    _, wire = bodies
    seen = wire.one("POST", "/multi")
    assert seen.header("Content-Type").startswith("multipart/form-data; boundary=plog-")
    parts = _multipart(seen.headers, seen.body)
    got = [
        (p.get_param("name", header="content-disposition"), p.get_filename(), p.get_content_type())
        for p in parts
    ]
    assert got == [
        ("title", None, "text/plain"),
        ("file", "file.bin", "application/octet-stream"),
        ("photo", "photo.png", "image/png"),
        ("pages", "pages.bin", "application/octet-stream"),
        ("pages", "pages.bin", "application/octet-stream"),
        ("meta", None, "application/json"),
        ("count", None, "text/plain"),
    ]
    assert "Content-Type" not in parts[0]  # a text part: RFC 7578's default
    assert parts[0].get_payload() == "report"
    assert json.loads(parts[5].get_payload()) == {"n": 1}
    assert parts[6].get_payload() == "9007199254740993"


@pytest.mark.slow
def test_text_xml_and_octet_stream(bodies: tuple[Generated, Wire]) -> None:
    _, wire = bodies
    text = wire.one("POST", "/text")
    assert (text.header("Content-Type"), text.body) == ("text/plain", b"hello world")
    xml = wire.one("POST", "/xml")
    assert xml.header("Content-Type") == "application/xml"
    assert xml.body == (
        b'<?xml version="1.0" encoding="UTF-8"?><Pet id="9007199254740993">'
        b"<petName>Rex &amp; &lt;Co&gt;</petName><tags><tag>a</tag><tag>b</tag></tags></Pet>"
    )
    octet = wire.one("POST", "/octet")
    assert octet.header("Content-Type") == "application/octet-stream"
    assert octet.body == b"example"


@pytest.mark.slow
def test_bodies_plog_cannot_render_are_said_and_not_sent(bodies: tuple[Generated, Wire]) -> None:
    generated, wire = bodies
    paths = {s.path for s in wire.seen}
    assert "/png" not in paths and "/xml-no-name" not in paths
    optional = wire.one("POST", "/png-optional")  # sent, without the body it cannot make
    assert optional.body == b"" and optional.header("Content-Type") is None
    output = generated.output
    assert "warning: POST /png: not loaded: request body: image/png bodies are not generated" in (
        output
    )
    assert "warning: POST /xml-no-name: not loaded: request body: application/xml: " in output
    assert "names no root element (xml.name)" in output
    assert "warning: POST /png-optional: optional request body left out" in output
    assert len(wire.seen) == len(BODIES["paths"]) - 2


@pytest.mark.slow
def test_multipart_field_case(tmp_path: Path) -> None:
    generated = plog_gen(FIELD_CASES / "multipart-bodies.yaml", tmp_path)
    assert (
        "warning: POST /attachments: not loaded: request body: multipart/form-data: the schema "
        "yields no part" in generated.output
    )
    with wire_server() as wire:
        wire.answers[("POST", "/")] = (204, b"")
        result = k6_once(generated.script, wire.url)
    assert result.returncode == 0, result.stderr[-3000:]
    (seen,) = wire.seen
    assert seen.line == "POST /documents HTTP/1.1"
    title, file = _multipart(seen.headers, seen.body)
    assert title.get_param("name", header="content-disposition") == "title"
    assert title.get_payload() == "report"
    assert file.get_filename() == "file.bin"
    assert file.get_content_type() == "application/octet-stream"


@pytest.mark.slow
def test_an_override_body_makes_the_free_form_multipart_sendable(tmp_path: Path) -> None:
    spec = (FIELD_CASES / "multipart-bodies.yaml").read_text(encoding="utf-8")
    (tmp_path / "openapi.yaml").write_text(spec, encoding="utf-8")
    (tmp_path / "plog.yml").write_text(
        "version: 1\nservice:\n  run: 'true'\nopenapi: openapi.yaml\nload:\n  overrides:\n"
        "    POST /attachments:\n      body: {note: hi, tags: [a, b]}\n",
        encoding="utf-8",
    )
    generated = plog_gen(
        tmp_path / "openapi.yaml", tmp_path, "--config", str(tmp_path / "plog.yml")
    )
    assert "not loaded" not in generated.output
    with wire_server() as wire:
        wire.answers[("POST", "/")] = (204, b"")
        result = k6_once(generated.script, wire.url)
    assert result.returncode == 0, result.stderr[-3000:]
    parts = _multipart(*(lambda s: (s.headers, s.body))(wire.one("POST", "/attachments")))
    assert [
        (p.get_param("name", header="content-disposition"), p.get_payload()) for p in parts
    ] == [
        ("note", "hi"),
        ("tags", "a"),
        ("tags", "b"),
    ]


# Without k6: the choice of body type, and how Swagger 2.0 forms become bodies.


def test_body_type_preference_json_first() -> None:
    ranks = [
        kind_of(t)
        for t in (
            "application/json; charset=utf-8",
            "application/merge-patch+json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "text/plain",
            "application/atom+xml",
            "application/octet-stream",
            "*/*",
            "text/*",
        )
    ]
    assert [r[0] for r in ranks if r] == list(range(9))
    assert ranks[0] == (0, "json", "application/json; charset=utf-8")
    assert ranks[7] == (7, "json", "application/json")
    assert kind_of("image/png") is None and kind_of("application/pdf") is None


def test_a_type_that_cannot_render_yields_to_the_next() -> None:
    body = RequestBody(
        True,
        {
            "application/json": MediaType("application/json", {"type": "number"}, (float("nan"),)),
            "text/plain": MediaType("text/plain", {"type": "string"}, ("plain",)),
        },
    )
    chosen = choose(body, lambda m: m.examples[0], None, [])
    assert chosen is not None and (chosen.content_type, chosen.text) == ("text/plain", "plain")
    only_json = RequestBody(True, {"application/json": body.content["application/json"]})
    with pytest.raises(Unsendable, match="JSON cannot carry"):
        choose(only_json, lambda m: m.examples[0], None, [])
    notes: list[str] = []
    assert (
        choose(RequestBody(False, only_json.content), lambda m: m.examples[0], None, notes) is None
    )
    assert notes and "JSON cannot carry" in notes[0]


def test_swagger2_form_data_becomes_a_form_body() -> None:
    spec = spec_from_dict(
        {
            "swagger": "2.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/upload": {
                    "post": {
                        "parameters": [
                            {"name": "title", "in": "formData", "type": "string", "required": True},
                            {"name": "file", "in": "formData", "type": "file"},
                        ],
                        "responses": {"200": {"description": "ok"}},
                    }
                },
                "/form": {
                    "post": {
                        "consumes": ["application/json", "application/x-www-form-urlencoded"],
                        "parameters": [
                            {
                                "name": "tags",
                                "in": "formData",
                                "type": "array",
                                "items": {"type": "string"},
                                "collectionFormat": "multi",
                            },
                        ],
                        "responses": {"200": {"description": "ok"}},
                    }
                },
            },
        }
    )
    upload = spec.operations["POST /upload"].request_body
    assert (
        upload is not None and upload.required and list(upload.content) == ["multipart/form-data"]
    )
    schema = upload.content["multipart/form-data"].schema or {}
    assert schema["properties"]["file"] == {"type": "string", "format": "binary"}
    assert schema["required"] == ["title"]
    form = spec.operations["POST /form"].request_body
    assert form is not None and list(form.content) == ["application/x-www-form-urlencoded"]
    encoding = form.content["application/x-www-form-urlencoded"].encoding
    assert encoding == {"tags": Encoding(style="form", explode=True)}


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("value", "encoding", "want"),
    [
        # OpenAPI 3.1 "Encoding Object": no entry -> style form, explode true.
        ({"obj": {"k": "v"}}, {}, "k=v"),
        ({"obj": {"a b": "c&d", "n": 1}}, {}, "a%20b=c%26d&n=1"),
        ({"ids": ["a", "b"]}, {}, "ids=a&ids=b"),
        ({"name": "x y", "obj": {"k": "v"}}, {}, "name=x%20y&k=v"),
        # Only contentType sends the property as that content.
        (
            {"obj": {"k": "v"}},
            {"obj": Encoding(content_type="application/json")},
            "obj=%7B%22k%22%3A%22v%22%7D",
        ),
        (
            {"ids": [1, 2]},
            {"ids": Encoding(content_type="application/json")},
            "ids=%5B1%2C2%5D",
        ),
        ({"obj": {"k": "v"}}, {"obj": Encoding(explode=False)}, "obj=k,v"),
    ],
)
def test_form_properties_follow_the_encoding_defaults(
    value: dict[str, Any], encoding: dict[str, Encoding], want: str
) -> None:
    media = MediaType(FORM, {"type": "object"}, (value,), encoding)
    chosen = choose(RequestBody(True, {FORM: media}), lambda m: m.examples[0], None, [])
    assert chosen is not None and chosen.text == want


@pytest.mark.parametrize(
    "value", [{"obj": {"k": {"deep": 1}}}, {"ids": [{"a": 1}]}, {"obj": {"k": [1, 2]}}]
)
def test_form_nesting_the_spec_leaves_undefined_is_refused(value: dict[str, Any]) -> None:
    media = MediaType(FORM, {"type": "object"}, (value,))
    with pytest.raises(Unsendable, match="encoding"):
        choose(RequestBody(True, {FORM: media}), lambda m: m.examples[0], None, [])
