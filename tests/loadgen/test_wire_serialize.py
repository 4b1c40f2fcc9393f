# ruff: noqa: E501  (the spec's table keeps its shape, one row a line)
"""The parameter serialiser against every cell of OpenAPI 3.1.1's "Style Examples" table
(§4.8.12.4), its percent-encoding rules (Appendix C, E), Swagger 2.0 collectionFormat."""

from typing import Any

import pytest

from plog_ci.loadgen.serialize import (
    Style,
    Unsendable,
    cookie_pairs,
    encode,
    header_value,
    path_prefix,
    path_value,
    query_pairs,
    style_of,
)
from plog_ci.openapi.model import Parameter

VALUES: dict[str, Any] = {
    "empty": "",
    "string": "blue",
    "array": ["blue", "black", "brown"],
    "object": {"R": 100, "G": 200, "B": 150},
}
NA = None  # "n/a": the spec leaves it undefined; PLog refuses to guess
# OpenAPI 3.1.1 "Style Examples", row by row: style, explode, empty, string, array, object.
TABLE = [
    ("matrix", False, ";color", ";color=blue", ";color=blue,black,brown", ";color=R,100,G,200,B,150"),
    ("matrix", True, ";color", ";color=blue", ";color=blue;color=black;color=brown", ";R=100;G=200;B=150"),
    ("label", False, ".", ".blue", ".blue,black,brown", ".R,100,G,200,B,150"),
    ("label", True, ".", ".blue", ".blue.black.brown", ".R=100.G=200.B=150"),
    ("simple", False, "", "blue", "blue,black,brown", "R,100,G,200,B,150"),
    ("simple", True, "", "blue", "blue,black,brown", "R=100,G=200,B=150"),
    ("form", False, "?color=", "?color=blue", "?color=blue,black,brown", "?color=R,100,G,200,B,150"),
    ("form", True, "?color=", "?color=blue", "?color=blue&color=black&color=brown", "?R=100&G=200&B=150"),
    ("spaceDelimited", False, NA, NA, "?color=blue%20black%20brown", "?color=R%20100%20G%20200%20B%20150"),
    ("spaceDelimited", True, NA, NA, NA, NA),
    ("pipeDelimited", False, NA, NA, "?color=blue%7Cblack%7Cbrown", "?color=R%7C100%7CG%7C200%7CB%7C150"),
    ("pipeDelimited", True, NA, NA, NA, NA),
    ("deepObject", False, NA, NA, NA, NA),
    ("deepObject", True, NA, NA, NA, "?color%5BR%5D=100&color%5BG%5D=200&color%5BB%5D=150"),
]  # fmt: skip
CELLS = [
    (style, explode, kind, want)
    for style, explode, *cells in TABLE
    for kind, want in zip(VALUES, cells, strict=True)
]
QUERY_STYLES = ("form", "spaceDelimited", "pipeDelimited", "deepObject")


def _serialise(style: str, explode: bool, value: Any) -> str:
    if style in QUERY_STYLES:
        return "?" + "&".join(query_pairs(Style("color", "query", style, explode), value))
    return path_value(Style("color", "path", style, explode), value)


@pytest.mark.parametrize(
    ("style", "explode", "kind", "want"),
    CELLS,
    ids=[f"{s}-{'explode' if e else 'flat'}-{k}" for s, e, k, _ in CELLS],
)
def test_every_cell_of_the_style_examples_table(style, explode, kind, want):
    value = VALUES[kind]
    if want is not NA:
        assert _serialise(style, explode, value) == want
    elif style in ("spaceDelimited", "pipeDelimited") and not explode and kind == "string":
        # Undefined for a primitive: a lone value has no delimiter to choose.
        assert _serialise(style, explode, value) == "?color=blue"
    elif style in ("spaceDelimited", "pipeDelimited") and not explode and kind == "empty":
        assert _serialise(style, explode, value) == "?color="
    elif style in ("spaceDelimited", "pipeDelimited") and kind in ("string", "empty"):
        assert _serialise(style, explode, value) == "?color=" + value  # explode: no effect
    elif style == "deepObject" and explode:
        # Undefined by the spec, used by real specs (Stripe's): the qs library's convention.
        assert (
            _serialise(style, explode, value)
            == {
                "empty": "?color=",
                "string": "?color=blue",
                "array": "?color%5B0%5D=blue&color%5B1%5D=black&color%5B2%5D=brown",
            }[kind]
        )
    else:
        with pytest.raises(Unsendable):
            _serialise(style, explode, value)


@pytest.mark.parametrize(
    ("explode", "kind", "want"),
    [
        (False, "string", "blue"),
        (False, "array", "blue,black,brown"),
        (False, "object", "R,100,G,200,B,150"),
        (True, "object", "R=100,G=200,B=150"),
    ],
)
def test_headers_are_simple_and_not_percent_encoded(explode, kind, want):
    assert header_value(Style("color", "header", "simple", explode), VALUES[kind]) == want
    assert header_value(Style("x", "header", "simple", False), "a b/c,d") == "a b/c,d"
    with pytest.raises(Unsendable, match="line breaks"):
        header_value(Style("x", "header", "simple", False), "a\r\nX-Evil: 1")


def test_cookies_are_form_in_one_header():
    flat, exploded = Style("c", "cookie", "form", False), Style("c", "cookie", "form", True)
    assert cookie_pairs(flat, ["red", "blue"]) == [("c", "red,blue")]
    assert cookie_pairs(exploded, ["red", "blue"]) == [("c", "red"), ("c", "blue")]
    assert cookie_pairs(exploded, {"R": 1, "G": 2}) == [("R", "1"), ("G", "2")]
    assert cookie_pairs(flat, {"R": 1, "G": 2}) == [("c", "R,1,G,2")]
    # RFC 6265 cookie-octets stay; space, ';', ',', '"', '\' and '%' are encoded.
    assert cookie_pairs(flat, 'a b;c,d"e\\f%g/h') == [("c", "a%20b%3Bc%2Cd%22e%5Cf%25g/h")]


def test_percent_encoding_per_place():
    simple = Style("id", "path", "simple", False)
    assert path_value(simple, "a/b c?d#e") == "a%2Fb%20c%3Fd%23e"
    assert path_value(simple, ["a,b", "c"]) == "a%2Cb,c"  # a value's comma is not a delimiter
    assert path_value(simple, "ü") == "%C3%BC"
    assert path_value(simple, "-._~") == "-._~"  # RFC 3986 unreserved
    form = Style("q", "query", "form", True)
    assert query_pairs(form, "a b&c=d+e") == ["q=a%20b%26c%3Dd%2Be"]
    assert query_pairs(Style("a b", "query", "form", True), 1) == ["a%20b=1"]


def test_allow_reserved_lets_reserved_characters_through_but_not_brackets_or_form_delims():
    reserved = Style("q", "query", "form", True, allow_reserved=True)
    assert query_pairs(reserved, "a/b?c:d@e!$'()*,;") == ["q=a/b?c:d@e!$'()*,;"]
    assert query_pairs(reserved, "[x]#&=+ ") == ["q=%5Bx%5D%23%26%3D%2B%20"]
    assert query_pairs(reserved, "%41%zz") == ["q=%41%25zz"]  # triples kept, a lone % is not
    assert encode("a/b") == "a%2Fb" and encode("a/b", allow_reserved=True) == "a/b"


def test_numbers_booleans_and_what_cannot_be_serialised():
    form = Style("n", "query", "form", True)
    assert query_pairs(form, 9007199254740993) == ["n=9007199254740993"]
    assert query_pairs(form, 123456789012345678901234567890) == ["n=123456789012345678901234567890"]
    assert query_pairs(form, 1.5) == ["n=1.5"]
    assert query_pairs(form, True) == ["n=true"]
    assert query_pairs(form, [False, 0]) == ["n=false", "n=0"]
    with pytest.raises(Unsendable, match="finite"):
        query_pairs(form, float("inf"))
    with pytest.raises(Unsendable, match="nested"):
        query_pairs(form, [[1, 2]])
    with pytest.raises(Unsendable, match="nested"):
        path_value(Style("id", "path", "simple", False), {"a": {"b": 1}})


def test_deep_object_nests_with_brackets():
    deep = Style("f", "query", "deepObject", True)
    assert query_pairs(deep, {"a": {"b": 1}, "t": [1, "x y"]}) == [
        "f%5Ba%5D%5Bb%5D=1",
        "f%5Bt%5D%5B0%5D=1",
        "f%5Bt%5D%5B1%5D=x%20y",
    ]


def test_path_prefixes_for_ids_known_at_run_time():
    assert path_prefix(Style("id", "path", "simple", False)) == ""
    assert path_prefix(Style("id", "path", "label", True)) == "."
    assert path_prefix(Style("id", "path", "matrix", False)) == ";id="
    assert path_prefix(Style("a b", "path", "matrix", False), empty=True) == ";a%20b"


def _param(location: str, **kw: Any) -> Parameter:
    return Parameter("color", location, **kw)


def test_defaults_per_location_and_styles_a_location_does_not_have():
    assert style_of(_param("query")) == Style("color", "query", "form", True)
    assert style_of(_param("cookie")) == Style("color", "cookie", "form", True)
    assert style_of(_param("path")) == Style("color", "path", "simple", False)
    assert style_of(_param("header")) == Style("color", "header", "simple", False)
    assert style_of(_param("query", style="form", explode=False)).explode is False
    assert style_of(_param("query", style="deepObject")).explode is True  # false is undefined
    assert style_of(_param("query", style="pipeDelimited")).explode is False
    assert style_of(_param("query", allow_reserved=True)).allow_reserved is True
    for location, style in (("path", "form"), ("query", "matrix"), ("header", "label")):
        with pytest.raises(Unsendable, match="not defined for"):
            style_of(_param(location, style=style))


@pytest.mark.parametrize(
    ("fmt", "location", "value", "want"),
    [
        ("csv", "query", ["a", "b"], "?color=a,b"),
        ("multi", "query", ["a", "b"], "?color=a&color=b"),
        ("ssv", "query", ["a", "b"], "?color=a%20b"),
        ("tsv", "query", ["a", "b"], "?color=a%09b"),
        ("pipes", "query", ["a", "b"], "?color=a%7Cb"),
        ("csv", "path", ["a", "b"], "a,b"),
    ],
)
def test_swagger2_collection_formats(fmt, location, value, want):
    style = style_of(_param(location, collection_format=fmt))
    if location == "query":
        assert "?" + "&".join(query_pairs(style, value)) == want
    else:
        assert path_value(style, value) == want


def test_swagger2_collection_formats_that_a_place_does_not_have():
    with pytest.raises(Unsendable, match="only"):
        style_of(_param("path", collection_format="multi"))
    with pytest.raises(Unsendable, match="collectionFormat"):
        style_of(_param("query", collection_format="semicolons"))
