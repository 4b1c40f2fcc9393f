"""Property-based fuzz of the webhook receiver (issue 15): hypothesis against create_app.

The strategies and the checks live in ``bench/webhook_fuzz.py`` (its docstring
lists the properties); ``python -m bench webhook_fuzz --examples 100000`` is the
long run. Here a bounded, derandomized number of examples runs in CI:
``PLOG_FUZZ_EXAMPLES`` sets it (default 3,000: the module takes about 30 s on 2 cores). A failure
is shrunk by hypothesis and reproduces on every run; add the minimal delivery it
prints as a regular test below.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from bench.webhook_fuzz import (
    HEAD,
    METHODS,
    PATHS,
    Delivery,
    Harness,
    _mac,
    correctly_signed,
    deliveries,
    fuzz,
    harness,
)

EXAMPLES = int(os.environ.get("PLOG_FUZZ_EXAMPLES", "3000"))


@pytest.fixture(scope="module")
def receiver() -> Iterator[Harness]:
    """The GitHub and the Gitea app, each on its own queue, for the whole module."""
    with harness() as h:
        yield h


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,  # the autouse PLOG_HOME; the apps have their own
    ],
)
@given(delivery=deliveries())
def test_fuzzed_deliveries_keep_the_receivers_promises(
    receiver: Harness, delivery: Delivery
) -> None:
    outcome = receiver.check(delivery)
    assert not outcome.violations, outcome.violations


@settings(max_examples=max(100, EXAMPLES // 10), derandomize=True, database=None, deadline=None)
@given(method=METHODS, path=PATHS)
def test_fuzzed_requests_to_any_path_are_never_5xx(
    receiver: Harness, method: str, path: str
) -> None:
    outcome = receiver.check_request(method, path)
    assert not outcome.violations, outcome.violations


def test_a_job_id_beyond_sqlite_integers_is_404_not_500(receiver: Harness) -> None:
    # Found by the fuzz: /jobs/<int> took any digits, and SQLite raised OverflowError.
    for path in ("/jobs/9223372036854775808", "/jobs/99999999999999999999"):
        res = receiver.clients["github"].get(path)
        assert res.status_code == 404 and res.get_json() == {"error": "no such job"}


def test_router_errors_are_json(receiver: Harness) -> None:
    res = receiver.clients["github"].get("/webhook")
    assert res.status_code == 405 and res.get_json() == {"error": "Method Not Allowed"}
    assert set(res.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    res = receiver.clients["github"].get("/nope")
    assert res.status_code == 404 and res.get_json() == {"error": "Not Found"}


def test_the_fuzz_reaches_every_outcome() -> None:
    # The strategies are only worth something if they get past the signature and the
    # parser: refusals by policy, queued jobs, and every kind of 4xx are all reached.
    tally = fuzz(600, seed=15, batch=600)
    assert tally.examples == 600
    assert not tally.violations, tally.samples
    assert tally.unsigned_jobs == 0 and tally.server_errors == 0
    for status in (200, 202, 400, 401, 403, 413):
        assert tally.statuses[status] > 0, (status, tally.statuses)
    assert tally.jobs > 0 and tally.unsigned > 0


# -- the checks themselves, on hand-made deliveries ----------------------------------------


def _push_body(clone_url: str = "https://github.com/Codertocat/Hello-World.git") -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "after": HEAD,
            "repository": {"full_name": "Codertocat/Hello-World", "clone_url": clone_url},
        }
    ).encode()


def test_a_signed_push_is_queued_once_and_an_unsigned_one_never(receiver: Harness) -> None:
    body = _push_body()
    signed = Delivery(
        "github",
        body,
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + _mac(body)},
    )
    first = receiver.check(signed)
    assert first.status == 202 and first.created <= 1 and not first.violations
    assert receiver.check(signed).created == 0  # the same commit again: the same job
    for sig in (None, "sha256=" + _mac(body + b" "), "sha256=" + _mac(body).upper(), ""):
        headers = {"X-GitHub-Event": "push"}
        if sig is not None:
            headers["X-Hub-Signature-256"] = sig
        forged = Delivery("github", _push_body("https://github.com/o/other.git"), headers)
        assert not correctly_signed(forged)
        out = receiver.check(forged)
        assert (out.status, out.created, out.violations) == (401, 0, [])


def test_a_signed_push_of_a_hostile_url_is_refused_and_the_secret_never_echoed(
    receiver: Harness,
) -> None:
    for url in ("file:///etc", "--upload-pack=x", "ext::sh", "https://rebind.example.com/o/r.git"):
        body = _push_body(url)
        out = receiver.check(
            Delivery(
                "github",
                body,
                {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + _mac(body)},
            )
        )
        assert (out.status, out.created, out.violations) == (403, 0, []), url
