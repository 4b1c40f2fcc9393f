"""Every text PLog sends a forge is neutralised for where it lands (issue 15).

A spec names operations and a service writes reasons; both reach the commit
status and the pull request comment. The fake GitHub and Gitea check each
request against their published API (a status description over 140 characters
is refused by GitHub); these tests assert what arrived, field by field.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from werkzeug.serving import make_server

from plog_ci.forge import Report
from plog_ci.forge.comment import MARKER, render_comment, safe_url
from plog_ci.forge.local import note_text
from plog_ci.forge.rest import RestForge
from plog_ci.templating import md_escape, plain_text
from testing.fake_forge import TOKEN, make_fake

SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
# An operation name and a reason as a hostile spec and service could write them.
HOSTILE_OP = (
    "GET /pets <img src=x onerror=alert(1)> @octocat #123 ```js ]]> [x](javascript:alert(1))"
)
HOSTILE_REASON = "boom\x1b[31m\x00\u202e\nsecond line\r\n## Approved by @admin, fixes #1"
SUMMARY = f"{HOSTILE_OP} failed: {HOSTILE_REASON} " + "p95 " * 60
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def hostile_report(**kw: Any) -> Report:
    base: dict[str, Any] = dict(
        result="fail",
        profile="load",
        summary=SUMMARY,
        # What the report template writes: every spec value through the md filter.
        markdown=f"# PLog report\n\n| {md_escape(HOSTILE_OP)} | 3 | 412.0 |\n",
        head=SHA,
        target_url="https://plog.example/jobs/7",
        pr_number=2,
    )
    base.update(kw)
    return Report(**base)


@pytest.fixture(params=["github", "gitea"])
def forge(request: pytest.FixtureRequest) -> Iterator[tuple[RestForge, Any]]:
    flavor = request.param
    app = make_fake(flavor)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    api = f"http://127.0.0.1:{server.server_port}" + ("/api/v1" if flavor == "gitea" else "")
    client = RestForge(flavor, "Codertocat/Hello-World", api_url=api, token=TOKEN, sleep=[].append)
    try:
        yield client, app
    finally:
        client.close()
        server.shutdown()
        thread.join(timeout=5)


def assert_inert_markdown(text: str) -> None:
    """No raw HTML, mention, reference, fence, link or control character survives."""
    assert CONTROL.search(text) is None, repr(text)
    assert re.search(r"(?<!\\)<(img|/?script)", text, re.I) is None
    assert "@octocat" not in text and "@admin" not in text
    assert re.search(r"(?<![\\&])#\d", text) is None  # an escaped \#123 links nothing
    assert "```" not in text and "](javascript" not in text and "[x]" not in text
    assert "]]>" not in text and "\\<img" in text
    assert "\n## Approved" not in text  # a reason cannot start its own heading


def test_hostile_operation_arrives_escaped_in_every_field(forge: tuple[RestForge, Any]) -> None:
    client, app = forge
    client.pending(hostile_report(result="pending", summary="", markdown=""))
    client.publish(hostile_report())
    client.publish(hostile_report(summary=SUMMARY + " again"))  # the comment is updated
    calls = app.config["calls"]
    statuses = [c[2] for c in calls if c[0] == "POST" and "/statuses/" in c[1]]
    assert [s["state"] for s in statuses] == ["pending", "failure", "failure"]  # all accepted
    for status in statuses:
        assert status["context"] == "plog/load"
        assert status["target_url"] == "https://plog.example/jobs/7"
        description = status["description"]
        assert len(description) <= 140 and CONTROL.search(description) is None
        assert "\n" not in description and "\r" not in description
    # Plain text where it lands as plain text: the name is readable, cut to fit.
    assert statuses[1]["description"].startswith("fail: GET /pets <img src=x")
    assert statuses[1]["description"].endswith("…")
    bodies = [c[2]["body"] for c in calls if c[0] in ("POST", "PATCH") and "comments" in c[1]]
    assert len(bodies) == 2 and all(b.startswith(MARKER) for b in bodies)
    for body in bodies:
        headline = body.splitlines()[1]
        assert headline.startswith("## ❌ PLog `plog/load`: fail: GET /pets \\<img")
        assert_inert_markdown(body.removeprefix(MARKER))
        assert "@&#8203;octocat" in body and "\\#123" in body
    comments = app.config["comments"][2]
    assert len(comments) == 1 and comments[0]["body"] == bodies[-1]


def test_hostile_profile_and_urls_never_reach_a_forge(forge: tuple[RestForge, Any]) -> None:
    client, app = forge
    hostile = hostile_report(
        profile="load\n@octocat `x` <b>",
        target_url='https://plog.example/x) [click](javascript:alert(1)) "',
    )
    client.publish(hostile)
    status = next(c[2] for c in app.config["calls"] if "/statuses/" in c[1])
    assert re.fullmatch(r"[A-Za-z0-9/._-]+", status["context"]), status["context"]
    assert "target_url" not in status  # not a plain http(s) URL: left out
    body = app.config["comments"][2][0]["body"]
    assert "[click]" not in body and "plog.example/x" not in body
    long = "# r\n\n" + "## s\n\nx\n" * 400
    short = render_comment(hostile_report(markdown=long), limit=900)
    assert "[Full report](https://plog.example/jobs/7)" in short
    cut = render_comment(replace(hostile, markdown=long), limit=900)
    assert "Full report: see the job's artifacts" in cut and "[click]" not in cut
    assert_inert_markdown(body.removeprefix(MARKER))
    for url in ("javascript:alert(1)", "file:///etc/passwd", "https://x/a b", "https://x/(y)"):
        assert safe_url(url) is None
    assert safe_url("https://plog.example/jobs/7?x=1#y") == "https://plog.example/jobs/7?x=1#y"


def test_a_bare_summary_as_the_comment_body_is_escaped() -> None:
    """The worker's fallback when a job has no report: its summary as the body."""
    body = render_comment(hostile_report(markdown=SUMMARY))
    assert_inert_markdown(body.removeprefix(MARKER))
    long = render_comment(hostile_report(summary=SUMMARY * 400, markdown=SUMMARY * 400), 5_000)
    assert len(long) <= 5_000
    assert_inert_markdown(long.removeprefix(MARKER))


def test_the_sanitizers() -> None:
    assert plain_text("a\x00b\x1b[1mc\u202ed\n\te", 140) == "ab[1mcd e"
    cut = plain_text("x" * 200, 140)
    assert len(cut) == 140 and cut.endswith("…")
    assert md_escape("<b>@me #9 `x` ]]> &amp;\x00") == (
        "\\<b\\>@&#8203;me \\#9 \\`x\\` \\]\\]\\> &amp;amp;"
    )


def test_the_git_note_is_one_plain_line() -> None:
    """The bare repository's forge: the note shown by git log holds no escape sequence."""
    text = note_text(hostile_report(target_url="https://x/(y)", profile="load\nplog: pass"))
    first, *rest = text.splitlines()
    assert first.startswith("plog: fail (plog/load-plog-pass) GET /pets")
    assert CONTROL.search(text) is None and len(rest) == 1  # report: (no url)
    assert not any(line.startswith(("url:", "plog:")) for line in rest)
