"""The dashboard benchmarks still run (issue 18's bars): each with its smallest
arguments, through ``python -m bench``'s own entry, printing its figures."""

from __future__ import annotations

import re

import pytest

from bench.__main__ import main
from testing.k6_tools import need_k6


def _figure(pattern: str, out: str) -> float:
    found = re.search(pattern, out)
    assert found, f"{pattern!r} not in:\n{out}"
    return float(found.group(1).replace(",", ""))


def test_dashboard_scale_prints_the_page_and_the_webhook_beside_watchers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--operations", "4", "--minutes", "1", "--repeat", "1"]
    argv += ["--watchers", "3", "--seconds", "1", "--rate", "5", "--write-ops", "2"]
    assert main(["dashboard_scale", *argv]) == 0
    out = capsys.readouterr().out
    assert _figure(r"\((\d[\d,]*) series rows\)", out) == 4 * 60
    assert _figure(r"opens in (\d+) ms", out) > 0
    assert _figure(r"loads ([\d.]+) MB", out) > 0
    assert "/static/run.js" in out  # the page's modules were found and fetched
    # The whole run's 60 seconds; then one operation's 60 with the whole run's.
    assert re.findall(r"^\s+([\d,]+) points$", out, re.M) == ["60", "120"]
    assert _figure(r"watchers: (\d+) of 3 read to the end", out) == 3
    assert _figure(r"received each: median (\d+)", out) >= 1
    assert _figure(r"p99 with 3 watchers ([\d.]+) ms", out) > 0


def test_dashboard_live_prints_the_ratio_and_the_delay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    need_k6()
    argv = ["--rounds", "1", "--seconds", "3", "--watchers", "1", "--warm-up", "0"]
    assert main(["dashboard_live", *argv]) == 0
    out = capsys.readouterr().out
    assert 0.5 < _figure(r"1 watcher\(s\) / none: median ratio ([\d.]+)", out) < 2
    assert _figure(r"none: median ([\d,]+) req/s", out) > 0
    assert _figure(r"received by every watcher \((\d+)\)", out) >= 1
    assert 0 < _figure(r"reached the capture: median (-?\d+) ms", out) < 5000
    assert "failed or did not see the end" not in out
