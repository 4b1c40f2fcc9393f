"""Load + diff of real specs: Stripe with one shared component changed, and the Twilio pair.

Run: ``.venv/bin/python -m bench openapi_real_diff [--runs 5]``.

The specs are the gzipped copies in tests/data/specs (MIT). Cases:

- ``stripe-shared``: Stripe's spec (3.9 MB, 446 operations) against a copy with
  one optional property added to the ``customer`` component, which about 75
  operations reach through ``anyOf`` branches (the case that hung for minutes);
- ``stripe-self``: Stripe against itself (nothing changed: the cost of equality);
- ``twilio``: two real versions of Twilio's Api v2010 (1.5 MB each).

Each run is a fresh child process (cold: nothing cached), so peak RSS is one
load + diff. Prints per case the median over the runs of the load time, the
diff time and their sum, and the peak RSS; the bar of issue 16 is load + diff
under 1 s (target), never over 3 s, and under 500 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

SPECS = Path(__file__).resolve().parent.parent / "tests" / "data" / "specs"


def _child(base: str, head: str) -> None:
    from plog_ci.openapi.diff import diff_specs
    from plog_ci.openapi.load import load_spec_file

    start = time.perf_counter()
    specs = load_spec_file(base), load_spec_file(head)
    loaded = time.perf_counter()
    result = diff_specs(*specs)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "load": loaded - start,
                "diff": done - loaded,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "changes": len(result.changes),
                "modified": len(result.modified),
                "breaking": result.breaking,
            }
        )
    )


def _cases(folder: Path) -> dict[str, tuple[Path, Path]]:
    import gzip

    def unpack(name: str) -> Path:
        out = folder / name
        out.write_bytes(gzip.decompress((SPECS / f"{name}.gz").read_bytes()))
        return out

    stripe = unpack("stripe-2023-03-20.yaml")
    text = stripe.read_text(encoding="utf-8")
    at = text.index("      properties:\n", text.index("\n    customer:\n")) + len(
        "      properties:\n"
    )
    changed = folder / "stripe-customer-changed.yaml"
    changed.write_text(
        text[:at] + "        plog_added:\n          type: string\n" + text[at:], encoding="utf-8"
    )
    return {
        "stripe-shared": (stripe, changed),
        "stripe-self": (stripe, stripe),
        "twilio": (
            unpack("twilio_api_v2010.2024-06-27.yaml"),
            unpack("twilio_api_v2010.2026-04-14.yaml"),
        ),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    from plog_ci import proc

    with tempfile.TemporaryDirectory() as tmp:
        for name, (base, head) in _cases(Path(tmp)).items():
            runs = []
            for _ in range(args.runs):
                out = proc.run(
                    (
                        sys.executable,
                        "-m",
                        "bench.openapi_real_diff",
                        "--child",
                        str(base),
                        str(head),
                    ),
                    timeout=600,
                )
                runs.append(json.loads(out.stdout))

            def median(key: str, runs: list[dict[str, float]] = runs) -> float:
                return statistics.median(r[key] for r in runs)

            total = statistics.median(r["load"] + r["diff"] for r in runs)
            first = runs[0]
            print(
                f"{name}: {first['changes']} changes, {first['modified']} modified, "
                f"breaking={first['breaking']}; median of {len(runs)}: "
                f"load {median('load'):.2f} s + diff {median('diff'):.2f} s = {total:.2f} s; "
                f"peak RSS {median('rss_mb'):.0f} MB"
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1:])
