"""Parameter names inside ``load.overrides`` are bound to the operation's own parameters
(issue 16, item 6, as a new user met it): a path parameter named by its position in the
override's key (``{id}`` in ``"GET /special-events/{id}"``) is the spec's parameter at
that position (``eventId``); any other name that is not a parameter of the operation in
that place is refused at ``plog.yml:LINE:COL`` with a did-you-mean, by ``bind_operations``
and so by ``plog validate``, ``plog gen --config`` and ``plog run``.

Spec: tests/data/museum/openapi.yaml (eight operations, the museum example's shape).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plog_ci.config import parse_config
from plog_ci.config.operations import bind_operations
from plog_ci.errors import ConfigError
from plog_ci.openapi.load import load_spec_file
from plog_ci.openapi.model import Spec
from testing.repos import commit_files

MUSEUM = Path(__file__).parent / "data" / "museum" / "openapi.yaml"

HEAD = """\
version: 1
service:
  run: python app.py --port {port}
openapi: openapi.yaml
load:
  overrides:
"""

# The user's plog.yml, as written.
USERS = (
    HEAD
    + """\
    "GET /special-events/{id}":
      path: {id: "1111"}
    "GET /museum-hours":
      query: {limt: 5}
"""
)


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec_file(MUSEUM)


def bind(spec: Spec, text: str) -> Any:
    return bind_operations(parse_config(text), spec, text)


def errors(spec: Spec, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        bind(spec, text)
    return list(info.value.errors)


def plog(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def plan(script: str) -> dict[str, dict[str, Any]]:
    found = re.search(r"const PLAN = (\{.*?\});\n", script)
    assert found is not None
    return {op["name"]: op for op in json.loads(found[1])["operations"]}


LIMT_ERROR = (
    "plog.yml:10:15: load.overrides.GET /museum-hours.query.limt: 'limt' is not a query "
    "parameter of GET /museum-hours in openapi.yaml (hint: did you mean 'limit'?)"
)


def test_the_users_plog_yml_is_refused_at_the_misspelt_query_name(spec: Spec) -> None:
    assert errors(spec, USERS) == [LIMT_ERROR]


def test_a_path_parameter_named_by_position_in_the_key_is_the_specs(spec: Spec) -> None:
    config = bind(spec, USERS.replace("limt", "limit"))
    event, hours = config.load.overrides
    assert event.operation == "GET /special-events/{eventId}"
    assert event.path == (("eventId", "1111"),)
    assert hours.query == (("limit", 5),)


def test_the_specs_own_path_name_is_accepted_and_naming_it_twice_is_not(spec: Spec) -> None:
    own = HEAD + '    "GET /special-events/{id}": {path: {eventId: "2"}}\n'
    assert bind(spec, own).load.overrides[0].path == (("eventId", "2"),)
    twice = HEAD + '    "GET /special-events/{id}": {path: {id: "1", eventId: "2"}}\n'
    assert errors(spec, twice) == [
        "plog.yml:7:50: load.overrides.GET /special-events/{id}.path.eventId: sets path "
        "parameter 'eventId' of GET /special-events/{eventId} again ('id' names it too, "
        "by its place in the key) (hint: keep one of the two)"
    ]


def test_position_wins_over_a_name_the_spec_uses_elsewhere_in_the_path(spec: Spec) -> None:
    # The key's {ticketId} is the spec's only path parameter of /tickets/{ticketId}/qr
    # whatever it is called; here the key calls it {code}.
    text = HEAD + '    "GET /tickets/{code}/qr": {path: {code: "t-9"}}\n'
    assert bind(spec, text).load.overrides[0].path == (("ticketId", "t-9"),)


def test_every_place_is_checked_with_a_hint_from_that_place(spec: Spec) -> None:
    text = (
        HEAD
        + """\
    "GET /special-events/{id}":
      path: {ident: "1"}
      query: {limit: 3}
    "GET /museum-hours":
      headers: {X-Visitor-Local: fr}
      cookies: {visiter: v-2}
    "POST /tickets":
      query: {when: today}
"""
    )
    assert errors(spec, text) == [
        "plog.yml:8:14: load.overrides.GET /special-events/{id}.path.ident: 'ident' is not a "
        "path parameter of GET /special-events/{eventId} in openapi.yaml (hint: its path "
        "parameters: 'eventId' (written 'id' in this key))",
        "plog.yml:9:15: load.overrides.GET /special-events/{id}.query.limit: 'limit' is not a "
        "query parameter of GET /special-events/{eventId} in openapi.yaml (hint: "
        "GET /special-events/{eventId} has no query parameters)",
        "plog.yml:11:17: load.overrides.GET /museum-hours.headers.X-Visitor-Local: "
        "'X-Visitor-Local' is not a header parameter of GET /museum-hours in openapi.yaml "
        "(hint: did you mean 'X-Visitor-Locale'?)",
        "plog.yml:12:17: load.overrides.GET /museum-hours.cookies.visiter: 'visiter' is not a "
        "cookie parameter of GET /museum-hours in openapi.yaml (hint: did you mean 'visitor'?)",
        "plog.yml:14:15: load.overrides.POST /tickets.query.when: 'when' is not a query "
        "parameter of POST /tickets in openapi.yaml (hint: POST /tickets has no query "
        "parameters)",
    ]


def test_header_names_compare_case_insensitively_and_take_the_specs_spelling(
    spec: Spec,
) -> None:
    text = HEAD + '    "GET /museum-hours": {headers: {x-visitor-locale: fr}}\n'
    assert bind(spec, text).load.overrides[0].headers == (("X-Visitor-Locale", "fr"),)
    # Query and cookie names are case-sensitive (RFC 3986 section 6.2.2.1, RFC 6265).
    text = HEAD + '    "GET /museum-hours": {query: {Limit: 3}}\n'
    assert errors(spec, text)[0].endswith("(hint: did you mean 'limit'?)")


def test_headers_no_spec_can_declare_and_api_key_names_are_accepted(spec: Spec) -> None:
    # OpenAPI 3.1 section 4.8.12.1: header parameters named Accept, Content-Type or
    # Authorization are ignored, so an override is the only way to set them.
    text = HEAD + (
        '    "GET /museum-hours": {headers: {accept: text/csv, Authorization: "Basic x", '
        "Content-Type: text/plain}}\n"
    )
    assert len(bind(spec, text).load.overrides[0].headers) == 3
    keyed = MUSEUM.read_text(encoding="utf-8").replace(
        "paths:\n",
        "components:\n  securitySchemes:\n"
        "    key: {type: apiKey, in: query, name: api_key}\n"
        "security: [{key: []}]\npaths:\n",
        1,
    )
    secured = load_spec_from_text(keyed)
    text = HEAD + '    "GET /museum-hours": {query: {api_key: k}}\n'
    assert bind(secured, text).load.overrides[0].query == (("api_key", "k"),)
    text = HEAD + '    "GET /museum-hours": {headers: {api_key: k}}\n'  # in: query, not header
    assert "'api_key' is not a header parameter" in errors(secured, text)[0]


def load_spec_from_text(text: str) -> Spec:
    from plog_ci.openapi.load import load_spec_bytes

    return load_spec_bytes(text.encode(), "openapi.yaml")


# -- as a user runs it: plog validate and plog gen --config in a git repository ----------


@pytest.fixture
def museum_repo(new_repo: Callable[..., Path]) -> Path:
    repo = new_repo("museum")
    commit_files(repo, {"openapi.yaml": MUSEUM.read_bytes(), "plog.yml": USERS})
    return repo


def test_validate_refuses_the_users_plog_yml(museum_repo: Path) -> None:
    result = plog("validate", cwd=museum_repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines()[0] == LIMT_ERROR
    assert "Traceback" not in result.stderr


def test_gen_sends_the_override_under_the_specs_name_and_no_stray_query(
    museum_repo: Path,
) -> None:
    refused = plog("gen", "openapi.yaml", "--config", "plog.yml", cwd=museum_repo)
    assert refused.returncode == 2
    assert LIMT_ERROR in " ".join(refused.stderr.split())
    commit_files(museum_repo, {"plog.yml": USERS.replace("limt", "limit")})
    assert plog("validate", cwd=museum_repo).returncode == 0
    result = plog(
        "gen", "openapi.yaml", "--config", "plog.yml", "--operations", "all", cwd=museum_repo
    )
    assert result.returncode == 0, result.stderr
    ops = plan(result.stdout)
    assert ops["GET /special-events/{eventId}"]["pathValues"] == {"eventId": "1111"}
    assert ops["DELETE /special-events/{eventId}"]["pathValues"] == {
        "eventId": "dad4bce8-f5cb-4078-a211-995864315e39"
    }
    assert ops["GET /museum-hours"]["query"] == ["startDate=2023-02-23", "page=2", "limit=5"]
