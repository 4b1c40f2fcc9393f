"""The changelog's text shows on GitHub as written: code spans are literal, never escaped."""

from __future__ import annotations

from plog_ci.openapi.changelog import render
from plog_ci.openapi.diff import SpecDiff
from plog_ci.templating import code_span


def test_sources_are_code_spans_shown_literally() -> None:
    text = render(SpecDiff(base_source="HEAD~1:spec/e5_max.yaml", head_source="a`b``c.yaml"))
    assert "Base `HEAD~1:spec/e5_max.yaml` → revision ```a`b``c.yaml```" in text
    assert "\\" not in text  # a backslash inside a code span would show


def test_a_code_span_cannot_be_closed_or_broken_by_its_text() -> None:
    assert code_span("x") == "`x`"
    assert code_span("`x") == "`` `x ``"
    assert code_span("a``b") == "```a``b```"
    assert code_span("two\nlines") == "`two lines`"
