"""Realism and fidelity of generated load on the petstore example.

Realism: share of requests that get a documented success status, with zero
hand-written data (no overrides), every operation, open model. Fidelity: the
capture's per-operation p50/p95/p99 against k6's own end-of-test summary for
the same run. Then every spec in tests/data/openapi must give a script that
passes ``k6 inspect``.

    .venv/bin/python -m bench loadgen_realism
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from plog_ci import proc
from plog_ci.config.model import LoadConfig
from plog_ci.errors import InputError
from plog_ci.loadgen.script import generate
from plog_ci.runner.k6 import find_k6, run_k6
from testing.paths import ROOT
from testing.servers import petstore
from testing.specs import load_any_spec, spec_files


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args(argv)
    spec = load_any_spec(ROOT / "examples" / "petstore" / "openapi.yaml")
    load = LoadConfig(profile="load", rate=args.rate, duration_s=args.seconds, vus=5)
    shares = []
    with tempfile.TemporaryDirectory(prefix="plog-bench-") as tmp:
        for run in range(args.runs):
            with petstore() as url:
                script = generate(
                    spec, list(spec.operations.values()), load, url, k6_submetrics=True
                )
                result = run_k6(script, url, Path(tmp) / f"run{run}", timeout_s=120)
            total = result.total
            share = 1 - total.error_rate
            shares.append(share)
            detail = ", ".join(
                f"{op}: {s.count - s.failures}/{s.count}" for op, s in result.operations.items()
            )
            print(f"run {run + 1}: {share:.2%} documented success of {total.count} ({detail})")
            for op, ours in result.operations.items():
                k6 = result.k6_summary[op]
                diffs = ", ".join(
                    f"{q} {getattr(ours, q):.2f}/{getattr(k6, q):.2f} ms "
                    f"({getattr(ours, q) / getattr(k6, q) - 1:+.1%})"
                    for q in ("p50", "p95", "p99")
                )
                print(f"    {op}: capture/k6 {diffs}; count {ours.count}/{k6.count}")
        print(f"median documented-success share: {statistics.median(shares):.2%} (bar: >= 95%)")
        print("fidelity: k6's native histograms are schema 3, one bucket = x1.09 (+9.1%)")
        passed = failed = 0
        for path in spec_files():
            other = load_any_spec(path)
            try:
                script = generate(other, list(other.operations.values()), LoadConfig(rate=1))
            except InputError as exc:
                print(f"  {path.relative_to(ROOT)}: not generated: {exc.message}")
                continue
            js = Path(tmp) / "inspect.js"
            js.write_text(script.text, encoding="utf-8")
            code = proc.run((find_k6(), "inspect", str(js)), check=False).returncode
            passed += code == 0
            failed += code != 0
            print(
                f"  {path.relative_to(ROOT)}: {len(script.operations)} operations, "
                f"k6 inspect {'ok' if code == 0 else 'FAILED'}"
            )
        print(f"k6 inspect: {passed} specs pass, {failed} fail")


if __name__ == "__main__":
    main(sys.argv[1:])
