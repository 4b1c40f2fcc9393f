"""The rapidyaml path must mean exactly what PyYAML's safe loader means, and keep every cap."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from plog_ci.openapi import fastyaml, parse
from plog_ci.openapi.errors import SpecError, SpecTooLargeError

DATA = Path(__file__).resolve().parent.parent / "data"
LIMITS = parse.ParseLimits()


def _pyyaml(data: bytes) -> Any:
    """The reference: the PyYAML loader and the caps walk of parse.py."""
    doc = yaml.load(data, Loader=parse._SafeLoader)
    return parse._plain(doc, "x.yaml", LIMITS)


def _fast(data: bytes) -> Any:
    return fastyaml.load(data, "x.yaml", LIMITS.max_nodes, LIMITS.max_depth)


def _same(a: Any, b: Any) -> bool:
    # json keeps key order and NaN; type() tells True from 1 and 1.0 from 1
    return json.dumps(a) == json.dumps(b) and _types(a) == _types(b)


def _types(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _types(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_types(x) for x in v]
    return type(v).__name__


# Scalars PyYAML (YAML 1.1) resolves differently from YAML 1.2 parsers, block and
# flow styles, escapes, keys that are not strings, aliases, line endings.
PARITY = [
    "a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: n\ng: ~\nh: null\ni:\nj: ''\nk: TRUE\n",
    "a: 010\nb: 0o10\nc: 0x1F\nd: 0b101\ne: 1_000\nf: 1:20\ng: 1e3\nh: 1.5e3\ni: .inf\n"
    "j: -.INF\nk: .NaN\nl: +1\nm: -0\nn: 1.\no: .5\np: 190:20:30.15\nq: 0.1e+3\nr: 12:30:45\n",
    "a: 2020-01-01\nb: 2020-01-01 10:00:00\nc: 2001-12-14t21:59:43.10-05:00\n",
    "200: ok\n404: x\n1.5: y\ntrue: z\n~: n\n'on': r\n010: o\n",
    "200: ok\nyes: q\nfalse: r\n",
    "s1: 'it''s'\ns2: \"tab\\tnew\\nline \\u00e9 \\x41 \\/\"\ns3: plain # comment\n"
    "s4: a#b\ns5: 'x'  # c\n",
    "lit: |\n  line1\n   line2\n\n  line3\nkeep: |+\n  x\n\nstrip: |-\n  y\n"
    "fold: >\n  a\n  b\n\n  c\nfoldi: >2\n   indented\nlast: end\n",
    "multi: this is\n  a multi line\n\n  plain scalar\nq: 'single\n  multi'\n"
    'd: "double\n  multi \\\n  escaped"\n',
    "flow: {a: 1, b: [x, 'y', \"z\"], c: {}, d: []}\nseq: [1, 2.5, yes, ~]\n",
    "- a\n- - b\n  - c\n- {k: v}\n- \n",
    "just a scalar\n",
    "---\na: 1\n...\n",
    "a: &x {k: 1}\nb: *x\nc: [*x, *x]\nd: &s scalar\ne: *s\n",
    "crlf: 1\r\nb: x\r\nc: |\r\n  l1\r\n  l2\r\n",
    'unicode: 日本語\nemoji: 😀\n"quoted key": 1\n? explicit\n: value\nkey with spaces: v\n',
    "a:\n- x\n- y\nb:\n  - 'z'\n",
    "empty: \nnested:\n  deeper:\n    deepest: []\n",
    "paths:\n  /pets/{id}:\n    get:\n      parameters:\n"
    "      - {name: id, in: path, required: yes}\n",
]

# PyYAML must decide these (tags, merge keys, directives, errors to locate ...).
DECLINED = [
    "a: !!str 123\n",
    "a: !!binary aGk=\n",
    "a: !!python/object/apply:os.system ['true']\n",
    "a: !custom x\n",
    "b: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",
    "a: =\n",
    "%YAML 1.1\n---\na: 1\n",
    "a: b\x85c\n",
    "a: b\u2028c\n",
    "a: b\x00c\n",
    "a: 1\n---\nb: 2\n",
    "a: *undefined\n",
    "a: &x 1\nb: &x 2\n",
    "a: &k 1\n*k : 2\n",
    "a:\n\t- x\n",
    "a: 'unterminated\n",
    "key: [a, b\n",
    "a: b\n  c: d\n",
    "? [a, b]\n: c\n",
    "",
    "# only a comment\n",
]


@pytest.mark.parametrize("text", PARITY)
def test_fast_path_means_what_pyyaml_means(text: str) -> None:
    data = text.encode()
    assert _same(_fast(data), _pyyaml(data))


@pytest.mark.parametrize("text", DECLINED)
def test_what_pyyaml_must_decide_is_declined(text: str) -> None:
    with pytest.raises(fastyaml.Decline):
        _fast(text.encode())


def test_every_yaml_spec_in_the_test_data_parses_the_same() -> None:
    # A Helm chart's templates are Go templates that render to YAML, not YAML.
    files = sorted(
        p
        for p in DATA.rglob("*")
        if p.suffix in (".yaml", ".yml") and not {"charts", "templates"} <= set(p.parts)
    )
    assert len(files) > 20
    for path in files:
        data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
        assert _same(_fast(data), _pyyaml(data)), path


def test_a_generated_spec_parses_the_same() -> None:
    from bench.openapi_diff import build

    doc = build(True)
    doc["paths"] = dict(list(doc["paths"].items())[:30])
    data = yaml.safe_dump(doc, sort_keys=False).encode()
    assert _same(_fast(data), _pyyaml(data))
    assert _same(_fast(data), doc)


# -- hostile input, refused by the fast path itself ---------------------------

ALIAS_BOMB = "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"x-{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_alias_bomb_is_refused_by_the_fast_path() -> None:
    with pytest.raises(SpecTooLargeError, match="alias bomb"):
        _fast(ALIAS_BOMB.encode())


def test_self_containing_alias_is_refused_by_the_fast_path() -> None:
    with pytest.raises(SpecError, match="recursive YAML alias"):
        _fast(b"x: &a [1, *a]\n")


def test_deep_nesting_is_refused_by_the_fast_path() -> None:
    with pytest.raises(SpecError, match="nesting deeper than 200"):
        _fast(b"a: " + b"[" * 300 + b"]" * 300 + b"\n")
    # far past libyaml's own limit: rapidyaml's parser is not recursive, our walk stops at 200
    with pytest.raises(SpecError, match="nesting deeper than 200"):
        _fast(b"[" * 100_000 + b"]" * 100_000)


def test_node_count_is_capped_before_building_values() -> None:
    data = ("[" + ", ".join(["1"] * 5000) + "]").encode()
    with pytest.raises(SpecTooLargeError, match="more than 1000 nodes"):
        fastyaml.load(data, "x.yaml", 1000, 200)


def test_parse_uses_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("PyYAML was called")

    monkeypatch.setattr(yaml, "load", refuse)
    assert parse.parse(b"openapi: 3.0.3\npaths: {}\n", "x.yaml") == {
        "openapi": "3.0.3",
        "paths": {},
    }


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("openapi: !!python/object/apply:os.system ['true']\n", SpecError, "invalid YAML"),
        ("openapi: 3.0.3\npaths:\n  /a: [unclosed\n", SpecError, r"x\.yaml:4:1: invalid YAML"),
        ("a: b\x00c\n", SpecError, "invalid YAML"),
        ("a: 1\n---\nb: 2\n", SpecError, "invalid YAML"),
        (ALIAS_BOMB, SpecTooLargeError, "alias bomb"),
        ("x: &a [1, *a]\n", SpecError, "recursive YAML alias"),
    ],
)
def test_hostile_yaml_through_parse_gets_a_clear_error(
    text: str, error: type[Exception], match: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(error, match=match):
        parse.parse(text.encode(), "x.yaml")
    # rapidyaml's own error text stays off stderr, and stderr works again afterwards
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: 1\na: 2\n", "x.yaml:2:1"),
        ("true: z\nyes: q\n", "x.yaml:2:1"),  # YAML 1.1: both keys are the boolean true
        ("'200': a\n200: b\n", "x.yaml:2:1"),  # the plain data keys both as "200"
    ],
)
def test_a_key_named_twice_is_refused_with_its_place(text: str, where: str) -> None:
    with pytest.raises(fastyaml.Decline):
        _fast(text.encode())
    with pytest.raises(SpecError, match=f"{where}: invalid YAML: duplicate key"):
        parse.parse(text.encode(), "x.yaml")
