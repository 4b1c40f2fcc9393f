"""OpenAPI 3.1 meaning in the diff: type arrays and null, exclusive bounds, const,
keywords beside ``$ref`` (issue 16, item 5), with the field cases' right values."""

from __future__ import annotations

import subprocess
import sys

import pytest

from plog_ci.openapi.diff import diff_specs
from plog_ci.openapi.load import load_spec_bytes, load_spec_file
from testing.paths import FIELD_CASES, ROOT


def body(version: str, schema: str, *, response: bool = False) -> bytes:
    """A one-operation spec whose request (or 200 response) body has ``schema`` (YAML flow)."""
    if response:
        op = (
            "      responses:\n        '200':\n          description: ok\n"
            f"          content: {{application/json: {{schema: {schema}}}}}\n"
        )
    else:
        op = (
            f"      requestBody:\n        content: {{application/json: {{schema: {schema}}}}}\n"
            "      responses: {'200': {description: ok}}\n"
        )
    return (
        f"openapi: {version}\ninfo: {{title: t, version: '1'}}\npaths:\n  /x:\n    post:\n{op}"
    ).encode()


def changes(version: str, base: str, head: str, *, response: bool = False) -> list[tuple[str, str]]:
    diff = diff_specs(
        load_spec_bytes(body(version, base, response=response), "base.yaml"),
        load_spec_bytes(body(version, head, response=response), "head.yaml"),
    )
    return sorted((c.id, c.level) for c in diff.changes)


def test_field_case_nullable_31_dropping_the_type_is_not_breaking() -> None:
    folder = FIELD_CASES / "nullable-31"
    base = load_spec_file(folder / "base.yaml")
    revision = load_spec_file(folder / "revision.yaml")
    forward = diff_specs(base, revision)
    assert not forward.breaking, forward.changes
    assert not any("nullable" in c.id for c in forward.changes)
    backward = diff_specs(revision, base)  # any type -> string or null: narrower
    assert backward.breaking
    assert [c.id for c in backward.changes] == ["request-body-type-changed"]


def test_field_case_nullable_31_through_plog_diff_exits_0() -> None:
    folder = FIELD_CASES / "nullable-31"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "plog_ci",
            "diff",
            str(folder / "base.yaml"),
            str(folder / "revision.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not breaking" in done.stdout


@pytest.mark.parametrize(
    ("base", "head", "expected"),
    [
        # a property: string-or-null -> unconstrained is wider; the reverse narrower
        (
            "{type: object, properties: {a: {type: [string, 'null']}}}",
            "{type: object, properties: {a: {}}}",
            [],
        ),
        (
            "{type: object, properties: {a: {}}}",
            "{type: object, properties: {a: {type: [string, 'null']}}}",
            [("request-property-type-changed", "error")],
        ),
        (
            "{type: [string, 'null']}",
            "{type: string}",
            [("request-body-became-not-nullable", "error")],
        ),
        (
            "{type: [string]}",
            "{type: [string, integer]}",
            [("request-body-type-generalized", "info")],
        ),
        # an implied type (properties without type: object) is no type change
        (
            "{properties: {a: {type: string}}}",
            "{type: object, properties: {a: {type: string}}}",
            [],
        ),
    ],
)
def test_type_arrays_and_null(base: str, head: str, expected: list[tuple[str, str]]) -> None:
    assert changes("3.1.0", base, head) == expected


def test_a_wider_response_type_array_breaks_clients() -> None:
    assert changes("3.1.0", "{type: string}", "{type: [string, integer]}", response=True) == [
        ("response-body-type-changed", "error")
    ]


@pytest.mark.parametrize(
    ("version", "base", "head", "expected"),
    [
        # 3.1: exclusiveMinimum is a number of its own
        (
            "3.1.0",
            "{type: integer, minimum: 5}",
            "{type: integer, exclusiveMinimum: 5}",
            [("request-body-min-increased", "error")],
        ),
        (
            "3.1.0",
            "{type: integer, exclusiveMinimum: 5}",
            "{type: integer, minimum: 5}",
            [("request-body-min-decreased", "info")],
        ),
        (
            "3.1.0",
            "{type: integer, exclusiveMaximum: 10}",
            "{type: integer, exclusiveMaximum: 9}",
            [("request-body-max-decreased", "error")],
        ),
        (
            "3.1.0",
            "{type: integer, minimum: 1, exclusiveMinimum: 3}",
            "{type: integer, minimum: 3, exclusiveMinimum: 3}",
            [],
        ),  # the tighter bound rules
        # 3.0: exclusiveMinimum: true modifies minimum
        (
            "3.0.3",
            "{type: integer, minimum: 5}",
            "{type: integer, minimum: 5, exclusiveMinimum: true}",
            [("request-body-min-increased", "error")],
        ),
        (
            "3.0.3",
            "{type: integer, minimum: 5, exclusiveMinimum: true}",
            "{type: integer, minimum: 5}",
            [("request-body-min-decreased", "info")],
        ),
        # integers above 2**53 compare exactly
        (
            "3.0.3",
            "{type: integer, format: int64, minimum: 9007199254740992}",
            "{type: integer, format: int64, minimum: 9007199254740993}",
            [("request-body-min-increased", "error")],
        ),
        ("3.0.3", "{type: integer, maximum: 10}", "{type: integer}", []),
        (
            "3.0.3",
            "{type: integer}",
            "{type: integer, maximum: 10}",
            [("request-body-max-set", "warning")],
        ),
    ],
)
def test_bounds(version: str, base: str, head: str, expected: list[tuple[str, str]]) -> None:
    assert changes(version, base, head) == expected


def test_const_is_a_one_value_enum() -> None:
    assert changes("3.1.0", "{type: string, const: a}", "{type: string, const: b}") == [
        ("request-body-enum-value-added", "info"),
        ("request-body-enum-value-removed", "error"),
    ]
    assert changes("3.1.0", "{type: string}", "{type: string, const: a}") == [
        ("request-body-became-enum", "error")
    ]


def test_field_case_ref_siblings_31_raised_minimum_is_breaking() -> None:
    folder = FIELD_CASES / "ref-siblings-31"
    diff = diff_specs(
        load_spec_file(folder / "base.yaml"), load_spec_file(folder / "revision.yaml")
    )
    assert [(c.operation, c.id, c.level) for c in diff.changes] == [
        ("POST /invoices", "request-property-min-increased", "error")
    ]
    assert "from minimum 100 to minimum 500" in diff.changes[0].message


def test_a_swagger2_parameter_change_points_at_the_parameter_itself() -> None:
    def spec(maximum: int) -> bytes:
        return (
            "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n"
            "      parameters:\n"
            f"        - {{name: limit, in: query, type: integer, maximum: {maximum}}}\n"
            "      responses: {'200': {description: ok}}\n"
        ).encode()

    diff = diff_specs(
        load_spec_bytes(spec(30), "base.yaml"), load_spec_bytes(spec(20), "head.yaml")
    )
    (change,) = diff.changes
    assert change.id == "request-parameter-max-decreased"
    # Swagger 2.0 writes a query parameter's keywords on it: there is no "schema" there.
    assert change.source == "head.yaml#/paths/~1x/get/parameters/0/maximum"
