"""Same verdicts with containers: A/A comparisons of two podman deploys of the same
tree (issue 19's bar: no false regression in 10 trials).

The petstore example with examples/petstore/plog.podman.yml (BASE the local
debootstrap base), ``compare.mode: interleaved``, in a throwaway git repository of
two commits with the same tree (the second is empty): each trial is ``plog run
--head SECOND --base FIRST``, so both sides are built (from the layer cache: the
same layers, their own commit labels), run as containers side by side with the same
``deploy.resources`` and loaded in turns. The example's relative gate is replaced
by ``--gate`` (default ``p95 <= +5%``, the gate of the verdict-quality bars in
docs/statistics.md; a pass there is a pass at the example's +20%). A trial with a
failed relative gate on any operation is a false regression.

    .venv/bin/python -m bench container_verdicts                 # 10 trials, 10-s load
    .venv/bin/python -m bench container_verdicts --trials 1 --duration 3s

Prints a table per trial (the relative gate per operation: change and verdict);
``--json`` writes it. Run it under ``flock /tmp/plog-load.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._containers import (
    commit,
    git,
    petstore_repo,
    plog_env,
    plog_yml,
    remove_images,
    timed_plog_run,
)
from plog_ci.store.sqlite import open_store
from testing.container_tools import base_image, containers

EXAMPLE_GATE = "  - p95 <= +20%\n"


def relative(gate: str) -> bool:
    """A gate against the base (``p95 <= +5%``), as opposed to an absolute one."""
    return "%" in gate and "+" in gate


def classify(home: Path, run_id: int | None) -> dict[str, Any]:
    """The trial's relative-gate outcomes and verdict: ``regression`` (a relative gate
    failed), ``pass``, ``no-verdict`` (none evaluated) or ``error`` (no run)."""
    if run_id is None:
        return {"verdict": "error", "outcomes": []}
    store = open_store(home)
    try:
        outcomes = [o for o in store.gate_outcomes(run_id) if relative(str(o["gate"]))]
        kind = store.get_run(run_id).status
    finally:
        store.close()
    rows = [
        {"operation": o["operation"], "value": o["value"], "passed": o["passed"],
         "detail": str(o["detail"])[:200]}
        for o in outcomes
    ]  # fmt: skip
    if any(o["passed"] is False for o in outcomes):
        verdict = "regression"
    elif any(o["passed"] is True for o in outcomes):
        verdict = "pass"
    else:
        verdict = "no-verdict"
    return {"verdict": verdict, "status": kind, "outcomes": rows}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--duration", default=None, help="load duration (default: the example's)")
    parser.add_argument("--gate", default="p95 <= +5%", help="the relative gate judged")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    if not relative(args.gate):
        parser.error(f"--gate {args.gate!r} is not relative to the base (e.g. p95 <= +5%)")
    tools = containers()
    config = plog_yml(
        podman=True, base=base_image(tools), duration=args.duration,
        extra="compare:\n  mode: interleaved\n",
    )  # fmt: skip
    if EXAMPLE_GATE not in config:
        raise SystemExit("examples/petstore/plog.podman.yml no longer has the gate p95 <= +20%")
    config = config.replace(EXAMPLE_GATE, f"  - {args.gate}\n")
    trials: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="plog-bench-verdicts-") as tmp_name:
        tmp = Path(tmp_name)
        repo = petstore_repo(tmp / "petstore-aa", config)
        first = git(repo, "rev-parse", "HEAD")
        second = commit(repo, "the same tree again")
        home = tmp / "home"
        env = plog_env(home, tmp / "tmp")
        try:
            for index in range(args.trials):
                log = tmp / f"trial-{index}.log"
                t = timed_plog_run(repo, env, log, ["--head", second, "--base", first])
                found = classify(home, t.run_id)
                trial = {"trial": index, "seconds": t.seconds, "exit": t.returncode, **found}
                if found["verdict"] in ("error", "no-verdict"):
                    trial["output_tail"] = log.read_text(errors="replace")[-1500:]
                trials.append(trial)
                print(render_trial(trial), flush=True)
        finally:
            remove_images(tools, ["localhost/plog/petstore-aa"])
    result = summarise(trials, args)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def render_trial(trial: dict[str, Any]) -> str:
    parts = []
    for o in trial["outcomes"]:
        value = "n/a" if o["value"] is None else f"{o['value']:+.1f}%"  # delta_pct
        mark = {True: "pass", False: "FAIL", None: "none"}[o["passed"]]
        parts.append(f"{o['operation']} {value} {mark}")
    return (
        f"trial {trial['trial']}: {trial['verdict']} (run {trial.get('status')}, "
        f"exit {trial['exit']}, "
        f"{trial['seconds']:.0f} s): " + "; ".join(parts)
    )


def summarise(trials: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    false = sum(t["verdict"] == "regression" for t in trials)
    judged = sum(t["verdict"] in ("regression", "pass") for t in trials)
    return {
        "settings": {
            "trials": args.trials,
            "duration": args.duration or "example (10s)",
            "gate": args.gate,
            "mode": "interleaved",
        },
        "false_regressions": false,
        "judged": judged,
        "trials_run": len(trials),
        "bar_met": false == 0 and judged == len(trials) == args.trials,
        "trials": trials,
    }


def render(result: dict[str, Any]) -> str:
    return (
        f"A/A, two podman deploys of the same tree, interleaved, gate "
        f"{result['settings']['gate']}: false regressions {result['false_regressions']}/"
        f"{result['trials_run']} ({result['judged']} judged); bar (0 of "
        f"{result['settings']['trials']}, all judged): "
        f"{'met' if result['bar_met'] else 'NOT met'}"
    )
