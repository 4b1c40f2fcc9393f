"""Verdict quality against the real example service, through the real pipeline.

Scenarios, in a throwaway git repository of ``examples/petstore`` per mode,
where later commits turn the app's benchmark knob (``SLOW_OPERATION``,
``SLOWDOWN``, ``NORMAL_MS`` in ``app.py``): every ``GET /pets`` request waits
25% (or 10%) of that operation's normal p95 more, the normal p95 being measured
first (median of 3 plain runs, or ``--normal-ms``). So the p95 grows by the
stated share (a little less when the machine is loaded, where the normal time
is longer):

* ``A/A``: the same commit against itself; any failed gate is a false regression;
* ``+25%`` and ``+10%``: ``GET /pets`` slowed; detected when the relative gate
  ``p95 <= +5%`` fails on ``GET /pets``.

Modes: ``interleaved`` (``compare.mode: interleaved``, base and head side by
side, paired test on the blocks) and ``sequential`` (``compare.mode:
sequential``: the base commit is run first, then the head is compared with that
stored run). Every other trial (odd indices) runs beside a CPU hog, a process
spinning on one core for the whole trial.

    .venv/bin/python -m bench.verdict_quality --trials 6 --duration 6s
    .venv/bin/python -m bench.verdict_quality          # the issue's size: hours

Prints one table and writes it as JSON (``--json``, default
``verdict_quality.json`` in the current directory). Run one benchmark at a time
on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console

from plog_ci.analysis.stats import StatsSettings
from plog_ci.analysis.stored_runs import compare_stored, interleaved_sides, run_samples
from plog_ci.config.durations import parse_duration
from plog_ci.errors import PlogError
from plog_ci.pipeline import RunRequest, run
from plog_ci.proc import Process
from plog_ci.store.sqlite import open_store

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "petstore"
SLOWED = "GET /pets"
GATE = "p95 <= +5%"
SCENARIOS = {"A/A": 0.0, "+25%": 0.25, "+10%": 0.10}
MODES = ("interleaved", "sequential")

PLOG_YML = """\
version: 1
service:
  run: python app.py --port {{port}}
  health: /health
  startup_timeout: 20s
openapi: openapi.yaml
load:
  rate: {rate}
  vus: 10
  duration: {duration}
  operations: ["GET /pets", "GET /pets/{{petId}}"]
gates:
  - "{gate}"
compare:
  mode: {mode}
  blocks: {blocks}
  baseline: base
"""


@dataclass
class Trial:
    mode: str
    scenario: str
    index: int
    hog: bool
    status: str  # the pipeline's status
    verdict: str  # regression | pass | no-verdict | error
    delta_pct: float | None  # the measured p95 change of GET /pets
    detail: str
    seconds: float
    p50_verdict: str  # the same runs judged on p50 alone (a diagnostic, not the gate)


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "PLog Bench",
        "GIT_AUTHOR_EMAIL": "bench@plog.invalid",
        "GIT_COMMITTER_NAME": "PLog Bench",
        "GIT_COMMITTER_EMAIL": "bench@plog.invalid",
    }
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def _slow(app: str, factor: float, normal_ms: float) -> str:
    for old, new in (
        ('SLOW_OPERATION = ""', f'SLOW_OPERATION = "{SLOWED}"'),
        ("SLOWDOWN = 0.0", f"SLOWDOWN = {factor}"),
        ("NORMAL_MS = 0.0", f"NORMAL_MS = {normal_ms:.3f}"),
    ):
        if old not in app:
            raise RuntimeError(f"examples/petstore/app.py no longer has the knob {old!r}")
        app = app.replace(old, new, 1)
    return app


def build_repo(root: Path, mode: str, args: argparse.Namespace, normal_ms: float) -> dict[str, str]:
    """A repository for one mode: the base commit and one commit per slowdown."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    shutil.copy2(EXAMPLE / "openapi.yaml", repo / "openapi.yaml")
    (repo / "plog.yml").write_text(
        PLOG_YML.format(
            rate=args.rate, duration=args.duration, gate=GATE, mode=mode, blocks=args.blocks
        ),
        encoding="utf-8",
    )
    commits: dict[str, str] = {}
    for name, factor in SCENARIOS.items():
        text = _slow(app, factor, normal_ms) if factor else app
        (repo / "app.py").write_text(text, encoding="utf-8")
        _git(repo, "add", "--all")
        _git(repo, "commit", "--quiet", "--allow-empty", "-m", f"petstore {name}")
        commits[name] = _git(repo, "rev-parse", "HEAD")
    commits["repo"] = str(repo)
    return commits


def calibrate(root: Path, args: argparse.Namespace, console: Console, runs: int = 3) -> float:
    """The normal p95 of the slowed operation (median of ``runs`` runs), in ms."""
    commits = build_repo(root / "calibrate", "off", args, 0.0)
    home = root / "calibrate-home"
    found = []
    for _ in range(runs):
        outcome = run(
            RunRequest(repo=Path(commits["repo"]), head=commits["A/A"], home=home),
            console=console,
        )
        store = open_store(home)
        try:
            stats = store.operation_stats(outcome.run_id or 0).get(SLOWED)
        finally:
            store.close()
        if stats is None or stats.count == 0:
            raise RuntimeError(f"calibration run failed: {outcome.summary}")
        found.append(stats.p95)
    return statistics.median(found)


def _classify(home: Path, run_id: int | None, scenario: str) -> tuple[str, float | None, str]:
    if run_id is None:
        return "error", None, "no run"
    store = open_store(home)
    try:
        outcomes = [o for o in store.gate_outcomes(run_id) if o["gate"] == GATE]
    finally:
        store.close()
    slowed = next((o for o in outcomes if o["operation"] == SLOWED), None)
    delta = slowed["value"] if slowed else None
    failed = [o for o in outcomes if o["passed"] is False]
    if scenario == "A/A":
        hit = bool(failed)
    else:
        hit = any(o["operation"] == SLOWED for o in failed)
    if hit:
        return "regression", delta, "; ".join(o["detail"] for o in failed)[:300]
    if slowed is None or slowed["passed"] is None:
        first = slowed or (outcomes[0] if outcomes else {"detail": "no outcome"})
        return "no-verdict", delta, str(first["detail"])[:300]
    return "pass", delta, str(slowed["detail"])[:300]


def _p50_verdict(
    home: Path, mode: str, base_run: int | None, run_id: int | None, scenario: str
) -> str:
    """What the statistics say on p50 for the same stored runs (``plog compare``'s view)."""
    if run_id is None:
        return "error"
    store = open_store(home)
    try:
        if mode == "interleaved":
            old, new = interleaved_sides(store, run_id)
        elif base_run is not None:
            old, new = run_samples(store, base_run), run_samples(store, run_id)
        else:
            return "error"
    except PlogError:
        return "no-verdict"
    finally:
        store.close()
    settings = StatsSettings(paired=mode == "interleaved", metrics=("p50",))
    found = compare_stored(old, new, settings)
    if any(
        c.verdict == "regression" and (scenario == "A/A" or c.operation == SLOWED) for c in found
    ):
        return "regression"
    slowed = next((c for c in found if c.operation == SLOWED), None)
    return "no-verdict" if slowed is None or slowed.verdict == "no-verdict" else "pass"


def one_trial(
    commits: dict[str, str], mode: str, scenario: str, home: Path, console: Console
) -> tuple[str, str, float | None, str, str]:
    repo = Path(commits["repo"])
    base, head = commits["A/A"], commits[scenario]
    base_run = None
    if mode == "sequential":
        # The base commit's stored run, measured just before the head (newest wins).
        first = run(RunRequest(repo=repo, head=base, branch="main", home=home), console=console)
        if first.status == "error":
            return "error", "error", None, f"base run: {first.summary}"[:300], "error"
        base_run = first.run_id
    outcome = run(
        RunRequest(repo=repo, head=head, base=base, branch="main", home=home), console=console
    )
    verdict, delta, detail = _classify(home, outcome.run_id, scenario)
    if outcome.status == "error":
        verdict, detail = "error", outcome.summary[:300]
    p50 = _p50_verdict(home, mode, base_run, outcome.run_id, scenario)
    return outcome.status, verdict, delta, detail, p50


def summarise(trials: Sequence[Trial]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for mode in MODES:
        for scenario in SCENARIOS:
            for hog in ("no", "yes", "all"):
                cell = [
                    t
                    for t in trials
                    if t.mode == mode
                    and t.scenario == scenario
                    and (hog == "all" or t.hog == (hog == "yes"))
                ]
                if not cell:
                    continue
                hits = sum(1 for t in cell if t.verdict == "regression")
                p50_hits = sum(1 for t in cell if t.p50_verdict == "regression")
                deltas = [t.delta_pct for t in cell if t.delta_pct is not None]
                rows.append(
                    {
                        "mode": mode,
                        "scenario": scenario,
                        "cpu_hog": hog,
                        "trials": len(cell),
                        "regressions": hits,
                        "rate": hits / len(cell),
                        "no_verdict": sum(1 for t in cell if t.verdict == "no-verdict"),
                        "errors": sum(1 for t in cell if t.verdict == "error"),
                        "median_delta_pct": statistics.median(deltas) if deltas else None,
                        "p50_regressions": p50_hits,
                        "p50_rate": p50_hits / len(cell),
                    }
                )
    return rows


def render(rows: Sequence[dict[str, object]]) -> str:
    head = [
        "mode",
        "scenario",
        "cpu hog",
        "trials",
        "flagged",
        "rate",
        "no-verdict",
        "errors",
        "median p95 delta",
        "p50 flagged",
    ]
    table = [head]
    for r in rows:
        delta = r["median_delta_pct"]
        rate = r["rate"]
        assert isinstance(rate, float)
        table.append(
            [
                str(r["mode"]),
                str(r["scenario"]),
                str(r["cpu_hog"]),
                str(r["trials"]),
                str(r["regressions"]),
                f"{rate * 100:.0f}%",
                str(r["no_verdict"]),
                str(r["errors"]),
                "-" if delta is None else f"{float(str(delta)):+.1f}%",
                f"{r['p50_regressions']}",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    lines.append(
        "flagged = false regressions for A/A (target 0, at most 1%); detections of the "
        f"slowed {SLOWED} for +25% (target >= 95%) and +10% (target >= 80%); gate '{GATE}'.\n"
        "p50 flagged: the same stored runs judged on p50 alone (diagnostic, as plog compare)"
    )
    return "\n".join(lines)


def _write_json(args: argparse.Namespace, trials: list[Trial], *, done: bool) -> None:
    data = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "complete": done,
        "table": summarise(trials),
        "trials": [asdict(t) for t in trials],
    }
    args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="trials per mode and scenario")
    parser.add_argument("--duration", default="30s", help="load.duration of each test")
    parser.add_argument("--blocks", type=int, default=20, help="compare.blocks (interleaved)")
    parser.add_argument("--rate", type=int, default=40, help="requests/s per operation")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated")
    parser.add_argument(
        "--normal-ms",
        type=float,
        default=0.0,
        help=f"normal p95 of {SLOWED} in ms (default: measured, median of 3 runs)",
    )
    parser.add_argument("--json", type=Path, default=Path("verdict_quality.json"))
    args = parser.parse_args(argv)
    parse_duration(args.duration)
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes) or args.trials < 1:
        parser.error(f"--modes takes {', '.join(MODES)}; --trials at least 1")
    console = Console(stderr=True, quiet=True)
    trials: list[Trial] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="plog-verdict-") as tmp:
        root = Path(tmp)
        home = root / "home"
        normal_ms = args.normal_ms or calibrate(root, args, console)
        print(f"normal p95 of {SLOWED}: {normal_ms:.2f} ms", file=sys.stderr, flush=True)
        args.normal_ms = normal_ms
        repos = {mode: build_repo(root / mode, mode, args, normal_ms) for mode in modes}
        for index in range(args.trials):
            hog_on = index % 2 == 1
            hog = (
                Process(
                    (sys.executable, "-c", "while True: pass"), log_path=root / f"hog-{index}.log"
                )
                if hog_on
                else None
            )
            try:
                for mode in modes:
                    for scenario in SCENARIOS:
                        t0 = time.monotonic()
                        status, verdict, delta, detail, p50 = one_trial(
                            repos[mode], mode, scenario, home, console
                        )
                        trial = Trial(
                            mode,
                            scenario,
                            index,
                            hog_on,
                            status,
                            verdict,
                            delta,
                            detail,
                            round(time.monotonic() - t0, 1),
                            p50,
                        )
                        trials.append(trial)
                        print(
                            f"[{time.monotonic() - started:6.0f}s] trial {index} {mode:11s} "
                            f"{scenario:5s} hog={'yes' if hog_on else 'no ':3s} -> {verdict:10s} "
                            f"delta={'-' if delta is None else f'{delta:+.1f}%'} p50: {p50}",
                            file=sys.stderr,
                            flush=True,
                        )
            finally:
                if hog is not None:
                    hog.stop(grace=1.0)
            _write_json(args, trials, done=False)  # a long run keeps what it measured so far
    rows = summarise(trials)
    print(render(rows))
    print(
        f"({args.trials} trials per mode and scenario, load.duration {args.duration}, "
        f"{args.blocks} blocks, {args.rate} req/s per operation, "
        f"normal p95 of {SLOWED} {args.normal_ms:.2f} ms, "
        f"{time.monotonic() - started:.0f} s in all)"
    )
    _write_json(args, trials, done=True)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
