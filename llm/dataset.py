"""Training pairs for the report adapter: ``python -m llm.dataset``.

    python -m llm.dataset --home PLOG_HOME --out train.jsonl     # runs of a results store
    python -m llm.dataset --synthetic 400 --seed 1 --out train.jsonl
    python -m llm.dataset --synthetic 100 --seed 2 --out heldout.jsonl

One JSON object a line::

    {"id": "synthetic-7", "fault": "slowdown", "operation": "GET /pets/{petId}",
     "messages": [{"role": "system", ...}, {"role": "user", ...},
                  {"role": "assistant", "content": "{\\"claims\\":[...]}"}],
     "bundle": {...Bundle.to_json...}}

The user message is the bundle's prompt text; the assistant's answer is the claims
JSON written from the deterministic findings (``llm.targets``). A stored run's fault
is the one its findings point at (``infer_fault``); a synthetic run's is the one
injected (``llm.faults``), the faults taking turns.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from llm.faults import FAULTS, synthetic_run
from llm.prompt import chat_messages
from llm.stored import finished_runs, stored_bundle
from llm.targets import infer_fault, target_claims
from plog_ci.report.evidence import BUDGET_TOKENS, Bundle, build_bundle
from plog_ci.store.sqlite import open_store


def example(key: str, bundle: Bundle, fault: str, operation: str | None) -> dict[str, Any]:
    """One training pair (the shape of the module doc)."""
    answer = target_claims(bundle, fault, operation)
    return {
        "id": key,
        "fault": fault,
        "operation": operation,
        "messages": chat_messages(bundle, answer),
        "bundle": bundle.to_json(),
    }


def synthetic_examples(
    count: int, seed: int, faults: Sequence[str] = FAULTS, budget_tokens: int = BUDGET_TOKENS
) -> Iterator[dict[str, Any]]:
    """``count`` pairs of synthetic runs, the faults taking turns."""
    for n in range(count):
        run = synthetic_run(n + 1, faults[n % len(faults)], seed)
        bundle = build_bundle(run.evidence, budget_tokens)
        yield example(f"synthetic-{seed}-{n + 1}", bundle, run.fault, run.operation)


def stored_examples(home: Path, budget_tokens: int = BUDGET_TOKENS) -> Iterator[dict[str, Any]]:
    """A pair for each finished run of the results store under ``home``."""
    store = open_store(home)
    try:
        for run_id in list(finished_runs(store)):
            bundle = stored_bundle(store, run_id, budget_tokens)
            fault, operation = infer_fault(bundle)
            yield example(f"run-{run_id}", bundle, fault, operation)
    finally:
        store.close()


def write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    """Write ``rows`` one a line; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")  # key order is data: facts
            n += 1
    return n


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llm.dataset", description=__doc__.split("\n")[0]
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--home", type=Path, help="a PLOG_HOME whose results store to read")
    source.add_argument("--synthetic", type=int, metavar="N", help="N synthetic runs (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic runs' seed")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help="synthetic faults, comma-separated"
    )
    parser.add_argument("--budget-tokens", type=int, default=BUDGET_TOKENS, help="bundle budget")
    parser.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    args = parser.parse_args(argv)
    if args.home is not None:
        if not (args.home / "results.sqlite3").exists():
            parser.error(f"no results store in {args.home} (results.sqlite3)")
        rows = stored_examples(args.home, args.budget_tokens)
    else:
        faults = [f.strip() for f in args.faults.split(",") if f.strip()]
        unknown = sorted(set(faults) - set(FAULTS))
        if unknown or not faults:
            parser.error(f"--faults: unknown {unknown}; choose among {', '.join(FAULTS)}")
        rows = synthetic_examples(args.synthetic or 200, args.seed, faults, args.budget_tokens)
    n = write_jsonl(args.out, rows)
    print(f"wrote {n} examples to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
