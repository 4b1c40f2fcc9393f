"""The diff scales with the size of the change, not with how often a schema is reached.

Structural equality goes through fingerprints hashed once per object; a change
inside a shared component is reported where it is in the file and shown once
in the changelog with the operations it reaches. The real-spec cases use
Stripe's public spec (tests/data/specs, MIT): before, one property added to
``customer`` made the diff run for minutes (issue 16).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from plog_ci.openapi.changelog import render
from plog_ci.openapi.diff import diff_specs
from plog_ci.openapi.fingerprint import fingerprint, memo, same
from plog_ci.openapi.load import load_spec_bytes, load_spec_file
from plog_ci.openapi.model import Parameter
from testing.specs import real_spec


def test_fingerprints_follow_structure_not_identity() -> None:
    shared = {"type": "string", "enum": ["a", "b"]}
    a = {"p": [shared, shared], "q": {"x": 1, "y": [1]}}
    b = {"q": {"y": [1], "x": 1.0}, "p": [dict(shared), {"enum": ["a", "b"], "type": "string"}]}
    assert same(a, b)  # key order and copies do not matter; 1 == 1.0 outside leaves
    assert not same({"x": 1}, {"x": 1.0})  # a leaf of scalars compares as JSON text
    assert not same({"x": True}, {"x": 1})  # JSON true is not 1
    assert not same({"x": [1]}, {"x": [[1]]})
    assert not same({"enum": ["a", "b"]}, {"enum": ["b", "a"]})  # order of a list does
    assert not same({"x": None}, {})
    assert fingerprint("ab") != fingerprint(["ab"])


def test_fingerprints_of_dataclasses_skip_what_eq_skips() -> None:
    one = Parameter("id", "path", True, {"type": "string"}, shared=False)
    two = Parameter("id", "path", True, {"type": "string"}, shared=True)
    assert one == two and same(one, two)
    assert not same(one, dataclasses.replace(one, required=False))


def test_a_deep_or_widely_shared_graph_is_hashed_once() -> None:
    deep: dict[str, object] = {}
    for _ in range(20_000):  # far deeper than Python's recursion limit
        deep = {"n": deep}
    assert len(fingerprint(deep)) == 16
    leaf = {"type": "integer"}
    wide: object = leaf
    for _ in range(60):  # 2**60 paths through 61 objects: only the objects are hashed
        wide = {"anyOf": [wide, wide]}
    copy: object = {"type": "integer"}
    for _ in range(60):
        copy = {"anyOf": [copy, copy]}
    with memo():
        assert same(wide, copy)
        assert not same(wide, {"anyOf": [wide, leaf]})


def test_a_reference_cycle_is_an_error_not_a_hang() -> None:
    node: dict[str, object] = {}
    node["self"] = node
    with pytest.raises(ValueError, match="cycle"):
        fingerprint(node)


BASE = """\
openapi: 3.0.3
info: {title: shop, version: "1"}
paths:
  /a:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                anyOf:
                  - {type: string}
                  - $ref: "#/components/schemas/Customer"
  /b:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  owner: {$ref: "#/components/schemas/Customer"}
components:
  schemas:
    Customer:
      title: Customer
      type: object
      properties:
        id: {type: string}
"""


def test_a_changed_shared_component_is_one_change_in_place_per_operation() -> None:
    head = BASE.replace(
        "        id: {type: string}\n", "        id: {type: string}\n        nick: {type: string}\n"
    )
    diff = diff_specs(
        load_spec_bytes(BASE.encode(), "base.yaml"), load_spec_bytes(head.encode(), "head.yaml")
    )
    # Not "Customer removed from the anyOf list and Customer added": a property added.
    assert sorted((c.operation, c.id) for c in diff.changes) == [
        ("GET /a", "response-optional-property-added"),
        ("GET /b", "response-optional-property-added"),
    ]
    assert not diff.breaking
    assert {c.source for c in diff.changes} == {
        "head.yaml#/components/schemas/Customer/properties/nick"
    }
    text = render(diff)
    assert text.count("response-optional-property-added") == 1
    assert "reached from 2 operations" in text and "GET /a, GET /b" in text
    # The message names one operation's property and status: said as that operation's.
    assert "`response-optional-property-added`; in GET /a: added the optional" in text


def test_an_anyof_branch_really_added_or_removed_is_still_reported() -> None:
    head = BASE.replace("                  - {type: string}\n", "")
    diff = diff_specs(
        load_spec_bytes(BASE.encode(), "base.yaml"), load_spec_bytes(head.encode(), "head.yaml")
    )
    assert [(c.operation, c.id, c.level) for c in diff.changes] == [
        ("GET /a", "response-body-any-of-removed", "info")
    ]
    head = BASE.replace(
        "                  - {type: string}\n",
        "                  - {type: string}\n                  - {type: integer}\n",
    )
    diff = diff_specs(
        load_spec_bytes(BASE.encode(), "base.yaml"), load_spec_bytes(head.encode(), "head.yaml")
    )
    assert [(c.operation, c.id, c.level) for c in diff.changes] == [
        ("GET /a", "response-body-any-of-added", "error")
    ]


@pytest.fixture(scope="module")
def stripe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("stripe")
    base = real_spec("stripe-2023-03-20.yaml", folder)
    text = base.read_text(encoding="utf-8")
    at = text.index("      properties:\n", text.index("\n    customer:\n")) + len(
        "      properties:\n"
    )
    head = folder / "stripe-revision.yaml"
    head.write_text(
        text[:at] + "        plog_added:\n          type: string\n" + text[at:], encoding="utf-8"
    )
    return base, head


def test_stripe_with_one_shared_property_added(stripe: tuple[Path, Path]) -> None:
    base_path, head_path = stripe
    base = load_spec_file(base_path)
    head = load_spec_file(head_path)
    diff = diff_specs(base, head)
    assert not diff.breaking
    assert {c.id for c in diff.changes} == {"response-optional-property-added"}
    assert {c.source.partition("#")[2] for c in diff.changes} == {
        "/components/schemas/customer/properties/plog_added"
    }
    # Every operation whose responses reach a customer object, and no other.
    assert len(diff.modified) > 50
    assert sorted({c.operation for c in diff.changes}) == diff.modified
    assert "GET /v1/customers/{customer}" in diff.modified
    assert "GET /v1/balance" not in diff.modified
    text = render(diff)
    assert text.count("`response-optional-property-added`") == 1
    assert diff_specs(base, base).changes == []
