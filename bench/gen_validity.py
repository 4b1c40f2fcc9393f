"""Schema-valid data on real specs: generate every parameter and request body, validate each.

Run: ``.venv/bin/python -m bench.gen_validity [SPEC ...] [--show 10]``. Without
arguments it uses the Stripe spec and the two Twilio specs under
``tests/data/specs`` (gzipped copies). For each spec it loads it, generates a value for every
parameter and every request-body media type of every operation as ``plog gen``
does, validates each with jsonschema in the spec's dialect
(:mod:`plog_ci.loadgen.conformance`), and prints values / valid / failed, the
load and generate+validate times, and the first failures. Issue 16's bar: 100%.
Exit status 1 when any value fails.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

# The gzipped copies kept in the repository (tests/data/specs, MIT), unpacked per run.
SPECS = Path(__file__).resolve().parents[1] / "tests" / "data" / "specs"
DEFAULT = (
    "stripe-2023-03-20.yaml",
    "twilio_api_v2010.2024-06-27.yaml",
    "twilio_api_v2010.2026-04-14.yaml",
)


def _unpack(name: str, folder: Path) -> Path:
    out = folder / name
    out.write_bytes(gzip.decompress((SPECS / f"{name}.gz").read_bytes()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("specs", nargs="*", help="spec files (default: Stripe and Twilio)")
    parser.add_argument("--show", type=int, default=10, help="failures to print per spec")
    args = parser.parse_args(argv)
    from plog_ci.loadgen.conformance import check_spec
    from plog_ci.openapi.load import load_spec_file

    unpacked = tempfile.TemporaryDirectory()
    files = [Path(s) for s in args.specs] or [
        _unpack(name, Path(unpacked.name)) for name in DEFAULT
    ]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"no such spec: {', '.join(missing)}")
        return 2
    failed = 0
    for path in files:
        start = time.perf_counter()
        spec = load_spec_file(path)
        loaded = time.perf_counter()
        tally = check_spec(spec)
        done = time.perf_counter()
        bad = tally.values - tally.valid
        failed += bad
        share = 100.0 * tally.valid / tally.values if tally.values else 100.0
        print(
            f"{path.name}: {len(spec.operations)} operations, {tally.values} values, "
            f"{tally.valid} valid, {bad} failed ({share:.1f}% valid); "
            f"load {loaded - start:.2f} s, generate+validate {done - loaded:.2f} s; "
            f"{len(tally.warnings)} warnings"
        )
        for f in tally.failures[: args.show]:
            print(f"  {f.operation}: {f.what}: {'; '.join(f.problems[:2])}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
