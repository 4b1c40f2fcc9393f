"""Run benchmarks: ``python -m bench`` (all) or ``python -m bench NAME ...``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

# Long (verdict_quality: hours; duet_probe: minutes a trial) or needing arguments
# (verdict_rejudge and verdict_noise read a kept store): these run only when named.
ONLY_BY_NAME = {"verdict_quality", "verdict_rejudge", "verdict_noise", "duet_probe"}


def main() -> None:
    names = sys.argv[1:] or sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not m.name.startswith("_") and m.name not in ONLY_BY_NAME
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
