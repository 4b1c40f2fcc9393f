"""The load test as it runs: a live line on a terminal, a line every few seconds in a
CI log (issue 17, item 11)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from plog_ci.progress import LiveTally, tally
from plog_ci.results import SeriesPoint
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.repos import commit_files, plog_run


def point(op: str, second: float, count: int, failures: int, p95: float) -> SeriesPoint:
    return SeriesPoint(op, second, count, failures, p95=p95)


def test_a_second_reads_as_rate_errors_and_the_worst_p95() -> None:
    points = [point("GET /a", 10, 8, 0, 4.0), point("POST /b", 10, 4, 1, 9.5)]
    assert tally(points) == "12 req/s, 1 error, p95 9.5 ms (worst: POST /b)"
    two_seconds = [*points, point("GET /a", 11, 12, 2, 3.0)]
    assert tally(two_seconds) == "12 req/s, 3 errors, p95 9.5 ms (worst: POST /b)"


def test_without_a_terminal_a_line_every_few_seconds() -> None:
    shown: list[str] = []
    printed: list[str] = []
    now = [0.0]
    live = LiveTally(shown.append, printed.append, every_s=5.0, clock=lambda: now[0])
    for second in range(1, 12):
        now[0] = float(second)
        live.add([point("GET /a", second, 10, 0, 2.0)])
    assert len(shown) == 11  # the terminal line follows every second
    assert printed == [
        "     5 s: 10 req/s, 0 errors, p95 2.0 ms (worst: GET /a)",
        "    10 s: 10 req/s, 0 errors, p95 2.0 ms (worst: GET /a)",
    ]


def test_plog_run_prints_the_load_as_it_runs_in_a_ci_log(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("live")
    plog_yml = (
        "version: 1\nservice:\n  run: python app.py --port {port}\n  health: /health\n"
        "openapi: openapi.yaml\nload:\n  rate: 5\n  duration: 7s\n"
        '  operations: ["GET /pets"]\ncompare:\n  mode: "off"\n'
    )
    commit_files(
        repo,
        {
            "app.py": (EXAMPLE / "app.py").read_text(encoding="utf-8"),
            "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8"),
            "plog.yml": plog_yml,
        },
        "live",
    )
    done = plog_run(repo, plog_home)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = re.findall(r"^ +\d+ s: (\d+) req/s, \d+ errors?, p95 [0-9.]+ ms", done.stderr, re.M)
    assert lines, done.stderr
    assert all(3 <= int(rate) <= 7 for rate in lines), lines  # about the 5/s asked
