"""What ``deploy.target: podman`` costs ``plog run`` (issue 19's overhead bars).

The petstore example in two throwaway git repositories of one commit each (the head
alone, no base): examples/petstore/plog.yml (target process) and plog.podman.yml
(target podman; BASE the local debootstrap base of testing/container_tools). One
run of each first, not counted (it builds the image and warms k6 and the caches);
then ``--runs`` rounds, each running both targets in turn, the order alternating
(process first in even rounds). A podman run includes the image's rebuild (every
step cached), the container's start and health, the load and the container's removal.

- Overhead: median wall time of ``plog run`` (process start to exit) with podman
  minus with process; also the median of the rounds' differences. Bar: at most 10 s.
- Rebuild of an unchanged tree: ``build.image.build_image`` of the podman repository's
  commit as ``plog run`` calls it (same tag and labels), ``--rebuilds`` times: every
  step from the layer cache. Bar: under 5 s (median and slowest).

    .venv/bin/python -m bench container_overhead                     # 5 rounds, 10-s load
    .venv/bin/python -m bench container_overhead --runs 1 --duration 2s --rebuilds 2

Prints a table; ``--json`` writes it with every run. Run it under
``flock /tmp/plog-load.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._containers import (
    git,
    median,
    petstore_repo,
    plog_env,
    plog_yml,
    remove_images,
    timed_plog_run,
)
from plog_ci.build.image import build_image, image_labels
from testing.container_tools import base_image, containers

OVERHEAD_BAR_S = 10.0
REBUILD_BAR_S = 5.0
TARGETS = ("process", "podman")


def _rebuilds(tools: Any, repo: Path, count: int, log: Path) -> list[dict[str, Any]]:
    sha = git(repo, "rev-parse", "HEAD")
    out = []
    for _ in range(count):
        started = time.perf_counter()
        built = build_image(
            tools, repo, containerfile="Containerfile", context=".",
            args={"BASE": base_image(tools)}, target=None,
            tag=f"localhost/plog/{repo.name}:{sha[:12]}",
            labels=image_labels(repository=repo.resolve().name, commit=sha),
            log_path=log, timeout_s=600,
        )  # fmt: skip
        out.append({"seconds": time.perf_counter() - started, "reused": built.reused})
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (each target once)")
    parser.add_argument("--duration", default=None, help="load duration (default: the example's)")
    parser.add_argument("--rebuilds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    tools = containers()
    base = base_image(tools)
    with tempfile.TemporaryDirectory(prefix="plog-bench-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        repos = {
            "process": petstore_repo(
                tmp / "petstore-process", plog_yml(podman=False, duration=args.duration)
            ),
            "podman": petstore_repo(
                tmp / "petstore-podman", plog_yml(podman=True, base=base, duration=args.duration)
            ),
        }
        env = plog_env(tmp / "home", tmp / "tmp")
        runs: list[dict[str, Any]] = []
        try:
            for target in TARGETS:  # warm-up: builds the image, warms k6
                t = timed_plog_run(repos[target], env, tmp / f"warm-{target}.log")
                print(f"warm-up {target}: {t.seconds:.1f} s, {t.status}", flush=True)
            for round_no in range(args.runs):
                order = TARGETS if round_no % 2 == 0 else TARGETS[::-1]
                for target in order:
                    log = tmp / f"{round_no}-{target}.log"
                    t = timed_plog_run(repos[target], env, log)
                    runs.append(
                        {"round": round_no, "target": target, "seconds": t.seconds,
                         "exit": t.returncode, "status": t.status}
                        | ({"output_tail": t.tail} if t.tail else {})
                    )  # fmt: skip
                    print(f"round {round_no} {target}: {t.seconds:.2f} s ({t.status})", flush=True)
            rebuilds = _rebuilds(tools, repos["podman"], args.rebuilds, tmp / "rebuild.log")
        finally:
            remove_images(tools, ["localhost/plog/petstore-podman"])
    result = summarise(runs, rebuilds, args)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def summarise(
    runs: list[dict[str, Any]], rebuilds: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    by = {t: [r["seconds"] for r in runs if r["target"] == t] for t in TARGETS}
    diffs = []
    for round_no in sorted({r["round"] for r in runs}):
        pair = {r["target"]: r["seconds"] for r in runs if r["round"] == round_no}
        if len(pair) == 2:
            diffs.append(pair["podman"] - pair["process"])
    overhead = median(by["podman"]) - median(by["process"])
    rebuild_s = [r["seconds"] for r in rebuilds]
    return {
        "settings": {
            "runs": args.runs,
            "duration": args.duration or "example (10s)",
            "rebuilds": args.rebuilds,
        },
        "median_s": {t: median(v) for t, v in by.items()},
        "overhead_s": overhead,
        "paired_overhead_median_s": median(diffs),
        "overhead_bar_s": OVERHEAD_BAR_S,
        "overhead_ok": overhead <= OVERHEAD_BAR_S,
        "rebuild_median_s": median(rebuild_s),
        "rebuild_max_s": max(rebuild_s) if rebuild_s else float("nan"),
        "rebuild_all_reused": all(r["reused"] for r in rebuilds),
        "rebuild_bar_s": REBUILD_BAR_S,
        "rebuild_ok": bool(rebuild_s) and max(rebuild_s) < REBUILD_BAR_S,
        "all_passed": all(r["exit"] == 0 for r in runs),
        "runs": runs,
        "rebuilds": rebuilds,
    }


def render(result: dict[str, Any]) -> str:
    runs = result["runs"]
    lines = ["round  process (s)  podman (s)  podman - process (s)"]
    for round_no in sorted({r["round"] for r in runs}):
        pair = {r["target"]: r["seconds"] for r in runs if r["round"] == round_no}
        p, c = pair.get("process", float("nan")), pair.get("podman", float("nan"))
        lines.append(f"{round_no:5d}  {p:11.2f}  {c:10.2f}  {c - p:20.2f}")
    med = result["median_s"]
    lines += [
        f"median {med['process']:10.2f}  {med['podman']:10.2f}  {result['overhead_s']:20.2f}",
        f"overhead (median podman - median process): {result['overhead_s']:.2f} s "
        f"(paired rounds: {result['paired_overhead_median_s']:.2f} s); bar <= "
        f"{OVERHEAD_BAR_S:g} s: {'met' if result['overhead_ok'] else 'NOT met'}",
        f"rebuild, unchanged tree: median {result['rebuild_median_s']:.2f} s, slowest "
        f"{result['rebuild_max_s']:.2f} s, all from the cache: {result['rebuild_all_reused']}; "
        f"bar < {REBUILD_BAR_S:g} s: {'met' if result['rebuild_ok'] else 'NOT met'}",
        f"every run exited 0: {result['all_passed']}",
    ]
    return "\n".join(lines)
