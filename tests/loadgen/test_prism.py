"""PLog's generated requests against Prism mocks of specs in tests/data (issue 17's bar:
100% accepted with zero hand-written data). The harness is bench/prism_conformance.py:
the pinned ``@stoplight/prism-cli`` installed with npm into ~/.cache/plog-bench/prism,
``prism mock`` on 127.0.0.1, PLog's k6 script run by the real k6, and a recording proxy
that judges every exchange by Prism's own verdict (its problem types, its
``sl-violations`` header). Without npm or the registry the tests skip, but under
``CI=true`` they fail: CI must run them."""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.prism_conformance import (
    Operations,
    PrismUnavailable,
    Recorder,
    SpecOutcome,
    ensure_prism,
    measure,
    prism_mock,
)
from testing.k6_tools import need_k6
from testing.paths import ROOT
from testing.specs import load_any_spec, real_spec

pytestmark = pytest.mark.slow
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def prism() -> Path:
    try:
        return ensure_prism()
    except PrismUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Prism is required under CI: {exc}")
        pytest.skip(f"Prism cannot be installed here: {exc}")


def _measure(name: str, spec: Path, prism: Path, tmp_path: Path, iterations: int) -> SpecOutcome:
    need_k6()
    outcome, _ = measure(name, spec, prism, tmp_path / "work", iterations=iterations)
    assert outcome.note == ""
    return outcome


def _rejections(outcome: SpecOutcome) -> dict[str, list[str]]:
    return {
        op: sorted({m for v in found for m in v.messages} | {f"sent: {found[0].sent}"})
        for op, found in outcome.rejected_operations().items()
    }


@pytest.mark.parametrize(
    ("name", "operations"),
    [
        ("museum/openapi.yaml", 8),  # OpenAPI 3.1, producers and consumers
        ("openapi/v3/realworld-conduit.yml", 19),  # api key auth, nested resources
        ("openapi/v2/petstore-expanded.yaml", 4),  # Swagger 2.0
        ("openapi/v3/link-example.yaml", 6),
        ("field-cases/deep-object-query.yaml", 1),  # deepObject query
        ("field-cases/recursive-schemas.yaml", 2),
    ],
)
def test_every_request_is_accepted(name: str, operations: int, prism: Path, tmp_path: Path) -> None:
    outcome = _measure(name, DATA / name, prism, tmp_path, iterations=2)
    assert outcome.operations == operations
    assert _rejections(outcome) == {}
    assert outcome.share == 1.0
    sent = {v.operation for v in outcome.verdicts}
    assert sent == set(load_any_spec(DATA / name).operations)  # every operation reached it
    assert len(outcome.verdicts) >= 2 * operations


def test_twilio_is_accepted_but_where_prism_misreads_form_arrays(
    prism: Path, tmp_path: Path
) -> None:
    """A real big spec (197 operations, form bodies, basic auth) at one iteration. Three
    operations send arrays in form bodies as OpenAPI says (``MediaUrl=...``, style form,
    explode true) and Prism rejects them: its bug stoplightio/prism#2473. Everything else,
    including Twilio's ``Url: myUrl`` example, which PLog no longer sends, is accepted."""
    spec = real_spec("twilio_api_v2010.2026-04-14.yaml", tmp_path)
    outcome = _measure("twilio", spec, prism, tmp_path, iterations=1)
    assert outcome.operations == 197
    assert {v.operation for v in outcome.verdicts} == set(load_any_spec(spec).operations)
    prism_bugs = {v.operation for v in outcome.verdicts if v.prism_bug}
    assert prism_bugs == {
        "POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings.json",
        "POST /2010-04-01/Accounts/{AccountSid}/ConnectApps/{Sid}.json",
        "POST /2010-04-01/Accounts/{AccountSid}/Messages.json",
    }
    assert all("#2473" in (v.prism_bug or "") for v in outcome.verdicts if v.rejected)
    assert outcome.share_without_prism_bugs == 1.0
    assert outcome.accepted == len(outcome.verdicts) - 3


def test_the_example_service_spec(prism: Path, tmp_path: Path) -> None:
    # The mock's POST /pets answers id -2^53+1 (its schema has no bounds); GET
    # /pets/{petId} (1..500) keeps only ids that fit, else its generated value.
    spec = ROOT / "examples" / "petstore" / "openapi.yaml"
    outcome = _measure("example-petstore", spec, prism, tmp_path, iterations=2)
    assert _rejections(outcome) == {}


@pytest.fixture
def museum_mock(prism: Path, tmp_path: Path) -> Iterator[Recorder]:
    """A recorder in front of Prism's mock of the museum spec."""
    spec = DATA / "museum" / "openapi.yaml"
    with prism_mock(prism, spec, tmp_path / "prism.log", 60) as port:
        recorder = Recorder(port, Operations(load_any_spec(spec)))
        threading.Thread(target=recorder.serve_forever, daemon=True).start()
        try:
            yield recorder
        finally:
            recorder.shutdown()
            recorder.server_close()


def _send(recorder: Recorder, method: str, path: str, body: str | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", recorder.server_address[1], timeout=30)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def test_the_harness_counts_what_prism_rejects(museum_mock: Recorder) -> None:
    """The judge can fail: an invalid query, an invalid body and an unknown path are
    rejected with Prism's message; a valid request is accepted."""
    assert _send(museum_mock, "GET", "/museum-hours?limit=99") == 422
    assert _send(museum_mock, "POST", "/special-events", '{"name": 3}') == 422
    assert _send(museum_mock, "GET", "/nowhere") == 404
    assert _send(museum_mock, "GET", "/museum-hours?limit=30") == 200
    assert [(v.operation, v.status, v.rejected, v.messages) for v in museum_mock.verdicts] == [
        (
            "GET /museum-hours",
            422,
            "invalid request (422)",
            ("query.limit: Request query parameter limit must be <= 30",),
        ),
        (
            "POST /special-events",
            422,
            "invalid request (422)",
            ("body.name: Request body property name must be string",),
        ),
        (
            "GET /nowhere (no operation)",
            404,
            "no route (404)",
            ("The route /nowhere hasn't been found in the specification file",),
        ),
        ("GET /museum-hours", 200, None, ()),
    ]
