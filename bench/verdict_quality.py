"""Verdict quality against the real example service, through the real pipeline.

Scenarios, in a throwaway git repository of ``examples/petstore`` per mode,
where later commits turn the app's benchmark knob (``SLOW_OPERATION``,
``SLOWDOWN``, ``NORMAL_MS`` in ``app.py``): every ``GET /pets`` request waits
25% (or 10%) of that operation's normal p95 more, the normal p95 being measured
first (median of 3 plain runs, or ``--normal-ms``), once on a quiet machine and
once beside the CPU hog (``--normal-ms-hog``): a loaded machine doubles the normal
time, and the trials beside the hog use commits slowed by their own share of it.
So the p95 grows by about the stated share in both conditions:

* ``A/A``: the same commit against itself; any failed gate is a false regression;
* ``+25%`` and ``+10%``: ``GET /pets`` slowed; detected when the relative gate
  ``p95 <= +5%`` fails on ``GET /pets``.

Modes: ``duet`` (``compare.mode: duet``, the default: base and head side by
side, loaded at the same time by one k6 process, paired test on blocks of the
same seconds), ``interleaved`` (``compare.mode: interleaved``, base and head side
by side, load alternating in blocks, paired test on the blocks) and
``sequential`` (``compare.mode:
sequential``: the base commit is run first, then each head is compared with that
stored run; the three scenarios of one trial share it). Every other trial (odd
indices) runs beside a CPU hog, a process spinning on one core for the whole trial
(``--hog always`` or ``--hog never`` for probes of one condition).

    .venv/bin/python -m bench.verdict_quality --trials 6 --duration 6s
    .venv/bin/python -m bench.verdict_quality          # the issue's size: hours
    .venv/bin/python -m bench.verdict_quality --resume --json vq.json --max-minutes 60

``--resume`` keeps the trials already in ``--json`` (measured with the same
settings) and adds the missing ones, so the issue's size can be reached over
several sittings; ``--max-minutes`` starts no new trial after that long.

Prints one table and writes it as JSON (``--json``, default
``verdict_quality.json`` in the current directory). Run one benchmark at a time
on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from plog_ci import proc
from plog_ci.analysis.comparison import Comparison, StatsSettings
from plog_ci.analysis.stored_runs import (
    RunSamples,
    compare_stored,
    interleaved_sides,
    run_samples,
)
from plog_ci.config.durations import parse_duration
from plog_ci.errors import PlogError
from plog_ci.pipeline import RunRequest, run
from plog_ci.proc import Process, stop_all
from plog_ci.store.sqlite import open_store

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "petstore"
SLOWED = "GET /pets"
GATE = "p95 <= +5%"
SCENARIOS = {"A/A": 0.0, "+25%": 0.25, "+10%": 0.10}
# Sequential trials run A/A last: see one_trial.
ORDER = ("+25%", "+10%", "A/A")
MODES = ("duet", "interleaved", "sequential")
# Base and head deployed together: paired blocks in one run.
SIDE_BY_SIDE = ("duet", "interleaved")

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
  replicas: {replicas}
  baseline: base
{turn}"""


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
    # Interleaved only: p95 judged by the signed-rank test on per-block p95s, the test
    # used before blocks kept their histograms (a diagnostic, not the gate).
    block_p95_verdict: str = "-"
    run_id: int | None = None  # the head's run in the results store (--home)
    base_run_id: int | None = None  # sequential: the stored base run it was compared with
    # Seconds of load per side the comparison ran (adaptive: where it stopped; issue 22).
    length_s: float | None = None


def load_length(home: Path, run_id: int | None) -> float | None:
    """Seconds of load per side of a run: an adaptive run's ``sequence`` document, else
    its stored result's duration; None without a run."""
    if run_id is None:
        return None
    store = open_store(home)
    try:
        with store.transaction() as conn:
            rows = conn.execute(
                "SELECT name, data FROM run_documents WHERE run_id = ? AND name IN "
                "('sequence', 'result')",
                (run_id,),
            ).fetchall()
    finally:
        store.close()
    docs = {name: json.loads(data) for name, data in rows}
    seconds = docs.get("sequence", {}).get("seconds", docs.get("result", {}).get("duration_s"))
    return float(seconds) if isinstance(seconds, int | float) else None


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "PLog Bench",
        "GIT_AUTHOR_EMAIL": "bench@plog.invalid",
        "GIT_COMMITTER_NAME": "PLog Bench",
        "GIT_COMMITTER_EMAIL": "bench@plog.invalid",
    }
    return proc.run(("git", *args), cwd=repo, env=env).stdout.strip()


def slowed_app(app: str, factor: float, normal_ms: float, kind: str = "sleep") -> str:
    """The example's app.py with SLOWED slowed ``factor`` x ``normal_ms`` by ``kind``
    (its knob lines; bench/narrative_grounding.py uses it too)."""
    for old, new in (
        ('SLOW_OPERATION = ""', f'SLOW_OPERATION = "{SLOWED}"'),
        ("SLOWDOWN = 0.0", f"SLOWDOWN = {factor}"),
        ("NORMAL_MS = 0.0", f"NORMAL_MS = {normal_ms:.3f}"),
        ('SLOW_KIND = "sleep"', f'SLOW_KIND = "{kind}"'),
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
            rate=args.rate,
            duration=args.duration,
            gate=GATE,
            mode=mode,
            blocks=args.blocks,
            replicas=args.replicas,
            turn=(f"  turn: {args.turn}\n" if args.turn else "")
            + (
                f"  length: adaptive\n  max_duration: {args.max_duration}\n"
                if getattr(args, "length", "fixed") == "adaptive" and mode == "interleaved"
                else ""
            ),
        ),
        encoding="utf-8",
    )
    commits: dict[str, str] = {}
    for name, factor in SCENARIOS.items():
        text = slowed_app(app, factor, normal_ms, args.slowdown) if factor else app
        (repo / "app.py").write_text(text, encoding="utf-8")
        _git(repo, "add", "--all")
        _git(repo, "commit", "--quiet", "--allow-empty", "-m", f"petstore {name}")
        commits[name] = _git(repo, "rev-parse", "HEAD")
    commits["repo"] = str(repo)
    return commits


def calibrate(
    root: Path,
    args: argparse.Namespace,
    console: Console,
    *,
    hog: bool,
    runs: int = 3,
    mode: str = "",
) -> float:
    """The normal p95 of the slowed operation (median of ``runs`` runs), in ms.

    ``mode`` (duet, interleaved): measured in A/A runs of that mode, where base
    and head share the machine, so that a slowdown is its share of the time that
    mode measures (a duet doubles the load; interleaving leaves each side idle
    between its turns). Empty: single runs, for sequential comparisons.
    """
    where = root / f"calibrate{'-' + mode if mode else ''}{'-hog' if hog else ''}"
    commits = build_repo(where, mode or "off", args, 0.0)
    home = where / "home"
    found = []
    spinner = cpu_hog(-1, root) if hog else None
    try:
        found = _calibration_runs(commits, home, console, runs, side_by_side=bool(mode))
    finally:
        if spinner is not None:
            spinner.stop(grace=1.0)
    return statistics.median(found)


def _calibration_runs(
    commits: dict[str, str], home: Path, console: Console, runs: int, *, side_by_side: bool
) -> list[float]:
    found = []
    for _ in range(runs):
        base = commits["A/A"] if side_by_side else None
        outcome = run(
            RunRequest(repo=Path(commits["repo"]), head=commits["A/A"], base=base, home=home),
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
    return found


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


def _diagnostic(
    home: Path,
    mode: str,
    base_run: int | None,
    run_id: int | None,
    scenario: str,
    metric: str,
    *,
    per_block: bool = False,
) -> str:
    """What the statistics say on ``metric`` for the same stored runs (``plog compare``'s
    view); ``per_block`` drops the blocks' histograms, so paired latency falls back to
    the signed-rank test on per-block values."""
    if run_id is None:
        return "error"
    store = open_store(home)
    try:
        if mode in SIDE_BY_SIDE:
            old, new = interleaved_sides(store, run_id)
        elif base_run is not None:
            old, new = run_samples(store, base_run), run_samples(store, run_id)
        else:
            return "error"
    except PlogError:
        return "no-verdict"
    finally:
        store.close()
    if per_block:
        old, new = _without_histograms(old), _without_histograms(new)
    settings = StatsSettings(paired=mode in SIDE_BY_SIDE, metrics=(metric,))
    return verdict_of(compare_stored(old, new, settings), scenario)


def verdict_of(found: Sequence[Comparison], scenario: str) -> str:
    """A trial's verdict from its comparisons: any regression counts for A/A, only the
    slowed operation's for the slowdowns."""
    if any(
        c.verdict == "regression" and (scenario == "A/A" or c.operation == SLOWED) for c in found
    ):
        return "regression"
    slowed = next((c for c in found if c.operation == SLOWED), None)
    return "no-verdict" if slowed is None or slowed.verdict == "no-verdict" else "pass"


def _without_histograms(samples: RunSamples) -> RunSamples:
    return replace(
        samples, samples={op: replace(s, histograms=()) for op, s in samples.samples.items()}
    )


def base_run(commits: dict[str, str], home: Path, console: Console) -> tuple[int | None, str]:
    """Sequential mode: the base commit measured and stored, to be compared against."""
    first = run(
        RunRequest(repo=Path(commits["repo"]), head=commits["A/A"], branch="main", home=home),
        console=console,
    )
    if first.status == "error":
        return None, f"base run: {first.summary}"[:300]
    return first.run_id, ""


def one_trial(
    commits: dict[str, str],
    mode: str,
    scenario: str,
    home: Path,
    console: Console,
    base_run_id: int | None = None,
) -> tuple[str, str, float | None, str, str, str, int | None]:
    """One head run against the base: side by side, or against the stored base run.

    Sequential trials of one index share their base run: the heads of ``+25%`` and
    ``+10%`` are other commits, and ``A/A`` runs last, so the newest stored run of
    the base commit is that base run for all three.
    """
    repo = Path(commits["repo"])
    base, head = commits["A/A"], commits[scenario]
    outcome = run(
        RunRequest(repo=repo, head=head, base=base, branch="main", home=home), console=console
    )
    verdict, delta, detail = _classify(home, outcome.run_id, scenario)
    if outcome.status == "error":
        verdict, detail = "error", outcome.summary[:300]
    p50 = _diagnostic(home, mode, base_run_id, outcome.run_id, scenario, "p50")
    block_p95 = (
        _diagnostic(home, mode, base_run_id, outcome.run_id, scenario, "p95", per_block=True)
        if mode in SIDE_BY_SIDE
        else "-"
    )
    return outcome.status, verdict, delta, detail, p50, block_p95, outcome.run_id


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
                lengths = [t.length_s for t in cell if t.length_s is not None]
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
                        "median_length_s": statistics.median(lengths) if lengths else None,
                        "p50_regressions": p50_hits,
                        "p50_rate": p50_hits / len(cell),
                        "block_p95_regressions": (
                            sum(1 for t in cell if t.block_p95_verdict == "regression")
                            if mode in SIDE_BY_SIDE
                            else None
                        ),
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
        "p95 per-block",
        "median length",
    ]
    table = [head]
    for r in rows:
        delta, length = r["median_delta_pct"], r["median_length_s"]
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
                "-" if r["block_p95_regressions"] is None else str(r["block_p95_regressions"]),
                "-" if length is None else f"{float(str(length)):.1f} s",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    lines.append(
        "flagged = false regressions for A/A (target 0, at most 1%); detections of the "
        f"slowed {SLOWED} for +25% (target >= 95%) and +10% (target >= 80%); gate '{GATE}'.\n"
        "p50 flagged: the same stored runs judged on p50 alone (diagnostic, as plog compare);\n"
        "p95 per-block: duet and interleaved p95 judged by the signed-rank test on per-block p95s "
        "instead of the pooled test (diagnostic);\n"
        "median length: seconds of load per side (adaptive: where the test stopped)"
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


# Settings that must match for trials from an earlier run to be counted with new ones.
_SAME = ("duration", "blocks", "rate", "normal_ms", "normal_ms_hog")
# Per-mode calibrations; absent from files written before the mode was calibrated.
_SAME_SIDE = (
    "normal_ms_duet",
    "normal_ms_duet_hog",
    "normal_ms_interleaved",
    "normal_ms_interleaved_hog",
)
# Files from before interleaving was calibrated on its own took single-run p95s.
_LEGACY = {"normal_ms_interleaved": "normal_ms", "normal_ms_interleaved_hog": "normal_ms_hog"}


def _saved(settings: dict[str, Any], key: str) -> float:
    """A calibration as a file's trials used it."""
    if key in settings:
        return float(settings[key] or 0.0)
    return float(settings.get(_LEGACY.get(key, ""), 0.0) or 0.0)


def normal_ms(args: argparse.Namespace, mode: str, hog: bool) -> float:
    """The normal p95 the slowdowns of ``mode`` are a share of."""
    if mode == "duet":
        return float(args.normal_ms_duet_hog if hog else args.normal_ms_duet)
    if mode == "interleaved":
        return float(args.normal_ms_interleaved_hog if hog else args.normal_ms_interleaved)
    return float(args.normal_ms_hog if hog else args.normal_ms)


def _resumed(args: argparse.Namespace) -> list[Trial]:
    """Trials already in ``--json`` (``--resume``), after checking they were measured alike."""
    if not args.resume or not args.json.exists():
        return []
    data = json.loads(args.json.read_text(encoding="utf-8"))
    before = data["settings"]
    for key in ("normal_ms", "normal_ms_hog", *_SAME_SIDE):
        if not getattr(args, key):
            setattr(args, key, _saved(before, key))
    different = [k for k in _SAME if before.get(k) != getattr(args, k)]
    different += [k for k in _SAME_SIDE if _saved(before, k) != getattr(args, k)]
    if before.get("replicas", 1) != args.replicas:  # files before replicas ran with 1
        different.append("replicas")
    if (before.get("turn") or "") != args.turn:  # files before turns ran without
        different.append("turn")
    if before.get("slowdown", "sleep") != args.slowdown:  # files before it slept
        different.append("slowdown")
    length = getattr(args, "length", "fixed")  # namespaces from before issue 22: fixed
    if before.get("length", "fixed") != length:
        different.append("length")
    if length == "adaptive" and before.get("max_duration") != args.max_duration:
        different.append("max_duration")
    if before.get("hog", "alternate") != args.hog:
        different.append("hog")
    if different:
        raise SystemExit(
            f"--resume: {args.json} was measured with other settings ({', '.join(different)}); "
            "use the same ones or another --json"
        )
    return [Trial(**t) for t in data["trials"]]


HOG_POLICIES = ("alternate", "always", "never")


def beside_hog(index: int, policy: str) -> bool:
    """Whether trial ``index`` runs beside the hog: odd indices, unless ``--hog`` says."""
    return policy == "always" or (policy == "alternate" and index % 2 == 1)


def cpu_hog(index: int, root: Path) -> Process:
    """A process spinning on one core."""
    return Process((sys.executable, "-c", "while True: pass"), log_path=root / f"hog-{index}.log")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="trials per mode and scenario")
    parser.add_argument("--duration", default="30s", help="load.duration of each test")
    parser.add_argument("--blocks", type=int, default=20, help="compare.blocks (duet, interleaved)")
    parser.add_argument("--rate", type=int, default=100, help="requests/s per operation")
    parser.add_argument(
        "--replicas", type=int, default=1, help="compare.replicas (processes per side)"
    )
    parser.add_argument(
        "--turn", default="", help="compare.turn (interleaved; default: one turn per block)"
    )
    parser.add_argument(
        "--slowdown",
        choices=("sleep", "cpu"),
        default="sleep",
        help="how the slowed operation takes its extra time: sleep (waits without the CPU) "
        "or cpu (spins, like slower code)",
    )
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated")
    parser.add_argument(
        "--scenarios",
        default=",".join(ORDER),
        help="comma-separated subset of "
        + ", ".join(ORDER).replace("%", "%%")
        + " (e.g. A/A,+10%% for a probe)",
    )
    parser.add_argument(
        "--normal-ms",
        type=float,
        default=0.0,
        help=f"normal p95 of {SLOWED} in ms (default: measured, median of 3 runs)",
    )
    parser.add_argument(
        "--normal-ms-hog",
        type=float,
        default=0.0,
        help=f"normal p95 of {SLOWED} beside the CPU hog (default: measured likewise)",
    )
    parser.add_argument(
        "--normal-ms-duet",
        type=float,
        default=0.0,
        help=f"normal p95 of {SLOWED} in an A/A duet (default: measured when duet runs)",
    )
    parser.add_argument(
        "--normal-ms-duet-hog",
        type=float,
        default=0.0,
        help=f"normal p95 of {SLOWED} in an A/A duet beside the CPU hog (likewise)",
    )
    parser.add_argument(
        "--normal-ms-interleaved",
        type=float,
        default=0.0,
        help=f"normal p95 of {SLOWED} in an A/A interleaved run (default: measured when "
        "interleaved runs)",
    )
    parser.add_argument(
        "--normal-ms-interleaved-hog",
        type=float,
        default=0.0,
        help=f"normal p95 of {SLOWED} in an A/A interleaved run beside the CPU hog (likewise)",
    )
    parser.add_argument(
        "--length",
        choices=("fixed", "adaptive"),
        default="fixed",
        help="compare.length (adaptive: interleaved only, issue 22)",
    )
    parser.add_argument(
        "--max-duration", default="120s", help="compare.max_duration with --length adaptive"
    )
    parser.add_argument("--json", type=Path, default=Path("verdict_quality.json"))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the trials already in --json and add trials up to --trials",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="keep the results store here (default: a temporary folder), to re-analyse "
        "the stored runs later",
    )
    parser.add_argument(
        "--hog",
        choices=HOG_POLICIES,
        default="alternate",
        help="which trials run beside the CPU hog: odd indices (alternate), all or none; "
        "the other condition is then neither calibrated nor run (for probes)",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="start no new trial index after this many minutes (0: no limit)",
    )
    args = parser.parse_args(argv)
    parse_duration(args.duration)
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes) or args.trials < 1:
        parser.error(f"--modes takes {', '.join(MODES)}; --trials at least 1")
    wanted = {s for s in args.scenarios.split(",") if s}
    if not wanted or not wanted <= set(ORDER):
        parser.error(f"--scenarios takes {', '.join(ORDER)}")
    scenarios = [s for s in ORDER if s in wanted]  # A/A stays last (see one_trial)
    console = Console(stderr=True, quiet=True)
    trials = _resumed(args)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="plog-verdict-") as tmp:
        root = Path(tmp)
        home = args.home or root / "home"
        conditions = [c for c, skip in ((False, "always"), (True, "never")) if args.hog != skip]
        for spinning in conditions:
            name = "normal_ms_hog" if spinning else "normal_ms"
            setattr(args, name, getattr(args, name) or calibrate(root, args, console, hog=spinning))
        for mode in SIDE_BY_SIDE:
            if mode in modes:
                for spinning in conditions:
                    name = f"normal_ms_{mode}" + ("_hog" if spinning else "")
                    value = getattr(args, name) or calibrate(
                        root, args, console, hog=spinning, mode=mode
                    )
                    setattr(args, name, value)
        print(
            f"normal p95 of {SLOWED}: {args.normal_ms:.2f} ms quiet, "
            f"{args.normal_ms_hog:.2f} ms beside the CPU hog"
            + "".join(
                f"; in A/A {mode} runs {normal_ms(args, mode, False):.2f} ms quiet, "
                f"{normal_ms(args, mode, True):.2f} ms beside the hog"
                for mode in SIDE_BY_SIDE
                if mode in modes
            ),
            file=sys.stderr,
            flush=True,
        )
        repos = {
            (mode, hog): build_repo(
                root / f"{mode}-{'hog' if hog else 'quiet'}",
                mode,
                args,
                normal_ms(args, mode, hog),
            )
            for mode in modes
            for hog in conditions
        }
        for index in range(args.trials):
            if args.max_minutes and time.monotonic() - started > args.max_minutes * 60:
                break
            todo = [m for m in modes if not any(t.mode == m and t.index == index for t in trials)]
            if not todo:
                continue
            hog = cpu_hog(index, root) if beside_hog(index, args.hog) else None
            try:
                for mode in todo:
                    base_id, failure = None, ""
                    if mode == "sequential":
                        base_id, failure = base_run(repos[mode, hog is not None], home, console)
                    for scenario in scenarios:
                        t0 = time.monotonic()
                        result: tuple[str, str, float | None, str, str, str, int | None]
                        if failure:
                            result = ("error", "error", None, failure, "error", "-", None)
                        else:
                            result = one_trial(
                                repos[mode, hog is not None], mode, scenario, home, console, base_id
                            )
                        status, verdict, delta, detail, p50, block_p95, run_id = result
                        trials.append(
                            Trial(
                                mode,
                                scenario,
                                index,
                                hog is not None,
                                status,
                                verdict,
                                delta,
                                detail,
                                round(time.monotonic() - t0, 1),
                                p50,
                                block_p95,
                                run_id,
                                base_id,
                                load_length(home, run_id),
                            )
                        )
                        print(
                            f"[{time.monotonic() - started:6.0f}s] trial {index} {mode:11s} "
                            f"{scenario:5s} hog={'yes' if hog else 'no ':3s} -> {verdict:10s} "
                            f"delta={'-' if delta is None else f'{delta:+.1f}%'} p50: {p50} "
                            f"p95 per-block: {block_p95}",
                            file=sys.stderr,
                            flush=True,
                        )
            finally:
                if hog is not None:
                    hog.stop(grace=1.0)
            _write_json(args, trials, done=False)  # a long run keeps what it measured so far
    rows = summarise(trials)
    print(render(rows))
    per_cell = min(
        (sum(1 for t in trials if t.mode == m and t.scenario == scenarios[-1]) for m in modes),
        default=0,
    )
    print(
        f"({per_cell} trials per mode and scenario, load.duration {args.duration}, "
        f"{args.blocks} blocks, {args.rate} req/s per operation, "
        + (f"{args.replicas} processes per side, " if args.replicas > 1 else "")
        + (f"turns of {args.turn}, " if args.turn else "")
        + (f"{args.slowdown} slowdowns, " if args.slowdown != "sleep" else "")
        + ({"always": "every trial beside the hog, ", "never": "no hog, "}.get(args.hog, ""))
        + f"normal p95 of {SLOWED} {args.normal_ms:.2f} ms ({args.normal_ms_hog:.2f} ms with hog"
        + "".join(
            f"; {mode} {normal_ms(args, mode, False):.2f} ms, {normal_ms(args, mode, True):.2f} ms"
            for mode in SIDE_BY_SIDE
            if mode in modes
        )
        + "), "
        f"{time.monotonic() - started:.0f} s this time)"
    )
    _write_json(args, trials, done=per_cell >= args.trials)
    print(f"wrote {args.json}")


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C, so the hog, the services and k6 are stopped.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
