"""Overhead of PLog's live capture: k6 req/s with capture on vs bare k6, paired runs.

Bare: ``k6 run --no-summary`` with no outputs. Capture: the same script with
``--out experimental-prometheus-rw`` pushing native histograms once a second to
PLog's receiver. Both hit a local nginx that answers a fixed body; nginx's
stub_status counts what was served. Pairs alternate their order; the figure
is the median of the per-pair ratios.

    .venv/bin/python -m bench capture_overhead            # 5 pairs of 8 s
    .venv/bin/python -m bench.capture_overhead --pairs 3 --seconds 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from plog_ci import proc
from plog_ci.config.model import LoadConfig
from plog_ci.deploy.process import free_port
from plog_ci.loadgen.script import Script, generate
from plog_ci.openapi.load import load_spec_bytes
from plog_ci.runner.capture import Capture
from plog_ci.runner.k6 import base_env, capture_env, find_k6, k6_argv

CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /nginx_status {{ stub_status; }}
        location / {{ default_type application/json; return 200 '{{"ok":true}}'; }}
    }}
}}
"""


@contextmanager
def nginx() -> Iterator[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("nginx is not installed: apt-get install -y nginx-light")
    with tempfile.TemporaryDirectory(prefix="plog-nginx-") as tmp:
        port = free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(CONF.format(prefix=tmp, port=port), encoding="utf-8")
        process = proc.Process(
            (binary, "-c", str(conf), "-p", tmp), log_path=Path(tmp) / "stdout.log"
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    httpx.get(url + "/", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield url
        finally:
            process.stop(grace=2.0)


def served(url: str) -> int:
    """Requests nginx has handled so far (stub_status), minus the status request itself."""
    text = httpx.get(url + "/nginx_status", timeout=5).text
    return int(text.splitlines()[2].split()[2]) - 1


SPEC = b"""{"openapi": "3.0.3", "info": {"title": "nginx", "version": "1"},
 "paths": {"/": {"get": {"responses": {"200": {"description": "ok"}}}}}}"""


def make_script(url: str, seconds: float, vus: int) -> Script:
    spec = load_spec_bytes(SPEC, "nginx.json")
    load = LoadConfig(profile="load", model="closed", vus=vus, duration_s=seconds)
    return generate(spec, list(spec.operations.values()), load, url)


def run_once(script: Script, url: str, workdir: Path, with_capture: bool) -> tuple[float, int]:
    """Requests per second nginx served during one k6 run; and what the capture counted."""
    path = workdir / "script.js"
    path.write_text(script.text, encoding="utf-8")
    env = base_env(url, None)
    counted = -1
    before = served(url)
    start = time.monotonic()
    if with_capture:
        with Capture(script.operations) as capture:
            env.update(capture_env(capture.url("0")))
            argv = k6_argv(find_k6(), path, capture_url=capture.url("0"), summary=None)
            code = proc.Process(argv, env=env, log_path=workdir / "k6.log").wait(timeout=600)
            elapsed = time.monotonic() - start
            counted = capture.stats(script.duration_s)[1].count
    else:
        argv = k6_argv(find_k6(), path, capture_url=None, summary=None)
        code = proc.Process(argv, env=env, log_path=workdir / "k6.log").wait(timeout=600)
        elapsed = time.monotonic() - start
    if code != 0:
        raise SystemExit(f"k6 exited {code}: see {workdir / 'k6.log'}")
    total = served(url) - before
    del elapsed  # k6's own duration is the script's; startup is not load
    return total / script.duration_s, counted


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--vus", type=int, default=20)
    args = parser.parse_args(argv)
    ratios, bare_all, cap_all = [], [], []
    with nginx() as url, tempfile.TemporaryDirectory(prefix="plog-bench-") as tmp:
        script = make_script(url, args.seconds, args.vus)
        run_once(script, url, Path(tmp), False)  # warm-up
        for pair in range(args.pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            results = {mode: run_once(script, url, Path(tmp), mode) for mode in order}
            bare, (captured, counted) = results[False][0], results[True]
            served_in_capture_run = round(captured * script.duration_s)
            ratios.append(captured / bare)
            bare_all.append(bare)
            cap_all.append(captured)
            print(
                f"pair {pair + 1}: bare {bare:,.0f} req/s, capture {captured:,.0f} req/s "
                f"({captured / bare:.1%}); "
                f"capture counted {counted:,} of {served_in_capture_run:,}",
                flush=True,
            )
    print(
        f"median: bare {statistics.median(bare_all):,.0f} req/s, "
        f"capture {statistics.median(cap_all):,.0f} req/s, "
        f"ratio {statistics.median(ratios):.1%} (bar: >= 90%)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
