"""GitHub and Gitea clients against a local server that checks the documented endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from plog_ci.forge import Report
from plog_ci.forge.api import ApiError
from plog_ci.forge.comment import MARKER, MAX_COMMENT_CHARS, render_comment
from plog_ci.forge.rest import RestForge
from testing.fake_forge import TOKEN, make_fake
from testing.servers import Served

SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def report(**kw: Any) -> Report:
    base: dict[str, Any] = dict(
        result="fail",
        profile="load",
        summary="p95 412ms (+38%) vs 298ms",
        markdown="# PLog report\n\n## Gates\n\n- p95 < 300ms: failed\n",
        head=SHA,
        target_url="https://plog.example/jobs/7",
        pr_number=2,
    )
    base.update(kw)
    return Report(**base)


@pytest.fixture(params=["github", "gitea"])
def forge(request: pytest.FixtureRequest, serve_app: Any) -> tuple[RestForge, Any]:
    flavor = request.param
    app = make_fake(flavor)
    served: Served = serve_app(app)
    api = served.url + ("/api/v1" if flavor == "gitea" else "")
    sleeps: list[float] = []
    client = RestForge(
        flavor, "Codertocat/Hello-World", api_url=api, token=TOKEN, sleep=sleeps.append
    )
    app.config["sleeps"] = sleeps
    return client, app


def test_status_and_one_comment_updated_in_place(forge: tuple[RestForge, Any]) -> None:
    client, app = forge
    client.pending(report())
    client.publish(report())
    client.publish(report(result="pass", summary="p95 250ms"))
    prefix = "/api/v1" if client.flavor == "gitea" else ""
    calls = app.config["calls"]
    statuses = [c for c in calls if c[0] == "POST" and "/statuses/" in c[1]]
    assert [c[2]["state"] for c in statuses] == ["pending", "failure", "success"]
    assert statuses[1][1] == f"{prefix}/repos/Codertocat/Hello-World/statuses/{SHA}"
    assert statuses[1][2] == {
        "state": "failure",
        "context": "plog/load",
        "description": "fail: p95 412ms (+38%) vs 298ms",
        "target_url": "https://plog.example/jobs/7",
    }
    comments = app.config["comments"][2]
    assert len(comments) == 1  # found again by the marker, not duplicated
    assert MARKER in comments[0]["body"] and "p95 250ms" in comments[0]["body"]
    assert (
        "PATCH",
        f"{prefix}/repos/Codertocat/Hello-World/issues/comments/101",
        {"body": comments[0]["body"]},
    ) in calls


def test_rate_limit_and_5xx_are_retried(forge: tuple[RestForge, Any]) -> None:
    client, app = forge
    app.config["script"].extend(
        [
            (403, {"x-ratelimit-remaining": "0", "retry-after": "7"}),
            (429, {"retry-after": "1"}),
            (502, {}),
        ]
    )
    client.publish(report(pr_number=None))
    assert app.config["sleeps"][:2] == [7.0, 1.0]
    assert len(app.config["sleeps"]) == 3
    assert [c[0] for c in app.config["calls"]] == ["POST"] * 4


def test_long_rate_limit_fails_fast_without_leaking_the_token(forge: tuple[RestForge, Any]) -> None:
    client, app = forge
    app.config["script"].append((403, {"x-ratelimit-remaining": "0", "retry-after": "3600"}))
    with pytest.raises(ApiError, match="rate limited for another 3600s") as err:
        client.publish(report(pr_number=None))
    assert TOKEN not in str(err.value)


def test_refusals_do_not_leak_the_token(serve_app: Any) -> None:
    served = serve_app(make_fake("github"))
    client = RestForge(
        "github", "o/r", api_url=served.url, token="wrong-" + TOKEN, sleep=lambda s: None
    )
    with pytest.raises(ApiError) as err:
        client.publish(report(pr_number=None))
    text = str(err.value)
    assert err.value.status == 401 and "Bad credentials" in text
    assert TOKEN not in text and "***" in text


def test_server_errors_give_up_after_the_retries(forge: tuple[RestForge, Any]) -> None:
    client, app = forge
    app.config["script"].extend([(503, {})] * 5)
    with pytest.raises(ApiError, match="gave up after 5 tries"):
        client.publish(report(pr_number=None))


def test_unreachable_forge_is_a_dependency_error() -> None:
    client = RestForge(
        "github", "o/r", api_url="http://127.0.0.1:9", token=TOKEN, sleep=lambda s: None, attempts=2
    )
    with pytest.raises(ApiError, match="gave up after 2 tries") as err:
        client.publish(report(pr_number=None))
    assert err.value.exit_code == 4


def test_long_description_is_cut_to_140() -> None:
    assert len(report(summary="x" * 500).description()) == 140


def test_huge_report_is_rerendered_under_the_comment_limit(forge: tuple[RestForge, Any]) -> None:
    client, app = forge
    sections = "".join(f"## Operation {i}\n\n" + ("| a | b |\n" * 400) for i in range(40))
    big = report(markdown="# PLog report\n\n" + sections)
    body = render_comment(big)
    assert len(body) <= MAX_COMMENT_CHARS and body.startswith(MARKER)
    assert "Report shortened" in body and "https://plog.example/jobs/7" in body
    assert "## Operation 0" in body and "## Operation 39" not in body
    client.publish(big)  # the fake refuses bodies over 65,536 characters
    assert len(app.config["comments"][2]) == 1


def test_bad_repository_names_are_refused() -> None:
    from plog_ci.errors import InputError

    for name in ("noslash", "a/b/c", "/x"):
        with pytest.raises(InputError):
            RestForge("github", name, token=TOKEN)
    with pytest.raises(InputError, match="API URL"):
        RestForge("gitea", "o/r", token=TOKEN)
