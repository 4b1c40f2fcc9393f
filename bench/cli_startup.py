"""Cold starts of `plog --version`, `plog validate` and `plog diff`, beside `python -c pass`.

Every start is a fresh process (median of ``--runs``, 10 by default), the commands
taking turns so that a busy moment on the machine hits all of them alike. Two
columns:

- *as run here*: the environment as it is. Where ``PYTHONDONTWRITEBYTECODE`` is set
  (this workspace sets it) no ``.pyc`` of plog_ci is ever written, so each start
  compiles every plog_ci module it imports from source.
- *with .pyc*: bytecode cached in a fresh ``PYTHONPYCACHEPREFIX`` (one warm-up start
  per command first), as for a package installed by pip, which compiles it.

    .venv/bin/python -m bench cli_startup
    .venv/bin/python -m bench.cli_startup --runs 20

The issue's targets: under 0.3 s for ``--version`` and ``validate``; ``diff`` well
under 0.5 s. Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIFF_BASE = "tests/data/openapi-diff/files/openapi-test1.yaml"
DIFF_HEAD = "tests/data/openapi-diff/files/openapi-test3.yaml"


def _plog() -> list[str]:
    """The ``plog`` console script beside this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "plog"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "plog_ci"]


def commands() -> list[tuple[str, list[str], set[int]]]:
    """(label, argv, the exit codes that mean it worked)."""
    plog = _plog()
    return [
        ("python -c pass", [sys.executable, "-c", "pass"], {0}),
        ("plog --version", [*plog, "--version"], {0}),
        (
            "plog validate examples/petstore/plog.yml",
            [*plog, "validate", "examples/petstore/plog.yml"],
            {0},
        ),
        # test3 breaks test1's API: exit 1 is the answer, not a failure.
        (
            "plog diff openapi-test1.yaml openapi-test3.yaml",
            [*plog, "diff", DIFF_BASE, DIFF_HEAD],
            {0, 1},
        ),
    ]


def _start(argv: Sequence[str], env: Mapping[str, str], ok: set[int]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode not in ok:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"{' '.join(argv)}: exit {result.returncode}\n" + "\n".join(tail))
    return elapsed


def medians(env: Mapping[str, str], runs: int, warm_up: bool) -> list[float]:
    """Median seconds per command over ``runs`` rounds, one start of each per round."""
    cmds = commands()
    if warm_up:
        for _, argv, ok in cmds:
            _start(argv, env, ok)
    times: list[list[float]] = [[] for _ in cmds]
    for _ in range(runs):
        for i, (_, argv, ok) in enumerate(cmds):
            times[i].append(_start(argv, env, ok))
    return [statistics.median(t) for t in times]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.cli_startup", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="starts per command and column")
    args = parser.parse_args(argv)

    here = dict(os.environ)
    as_run = medians(here, args.runs, warm_up=False)
    with tempfile.TemporaryDirectory(prefix="plog-pyc-") as prefix:
        cached = {k: v for k, v in here.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = prefix
        with_pyc = medians(cached, args.runs, warm_up=True)

    labels = [label for label, _, _ in commands()]
    width = max(len(label) for label in labels)
    no_pyc = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "not set"
    print(f"cold starts: median of {args.runs}, seconds, each start a fresh process")
    print(f"(as run here: PYTHONDONTWRITEBYTECODE {no_pyc}; with .pyc: bytecode cached)")
    print(f"{'':{width}}  {'as run here':>11}  {'with .pyc':>9}")
    for label, a, b in zip(labels, as_run, with_pyc, strict=True):
        print(f"{label:{width}}  {a:11.3f}  {b:9.3f}")


if __name__ == "__main__":
    main()
