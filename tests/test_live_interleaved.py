"""The live line of a side-by-side run: base and head apart, for interleaved (the default
compare mode) and duet runs, fed from the points each side's capture already computes
(issue 17, item 11)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from plog_ci.progress import LiveTally, side_tally
from plog_ci.results import SeriesPoint
from plog_ci.series import SeriesFanout
from plog_ci.store.sqlite import open_store
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.repos import commit_files, plog_run

SIDE = r"(base|head) (\d+) req/s, p95 ([0-9.]+) ms, ([0-9.]+)% errors"
LINE = re.compile(rf"^ +\d+ s: {SIDE} \| {SIDE} \| worst: (.+) p95 ([0-9.]+) ms", re.M)


def point(op: str, second: float, count: int, failures: int, p95: float) -> SeriesPoint:
    return SeriesPoint(op, second, count, failures, p95=p95)


def test_both_sides_read_apart_with_the_heads_worst_operation() -> None:
    sides = {
        "base": [point("GET /a", 10.2, 8, 0, 4.0), point("GET /b", 10.2, 2, 0, 9.0)],
        "head": [
            point("GET /a", 10.2, 6, 0, 4.0),
            point("GET /b", 10.2, 4, 1, 12.0),
            point("GET /a", 11.1, 10, 0, 5.0),
        ],
    }
    # Two seconds in the window; p95s weighted by requests: head (6*4+4*12+10*5)/20.
    assert side_tally(sides) == (
        "base 5 req/s, p95 5.0 ms, 0% errors | head 10 req/s, p95 6.1 ms, 5% errors"
        " | worst: GET /b p95 12.0 ms (base 9.0 ms)"
    )


def test_a_side_by_side_run_prints_both_sides_every_few_seconds() -> None:
    shown: list[str] = []
    printed: list[str] = []
    now = [0.0]
    live = LiveTally(shown.append, printed.append, every_s=5.0, clock=lambda: now[0])
    for second in range(1, 11):
        now[0] = float(second)
        live.add_sides(
            {
                "base": [point("GET /a", 100 + second, 4, 0, 2.0)],
                "head": [point("GET /a", 100 + second, 6, 0, 3.0)],
            }
        )
        # A duet's head also comes as the run's stored series: shown once, as a side.
        live.add([point("GET /a", 100 + second, 6, 0, 3.0)])
    assert len(shown) == 10 and all(line.startswith("base 4 req/s") for line in shown)
    assert printed == [
        f"  {s:4d} s: base 4 req/s, p95 2.0 ms, 0% errors | head 6 req/s, p95 3.0 ms, "
        "0% errors | worst: GET /a p95 3.0 ms (base 2.0 ms)"
        for s in (5, 10)
    ]


class Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def add(self, points: Sequence[SeriesPoint]) -> None:
        self.calls.append(("add", [(p.operation, p.second) for p in points]))

    def add_sides(self, points: Mapping[str, Sequence[SeriesPoint]]) -> None:
        self.calls.append(("sides", {s: [p.count for p in ps] for s, ps in points.items()}))

    def stop(self, error: BaseException | None) -> None:
        pass


class StoreOnly:
    def __init__(self) -> None:
        self.added: list[list[SeriesPoint]] = []

    def add(self, points: Sequence[SeriesPoint]) -> None:
        self.added.append(list(points))

    def stop(self, error: BaseException | None) -> None:
        pass


def test_the_sides_are_shown_never_stored() -> None:
    shown, stored = Recording(), StoreOnly()
    fanout = SeriesFanout([shown, stored])
    fanout.watch("base")([point("GET /a", 100.5, 3, 0, 1.0), point("GET /b", 100.5, 0, 0, 0)])
    fanout.watch("head")([point("GET /a", 100.5, 4, 0, 1.0)])
    fanout.collect([point("GET /a", 100.5, 4, 0, 1.0)])  # a duet's head series
    fanout.flush()
    # Sides first (only points with requests), then the stored batch.
    assert shown.calls == [("sides", {"base": [3], "head": [4]}), ("add", [("GET /a", 100)])]
    assert [[p.count for p in batch] for batch in stored.added] == [[4]]


PLOG_YML = """\
version: 1
service:
  run: python app.py --port {{port}}
  health: /health
openapi: openapi.yaml
load:
  rate: 10
  duration: {duration}
  operations: ["GET /pets", "GET /pets/{{petId}}"]
compare:
  mode: {mode}
  blocks: 6
"""


def _run_side_by_side(
    new_repo: Callable[..., Path], plog_home: Path, mode: str, duration: str
) -> tuple[str, int]:
    need_k6()
    repo = new_repo(mode)
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    files: dict[str, str | bytes] = {
        "app.py": app,
        "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8"),
        "plog.yml": PLOG_YML.format(mode=mode, duration=duration),
    }
    commit_files(repo, files, "base")
    commit_files(repo, {"app.py": app + "\n# head\n"}, "head")
    done = plog_run(repo, plog_home, timeout=240)  # stderr is a pipe: not a terminal
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = int(re.findall(r"run(\d+)\.md", done.stdout)[-1])
    return done.stderr, run_id


def _check_lines(stderr: str, per_side: tuple[int, int]) -> None:
    lines = LINE.findall(stderr)
    assert len(lines) >= 2, stderr
    low, high = per_side
    for base, base_rate, base_p95, base_err, head, head_rate, head_p95, head_err, op, p95 in lines:
        assert (base, head) == ("base", "head")
        assert low <= int(base_rate) <= high and low <= int(head_rate) <= high, lines
        assert 0 < float(base_p95) < 1000 and 0 < float(head_p95) < 1000, lines
        assert float(base_err) == float(head_err) == 0.0, lines
        assert op in ("GET /pets", "GET /pets/{petId}") and 0 < float(p95) < 1000


def test_plog_run_interleaved_shows_both_sides_in_a_ci_log(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    # 10/s per operation, 2 operations, the sides taking turns: about 10/s per side.
    stderr, _ = _run_side_by_side(new_repo, plog_home, "interleaved", "6s")
    _check_lines(stderr, (5, 15))


def test_plog_run_duet_shows_both_sides_in_a_ci_log(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    # Both sides at once: about 20/s each; the head's stored series is not shown twice.
    stderr, run_id = _run_side_by_side(new_repo, plog_home, "duet", "11s")
    _check_lines(stderr, (12, 28))
    assert not re.search(r"^ +\d+ s: \d+ req/s", stderr, re.M), stderr
    store = open_store(plog_home)
    record = store.get_run(run_id)
    rows = store.series(run_id)
    assert rows and all(
        record.started_at - 1 <= r.second <= (record.finished_at or 0) + 1 for r in rows
    )
    store.close()
