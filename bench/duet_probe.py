"""Why PLog interleaves base and head instead of loading both at once: an A/A probe.

Two copies of the example service (the same code, so every difference is noise)
take the same load three ways in each trial, in an order drawn for that trial:

* ``interleaved``: PLog's design (``run_interleaved``): rounds of one short
  block per side, one k6 process per block, the other side idle meanwhile;
* ``duet-1k6``: one k6 process with one scenario per side, both at once;
* ``duet-2k6``: one k6 process per side, started together.

Each side gets the same requests in every design (``--rate`` per second for
``--duration`` seconds). Per trial and design the probe prints the whole-run
p95 ratio head/base (what a relative gate judges); for the duets also the mean
of the per-second log ratios and the correlation of the per-second p95s. The
summary gives, per design, the spread of the whole-run ratio across trials: the
noise floor a gate has to clear. Services restart every trial, as every
pipeline run deploys them afresh.

Run: ``python -m bench.duet_probe [--trials 5] [--duration 30s] [--rate 100]``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import random
import statistics
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from bench.verdict_quality import beside_hog, cpu_hog
from plog_ci import proc
from plog_ci.config.durations import parse_duration
from plog_ci.deploy.process import free_port
from plog_ci.interleaved import merge_side, run_interleaved
from plog_ci.loadgen.script import Script
from plog_ci.results import LoadResult
from plog_ci.runner.k6 import run_k6

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "petstore"
DESIGNS = ("interleaved", "duet-1k6", "duet-2k6")
ROUNDS = 20
MIN_REQUESTS_PER_SECOND = 10  # seconds with fewer (start, end) are left out

# One scenario per target; PLOG_PROBE_TARGETS maps a tag to a URL, else the
# single target is BASE_URL (what run_k6 and run_interleaved set).
_JS = """\
import http from 'k6/http';
const targets = __ENV.PLOG_PROBE_TARGETS
  ? JSON.parse(__ENV.PLOG_PROBE_TARGETS) : { pets: __ENV.BASE_URL };
const scenarios = {};
for (const tag of Object.keys(targets)) {
  scenarios[tag] = {
    executor: 'constant-arrival-rate', rate: __RATE__, timeUnit: '1s',
    duration: '__MS__ms', preAllocatedVUs: 10, maxVUs: 50,
    exec: 'hit', env: { TARGET: targets[tag], TAG: tag },
  };
}
export const options = { discardResponseBodies: true, scenarios: scenarios };
export function hit() {
  http.get(`${__ENV.TARGET}/pets?limit=20`, { tags: { name: __ENV.TAG } });
}
"""


@dataclass(frozen=True)
class Outcome:
    design: str
    log_ratio: float  # log(p95 head / p95 base), whole run
    per_second_mean: float | None = None  # duets: mean per-second log ratio
    correlation: float | None = None  # duets: of the per-second log p95s
    hog: bool = False  # ran beside the CPU hog


def script(rate: int, seconds: float, tags: tuple[str, ...]) -> Script:
    text = _JS.replace("__RATE__", str(rate)).replace("__MS__", str(round(seconds * 1000)))
    return Script(text=text, operations=tags, duration_s=seconds)


@contextmanager
def services(root: Path) -> Iterator[dict[str, str]]:
    """Base and head: two fresh copies of the example service on free ports."""
    started: list[proc.Process] = []
    urls: dict[str, str] = {}
    try:
        for side in ("base", "head"):
            port = free_port()
            started.append(
                proc.Process(
                    (sys.executable, "app.py", "--port", str(port)),
                    cwd=EXAMPLE,
                    log_path=root / f"{side}.log",
                )
            )
            urls[side] = f"http://127.0.0.1:{port}"
            if not proc.wait_for(functools.partial(_healthy, urls[side]), timeout=20):
                raise SystemExit(f"the {side} service did not start: {started[-1].tail()}")
        yield urls
    finally:
        for process in started:
            process.stop(grace=2)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _per_second(result: LoadResult, operation: str) -> list[float]:
    """Log p95 of each full second, in push order."""
    points = sorted((p for p in result.series if p.operation == operation), key=lambda p: p.t)
    return [math.log(p.p95) for p in points if p.requests >= MIN_REQUESTS_PER_SECOND and p.p95 > 0]


def _paired(b: list[float], h: list[float]) -> tuple[float | None, float | None]:
    # Both sides started together and push once a second: the n-th pushes pair up.
    n = min(len(b), len(h))
    if n < 3:
        return None, None
    b, h = b[:n], h[:n]
    mean = statistics.fmean(y - x for x, y in zip(b, h, strict=True))
    try:
        corr = statistics.correlation(b, h)
    except statistics.StatisticsError:
        corr = None
    return mean, corr


def run_design(design: str, urls: dict[str, str], args: argparse.Namespace, work: Path) -> Outcome:
    seconds = args.duration_s
    if design == "interleaved":
        block = script(args.rate, seconds / ROUNDS, ("pets",))
        outcome = run_interleaved(
            block, urls, work, rounds=ROUNDS, block_s=seconds / ROUNDS, seed=args.seed
        )
        p95 = {side: merge_side(outcome.blocks[side])[0]["pets"].p95 for side in urls}
        return Outcome(design, math.log(p95["head"] / p95["base"]))
    if design == "duet-1k6":
        both = script(args.rate, seconds, ("base", "head"))
        targets = json.dumps({side: urls[side] for side in ("base", "head")})
        result = run_k6(
            both,
            urls["base"],
            work,
            timeout_s=seconds + 60,
            extra_env={"PLOG_PROBE_TARGETS": targets},
            summary=False,
        )
        side_p95 = {side: result.operations[side].p95 for side in ("base", "head")}
        series = {side: _per_second(result, side) for side in ("base", "head")}
    else:
        one = script(args.rate, seconds, ("pets",))
        results: dict[str, LoadResult] = {}
        errors: list[BaseException] = []

        def load(side: str) -> None:
            try:
                results[side] = run_k6(
                    one, urls[side], work / side, timeout_s=seconds + 60, summary=False
                )
            except BaseException as exc:  # re-raised below, in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=load, args=(side,)) for side in ("base", "head")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        side_p95 = {side: results[side].operations["pets"].p95 for side in results}
        series = {side: _per_second(results[side], "pets") for side in results}
    mean, corr = _paired(series["base"], series["head"])
    return Outcome(design, math.log(side_p95["head"] / side_p95["base"]), mean, corr)


def _pct(log_ratio: float) -> str:
    return f"{math.expm1(log_ratio) * 100:+.1f}%"


def summarise(outcomes: Sequence[Outcome]) -> list[str]:
    lines = [
        "design            trials  sd of whole-run log p95 ratio  max |delta|  |delta| > 10%"
        "  per-second corr (median)"
    ]
    # With --hog: a row per design and condition, then the design over both.
    conditions: list[tuple[str, bool | None]] = (
        [("quiet", False), ("hog", True), ("", None)]
        if any(o.hog for o in outcomes)
        else [("", None)]
    )
    for design, (label, hog) in itertools.product(DESIGNS, conditions):
        mine = [o for o in outcomes if o.design == design and hog in (None, o.hog)]
        if not mine:
            continue
        name = f"{design} {label}".strip()
        ratios = [o.log_ratio for o in mine]
        sd = statistics.stdev(ratios) if len(ratios) > 1 else float("nan")
        worst = max(ratios, key=abs)
        big = sum(1 for r in ratios if abs(math.expm1(r)) > 0.10)
        corrs = [o.correlation for o in mine if o.correlation is not None]
        corr = f"{statistics.median(corrs):+.2f}" if corrs else "-"
        lines.append(
            f"{name:<17} {len(mine):>6}  {sd * 100:>27.1f}%  {_pct(worst):>11}  "
            f"{big:>13}  {corr:>25}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--duration", default="30s", help="load per side (default 30s)")
    parser.add_argument("--rate", type=int, default=100, help="requests/s per side")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--designs", default=",".join(DESIGNS), help="comma-separated subset")
    parser.add_argument(
        "--hog",
        action="store_true",
        help="odd-numbered trials run beside a process spinning on one core (as verdict_quality)",
    )
    args = parser.parse_args(argv)
    designs = [d for d in DESIGNS if d in args.designs.split(",")]
    if not designs or set(args.designs.split(",")) - set(DESIGNS):
        parser.error(f"--designs takes {', '.join(DESIGNS)}")
    args.duration_s = parse_duration(args.duration)
    rng = random.Random(args.seed)
    outcomes: list[Outcome] = []
    print(
        f"A/A: two copies of examples/petstore, GET /pets at {args.rate}/s per side for "
        f"{args.duration_s:g} s per side; {args.trials} trials; interleaved = {ROUNDS} rounds"
    )
    with tempfile.TemporaryDirectory(prefix="plog-duet-") as tmp:
        for trial in range(args.trials):
            order = list(designs)
            rng.shuffle(order)
            hog = cpu_hog(trial, Path(tmp)) if args.hog and beside_hog(trial, "alternate") else None
            try:
                for design in order:
                    outcomes.append(_one(trial, design, hog is not None, args, Path(tmp)))
            finally:
                if hog is not None:
                    hog.stop(grace=1.0)
    print("\n".join(summarise(outcomes)))


def _one(trial: int, design: str, hog: bool, args: argparse.Namespace, tmp: Path) -> Outcome:
    work = tmp / f"{trial:02d}-{design}"
    work.mkdir()
    with services(work) as urls:
        outcome = replace(run_design(design, urls, args, work / "k6"), hog=hog)
    extra = ""
    if outcome.per_second_mean is not None:
        extra = f"  per-second mean {_pct(outcome.per_second_mean)}"
    if outcome.correlation is not None:
        extra += f"  corr {outcome.correlation:+.2f}"
    print(
        f"trial {trial} {design:<12} hog={'yes' if hog else 'no':3s} "
        f"p95 head/base {_pct(outcome.log_ratio)}{extra}",
        flush=True,
    )
    return outcome


if __name__ == "__main__":
    main(sys.argv[1:])
