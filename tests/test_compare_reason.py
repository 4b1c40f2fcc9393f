"""Why a comparison gave no verdict, in one line, from the run's own numbers (issue 17:
"a second commit in a fresh repository silently starts a side-by-side comparison
whose table is mostly 'no verdict'").

The case: the example committed twice in a fresh repository with a short test
(``FAST_PLOG_YML``: 2 s at 10/s, ``compare.blocks: 2``). ``plog run`` at the second
commit compares with the first side by side: 2 blocks per side, where the paired
latency test needs 6, and about 20 requests per operation and side, where the
error-rate test needs 100.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from plog_ci.analysis.compare_table import no_verdict_line, render_text
from plog_ci.analysis.comparison import StatsSettings
from plog_ci.analysis.samples import OperationSamples
from plog_ci.analysis.stats import compare_runs
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.repos import FAST_PLOG_YML, commit_files, plog_run


def _samples(op: str, blocks: int, requests: int, seed: int) -> OperationSamples:
    rng = np.random.default_rng(seed)
    p95 = 20.0 * np.exp(rng.normal(0.0, 0.05, blocks))
    counts = [requests] * blocks
    return OperationSamples(
        op,
        block_p50s=tuple((p95 / 2).tolist()),
        block_p95s=tuple(p95.tolist()),
        counts=tuple(counts),
        failures=tuple(0 for _ in counts),
    )


def _compare(blocks: int, requests: int, ops: int = 3, paired: bool = False) -> str | None:
    names = [f"GET /op{i}" for i in range(ops)]
    old = {n: _samples(n, blocks, requests, i) for i, n in enumerate(names)}
    new = {n: _samples(n, blocks, requests, 100 + i) for i, n in enumerate(names)}
    settings = StatsSettings(metrics=("p95", "error_rate"), paired=paired)
    return no_verdict_line(compare_runs(old, new, settings))


def test_too_few_blocks_and_requests_say_so_with_the_numbers() -> None:
    assert _compare(blocks=2, requests=10) == (
        "no verdict for 6 of 6 comparisons: p95 on 3 operations, 2 blocks per side (the "
        "test needs 6); error rate on 3 operations, 20 requests per operation and side "
        "(the test needs 100); for a verdict: more blocks (compare.blocks, at least 6), "
        "more requests (a longer load.duration or a higher load.rate)"
    )


def test_blocks_that_cannot_reach_significance_say_so() -> None:
    # 6 paired blocks: the signed-rank test's smallest p is 2/64, above 0.01/3 (Holm).
    line = _compare(blocks=6, requests=40, paired=True)
    assert line == (
        "no verdict for 3 of 6 comparisons: p95 on 3 operations, 6 blocks per side cannot "
        "reach significance at alpha=0.01 over 3 tests; for a verdict: more blocks "
        "(compare.blocks, or a longer load.duration)"
    )


def test_every_comparison_with_a_verdict_needs_no_line() -> None:
    assert _compare(blocks=20, requests=10) is None


def test_the_table_opens_with_the_line() -> None:
    names = ["GET /a"]
    old = {n: _samples(n, 2, 10, 1) for n in names}
    new = {n: _samples(n, 2, 10, 2) for n in names}
    text = render_text(compare_runs(old, new, StatsSettings(metrics=("p95",))))
    assert text.startswith("no verdict for 1 of 1 comparison: p95 on 1 operation, 2 blocks")


def test_a_second_commit_in_a_fresh_repository_says_why_there_is_no_verdict(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("fresh")
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    files: dict[str, str | bytes] = {
        "app.py": app,
        "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8"),
        "plog.yml": FAST_PLOG_YML,
    }
    commit_files(repo, files, "first")
    commit_files(repo, {"app.py": app + "\n# second\n"}, "second")
    done = plog_run(repo, plog_home, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    report = Path(done.stdout.split("report: ")[-1].strip()).read_text(encoding="utf-8")
    assert "deployed side by side, 2 interleaved rounds" in report
    found = re.search(
        r"no verdict for (\d+) of (\d+) comparisons: p95 on 4 operations, (\d+) blocks per "
        r"side \(the test needs 6\); error rate on 4 operations, (\d+)(?:-(\d+))? requests "
        r"per operation and side \(the test needs 100\); for a verdict: more blocks "
        r"\(compare\.blocks, at least 6\), more requests",
        report,
    )
    assert found, report
    assert found[1] == found[2] == "8"
    assert found[3] == "2"  # compare.blocks: 2
    # 10/s per operation for 2 s per side, in two 1-s blocks each.
    low, high = int(found[4]), int(found[5] or found[4])
    assert 12 <= low <= high <= 30, found[0]
    # The terminal says it too, once, before the report.
    assert "no verdict for 8 of 8 comparisons" in done.stderr.replace("\n", " ")
    # Setup made the example's pets on both sides, and the report says so per side.
    assert "| POST /pets | base | 5 of 5 |" in report
    assert "| POST /pets | head | 5 of 5 |" in report
