"""Nothing leaked: ``plog run``s with ``deploy.target: podman``, some SIGKILLed at random
points (issue 19's bar: zero left after the next run reaps).

The petstore example (plog.podman.yml, BASE the local debootstrap base, a short
load, ``compare.blocks: 2``) pushed to a real registry (testing/container_tools'
docker-registry with htpasswd and a test CA: every push and pull writes an auth
file) in a throwaway git repository. Each of ``--runs`` runs is ``plog run`` on a
new commit (app.py gains a comment line, so the COPY step is rebuilt and a new layer
pushed), its parent the base: base and head are built, pushed, pulled by digest and
run side by side. ``--kills`` of them (chosen at random, ``--seed``) are SIGKILLed
during a phase, the phases spread over build, push and load (``--phases``): when
``plog run`` has that child (buildah; podman push or pull; k6) the kill comes after
a random delay within the phase's window, and is recorded with the phase still seen
at that moment (a phase missed moves to the next run). Each kill is followed by a
count of what it left (``left``; every ``plog run`` reaps at its start, so the next
run removes it). After the last run: a count (``before_reap``), one more ``plog
run`` (which reaps) and the count again, every one of which must be zero:

- containers, pods and networks with PLog's label for this state directory
  (``podman ps -a``, ``pod ps``, ``network ls`` with PLog's container config);
- buildah working containers made since the start, runc containers (a RUN step) of
  these runs' builds, markers of builds whose owner died;
- auth files (``auth.json``, written by build/registry.py in ``plog-run-auth-*`` under
  ``plog run``'s TMPDIR: a TMPDIR of the benchmark's own here), and any ``plog-run-*``
  folder (env files, build folders);
- runs still marked ``running`` in the store.

    .venv/bin/python -m bench container_leaks                  # 20 runs, 5 kills
    .venv/bin/python -m bench container_leaks --runs 2 --kills 1 --phases load

Prints each run and the counts; ``--json`` writes them. Run it under
``flock /tmp/plog-load.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._containers import (
    REGISTRY_PASSWORD_ENV,
    build_containers,
    commit,
    leftovers,
    petstore_repo,
    phase_of,
    plog_env,
    plog_yml,
    remove_images,
    start_plog_run,
    timed_plog_run,
)
from plog_ci.store.sqlite import open_store
from testing.container_tools import base_image, containers, registry

PHASES = ("build", "push", "load")
# How long after a phase is first seen the kill may come (s): a cached push or pull
# of one small layer lasts a fraction of a second.
WINDOW_S = {"build": 0.5, "push": 0.05, "load": 2.0}
RUN_TIMEOUT_S = 600.0


def kill_during(
    repo: Path, env: dict[str, str], log: Path, phase: str, rng: random.Random
) -> dict[str, Any]:
    """Run ``plog run`` and SIGKILL it ``phase`` (after a random delay in the phase's
    window); what happened: killed (with the phase seen at the kill) or missed."""
    child = start_plog_run(repo, env, log)
    started = time.monotonic()
    seen_at: float | None = None
    delay = rng.uniform(0.0, WINDOW_S[phase])
    try:
        while child.poll() is None and time.monotonic() - started < RUN_TIMEOUT_S:
            now = phase_of(child.pid)
            if seen_at is None and now == phase:
                seen_at = time.monotonic()
            if seen_at is not None and time.monotonic() - seen_at >= delay:
                at_kill = phase_of(child.pid)
                os.kill(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
                return {
                    "killed": True,
                    "phase": phase,
                    "phase_at_kill": at_kill,
                    "delay_s": round(delay, 3),
                    "after_s": round(time.monotonic() - started, 2),
                }
            time.sleep(0.01)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    return {"killed": False, "phase": phase, "exit": child.returncode}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--phases", default=",".join(PHASES), help="where kills land, in turn")
    parser.add_argument("--duration", default="3s", help="each run's load")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not phases or set(phases) - set(PHASES):
        parser.error(f"--phases: a comma-separated list of {', '.join(PHASES)}")
    if not 0 <= args.kills <= args.runs:
        parser.error("--kills: between 0 and --runs")
    rng = random.Random(args.seed)
    planned = [phases[i % len(phases)] for i in range(args.kills)]
    rng.shuffle(planned)
    kill_at = sorted(rng.sample(range(args.runs), args.kills))
    tools = containers()
    base = base_image(tools)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="plog-bench-leaks-") as tmp_name:
        tmp = Path(tmp_name)
        with registry(tmp / "registry") as reg:
            assert reg.cert_dir is not None
            registry_yml = (
                "  registry:\n"
                f"    url: {reg.host}\n"
                "    repository: team/petstore\n"
                f"    username: {reg.username}\n"
                f"    password_env: {REGISTRY_PASSWORD_ENV}\n"
                "    ca_file: ca.pem\n"
            )
            config = plog_yml(
                podman=True, base=base, duration=args.duration, registry=registry_yml,
                extra="compare:\n  blocks: 2\n",
            )  # fmt: skip
            ca = (reg.cert_dir / "ca.crt").read_text(encoding="utf-8")
            repo = petstore_repo(tmp / "petstore-leaks", config, {"ca.pem": ca})
            home, ptmp = tmp / "home", tmp / "tmp"
            env = plog_env(home, ptmp, {REGISTRY_PASSWORD_ENV: reg.password})
            builds_before = build_containers(tools)
            try:
                pending: list[str] = []
                for index in range(args.runs):
                    with open(repo / "app.py", "a", encoding="utf-8") as fh:
                        fh.write(f"# benchmark change {index}\n")
                    commit(repo, f"change {index}")
                    if index in kill_at:
                        pending.append(planned[kill_at.index(index)])
                    log = tmp / f"run-{index}.log"
                    if pending:
                        row = kill_during(repo, env, log, pending[0], rng)
                        if row["killed"]:
                            pending.pop(0)
                            # What this kill left, before the next run reaps it.
                            left = leftovers(tools, home, ptmp, builds_before)
                            row["left"] = {k: len(v) for k, v in left.items() if v}
                    else:
                        t = timed_plog_run(repo, env, log)
                        row = {"killed": False, "exit": t.returncode, "status": t.status}
                        if t.tail:
                            row["output_tail"] = t.tail
                    row["run"] = index
                    runs.append(row)
                    print(json.dumps(row), flush=True)
                # Every plog run reaps at its start: this is what the last runs left.
                before_reap = leftovers(tools, home, ptmp, builds_before)
                final = timed_plog_run(repo, env, tmp / "final.log")
                print(f"final run (reaps): exit {final.returncode}, {final.status}", flush=True)
                found = leftovers(tools, home, ptmp, builds_before)
                closed = _statuses(home)
            finally:
                remove_images(tools, ["localhost/plog/petstore-leaks", f"{reg.host}/team/*"])
    result = {
        "settings": {
            "runs": args.runs,
            "kills": args.kills,
            "phases": phases,
            "duration": args.duration,
            "seed": args.seed,
        },
        "runs": runs,
        "kills_missed": len(pending),
        "kills_by_phase": {p: sum(r.get("phase_at_kill") == p for r in runs) for p in PHASES},
        "final_exit": final.returncode,
        "statuses": closed,
        "before_reap": before_reap,
        "leftovers": found,
        "leftover_count": sum(len(v) for v in found.values()),
    }
    result["bar_met"] = result["leftover_count"] == 0 and not pending
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def _statuses(home: Path) -> dict[str, int]:
    store = open_store(home)
    try:
        counts: dict[str, int] = {}
        for run in store.runs(limit=1000):
            counts[run.status] = counts.get(run.status, 0) + 1
        return counts
    finally:
        store.close()


def render(result: dict[str, Any]) -> str:
    kills = [r for r in result["runs"] if r.get("killed")]
    lines = [
        f"{len(result['runs'])} runs, {len(kills)} SIGKILLed (by phase at the kill: "
        + ", ".join(f"{p} {n}" for p, n in result["kills_by_phase"].items())
        + f"; missed {result['kills_missed']}); runs by status: {result['statuses']}",
        "left by the killed runs, and after the next run reaped:",
    ]
    lines += [
        f"  {what}: {len(result['before_reap'].get(what, []))} -> {len(ids)}"
        for what, ids in result["leftovers"].items()
    ]
    lines.append(
        f"total {result['leftover_count']}; bar (zero): {'met' if result['bar_met'] else 'NOT met'}"
    )
    return "\n".join(lines)
