"""The dashboard's base URL (PLOG_DASHBOARD_URL): what is taken, what is refused, and
the run's page under it."""

from __future__ import annotations

import pytest

from plog_ci.dashboard_link import dashboard_url, run_url
from plog_ci.errors import InputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("  ", None),
        ("https://plog.example.com/", "https://plog.example.com"),
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
        ("https://ci.example.com/plog/", "https://ci.example.com/plog"),
    ],
)
def test_taken(text: str | None, expected: str | None) -> None:
    assert dashboard_url(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("javascript:alert(1)", "absolute http"),
        ("ftp://plog.example.com", "absolute http"),
        ("plog.example.com", "absolute http"),
        ("https://user:pw@plog.example.com", "credentials"),
        ("https://plog.example.com/?x=1", "query"),
        ("https://plog.example.com/#top", "query"),
        ("https://plog.example.com/a b", "spaces"),
        ("https://plog.example.com/)[x](javascript:alert(1)", "spaces"),
        ("https://plog.example.com/<script>", "spaces"),
        ("https://plög.example.com", "spaces"),
    ],
)
def test_refused_with_the_variable_named(text: str, why: str) -> None:
    with pytest.raises(InputError, match=why) as caught:
        dashboard_url(text)
    assert "PLOG_DASHBOARD_URL" in str(caught.value)


def test_run_url() -> None:
    assert run_url("https://p.example", 12) == "https://p.example/runs/12"
    assert run_url(None, 12) is None and run_url("https://p.example", None) is None
