"""Rules on pairs the oasdiff sample does not cover, plus selection and ``plog diff``."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from plog_ci.cli import cli
from plog_ci.errors import InputError
from plog_ci.openapi.changelog import render
from plog_ci.openapi.diff import diff_specs
from plog_ci.openapi.load import load_spec_bytes
from plog_ci.openapi.model import Spec
from plog_ci.openapi.select import select_operations

BASE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "pets", "version": "1"},
    "paths": {
        "/pets": {
            "get": {
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}}
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Pet"},
                                }
                            }
                        },
                    }
                },
            },
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                    },
                },
                "responses": {"201": {"description": "created"}},
            },
        },
        "/pets/{id}": {
            "get": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                        },
                    }
                },
            },
        },
        "/health": {"get": {"responses": {"200": {"description": "ok"}}}},
    },
    "components": {
        "schemas": {
            "Pet": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "tag": {"type": "string"},
                    "status": {"type": "string", "enum": ["a", "b"]},
                },
            }
        }
    },
}


def spec(doc: dict[str, Any], name: str = "openapi.json") -> Spec:
    return load_spec_bytes(json.dumps(doc).encode(), name)


def changed(edit: Callable[[dict[str, Any]], None]) -> tuple[Spec, Spec]:
    head = copy.deepcopy(BASE)
    edit(head)
    return spec(BASE, "base.json"), spec(head, "head.json")


def ids(edit: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    result = diff_specs(*changed(edit))
    return {c.id: c.level for c in result.changes}


def test_shared_component_change_marks_every_user_modified() -> None:
    def edit(d: dict[str, Any]) -> None:
        del d["components"]["schemas"]["Pet"]["properties"]["tag"]

    result = diff_specs(*changed(edit))
    assert result.modified == ["GET /pets", "GET /pets/{id}", "POST /pets"]
    found = {(c.id, c.operation) for c in result.changes}
    assert ("response-optional-property-removed", "GET /pets/{id}") in found
    assert ("response-optional-property-removed", "GET /pets") in found  # via items
    assert ("request-property-removed", "POST /pets") in found
    assert not result.breaking


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["paths"]["/pets"]["get"]["parameters"][0]["schema"].update(type="string"),
            {"request-parameter-type-generalized": "info"},
        ),  # any integer is a valid query string
        (
            lambda d: d["paths"]["/pets"]["get"]["parameters"][0]["schema"].update(type="boolean"),
            {"request-parameter-type-changed": "error"},
        ),
        (
            lambda d: d["paths"]["/pets"]["get"]["parameters"][0].update(required=True),
            {"request-parameter-became-required": "error"},
        ),
        (
            lambda d: d["paths"]["/pets"]["get"]["parameters"][0]["schema"].update(maximum=10),
            {"request-parameter-max-decreased": "error"},
        ),
        (
            lambda d: d["paths"]["/pets"]["get"]["parameters"][0]["schema"].update(minimum=1),
            {"request-parameter-min-set": "warning"},
        ),
        (
            lambda d: d["paths"]["/pets"]["get"]["parameters"][0]["schema"].update(format="int32"),
            {"request-parameter-type-changed": "error"},
        ),
        (
            lambda d: d["paths"]["/pets"]["get"]["parameters"].append(
                {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}
            ),
            {"new-required-request-parameter": "error"},
        ),
        (
            lambda d: d["components"]["schemas"]["Pet"]["required"].append("tag"),
            {
                "request-property-became-required": "error",
                "response-property-became-required": "info",
            },
        ),
        (
            lambda d: d["components"]["schemas"]["Pet"].update(required=[]),
            {
                "request-property-became-optional": "info",
                "response-property-became-optional": "error",
            },
        ),
        (
            lambda d: d["components"]["schemas"]["Pet"]["properties"]["name"].update(
                type="integer"
            ),
            {"request-property-type-changed": "error", "response-property-type-changed": "error"},
        ),
        (
            lambda d: d["components"]["schemas"]["Pet"]["properties"]["status"]["enum"].append("c"),
            {
                "request-property-enum-value-added": "info",
                "response-property-enum-value-added": "warning",
            },
        ),
        (
            lambda d: d["components"]["schemas"]["Pet"]["properties"].pop("name"),
            {"request-property-removed": "warning", "response-required-property-removed": "error"},
        ),
        (
            lambda d: d["paths"]["/pets"]["post"]["requestBody"].update(required=False),
            {"request-body-became-optional": "info"},
        ),
        (
            lambda d: d["paths"]["/pets"]["post"]["responses"].update(
                {"400": {"description": "x"}}
            ),
            {"response-non-success-status-added": "info"},
        ),
        (
            lambda d: d["paths"]["/pets"]["get"].update(security=[{"key": []}]),
            {"api-security-added": "info"},
        ),
        (
            lambda d: d["paths"]["/pets"]["get"].update(deprecated=True),
            {"endpoint-deprecated": "info"},
        ),
        (lambda d: d["paths"]["/pets"].pop("post"), {"api-removed-without-deprecation": "error"}),
        (lambda d: d["paths"].pop("/health"), {"api-path-removed-without-deprecation": "error"}),
    ],
)
def test_rule(edit: Callable[[dict[str, Any]], None], expected: dict[str, str]) -> None:
    found = ids(edit)
    for change_id, level in expected.items():
        assert found.get(change_id) == level, found


def test_removed_after_deprecation_and_before_sunset() -> None:
    base = copy.deepcopy(BASE)
    base["paths"]["/health"]["get"].update({"deprecated": True, "x-sunset": "2999-01-01"})
    head = copy.deepcopy(BASE)
    head["paths"].pop("/health")
    result = diff_specs(spec(base), spec(head))
    assert [c.id for c in result.changes] == ["api-path-removed-before-sunset"]
    base["paths"]["/health"]["get"]["x-sunset"] = "2000-01-01"
    result = diff_specs(spec(base), spec(head))
    assert [(c.id, c.level) for c in result.changes] == [
        ("api-path-removed-with-deprecation", "info")
    ]


def test_renamed_path_parameter_is_the_same_operation() -> None:
    def edit(d: dict[str, Any]) -> None:
        item = d["paths"].pop("/pets/{id}")
        item["get"]["parameters"][0]["name"] = "petId"
        d["paths"]["/pets/{petId}"] = item

    result = diff_specs(*changed(edit))
    assert (result.added, result.removed, result.changes) == ([], [], [])


def test_swagger2_body_property_removed() -> None:
    def doc(props: dict[str, Any]) -> dict[str, Any]:
        return {
            "swagger": "2.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/p": {
                    "post": {
                        "parameters": [
                            {
                                "in": "body",
                                "name": "b",
                                "schema": {"type": "object", "properties": props},
                            }
                        ],
                        "responses": {"200": {"description": "ok"}},
                    }
                }
            },
        }

    result = diff_specs(
        spec(doc({"a": {"type": "string"}, "b": {"type": "string"}})),
        spec(doc({"a": {"type": "string"}})),
    )
    assert [c.id for c in result.changes] == ["request-property-removed"]
    assert (
        result.changes[0].source == "openapi.json#/paths/~1p/post/parameters/0/schema/properties/b"
    )


def test_markdown_escapes_spec_text() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["paths"]["/x/<img src=x>"] = {"get": {"responses": {"200": {"description": "ok"}}}}

    text = render(diff_specs(*changed(edit)))
    assert re.search(r"(?<!\\)<img", text) is None and "\\<img" in text


# -- selection -------------------------------------------------------------------------


def test_select_changed_all_and_explicit() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["paths"].pop("/health")
        d["paths"]["/owners"] = {"get": {"responses": {"200": {"description": "ok"}}}}
        d["components"]["schemas"]["Pet"]["properties"]["age"] = {"type": "integer"}

    base, head = changed(edit)
    result = diff_specs(base, head)
    chosen = select_operations(result, head, "changed")
    assert sorted(op.key for op in chosen.operations) == [
        "GET /owners",
        "GET /pets",
        "GET /pets/{id}",
        "POST /pets",
    ]
    assert chosen.removed == ["GET /health"]
    assert len(select_operations(result, head, "all").operations) == 4
    assert len(select_operations(None, head, "changed").operations) == 4
    explicit = select_operations(result, head, ("get /pets/{petId}", "GET /health"))
    assert [op.key for op in explicit.operations] == ["GET /pets/{id}"]
    assert explicit.unknown == ["GET /health"]
    with pytest.raises(InputError, match="METHOD /path"):
        select_operations(result, head, ("pets",))


# -- plog diff ---------------------------------------------------------------------------


def test_plog_diff_between_git_revisions(
    git_repo: Callable[..., tuple[Path, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, first = git_repo({"openapi.json": json.dumps(BASE)})
    head = copy.deepcopy(BASE)
    head["paths"].pop("/health")
    repo, _second = git_repo({"openapi.json": json.dumps(head)})
    monkeypatch.chdir(repo)
    runner = CliRunner()
    out = runner.invoke(
        cli, ["diff", f"{first}:openapi.json", "HEAD:openapi.json", "--format", "json"]
    )
    assert out.exit_code == 1, out.output
    data = json.loads(out.stdout)
    assert data["operations"] == {"added": [], "removed": ["GET /health"], "modified": []}
    assert data["breaking"] is True
    assert set(data["changes"][0]) == {"id", "level", "operation", "message", "source"}
    md = runner.invoke(cli, ["diff", "HEAD:openapi.json", "HEAD:openapi.json"])
    assert md.exit_code == 0 and "No changes" in md.stdout
    warn = runner.invoke(
        cli, ["diff", "HEAD~1:openapi.json", "HEAD:openapi.json", "--fail-on", "never"]
    )
    assert warn.exit_code == 0 and "api-path-removed-without-deprecation" in warn.stdout


def test_plog_diff_bad_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.0.3\npaths:\n  /a: {$ref: /etc/passwd}\n")
    out = CliRunner().invoke(cli, ["diff", str(bad), str(bad)])
    assert out.exit_code == 2
    assert "/etc/passwd" in out.stderr and "bad.yaml:3:" in out.stderr
