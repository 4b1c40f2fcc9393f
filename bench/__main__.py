"""Run benchmarks: ``python -m bench`` (all) or ``python -m bench NAME ...``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

LONG = {"verdict_quality"}


def main() -> None:
    # verdict_quality takes hours at full size: it runs only when named.
    names = sys.argv[1:] or sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not m.name.startswith("_") and m.name not in LONG
    )
    for name in names:
        print(f"== bench.{name}", flush=True)
        sys.argv = [f"bench.{name}"]  # each benchmark parses its own (empty) arguments
        entry = importlib.import_module(f"bench.{name}").main
        if inspect.signature(entry).parameters:
            entry([])
        else:
            entry()


if __name__ == "__main__":
    main()
