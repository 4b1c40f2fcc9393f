"""Resident memory of PLog's capture over a long run at the highest rate k6 reaches.

k6 (closed model, as fast as it goes against nginx, ``--no-summary``) pushes to
the capture running in this process; every 30 s this prints the capture
process's RSS, k6's RSS and the requests so far. Default: 10 minutes.

    .venv/bin/python -m bench capture_memory [--minutes 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.capture_overhead import make_script, nginx
from plog_ci import proc
from plog_ci.runner.capture import Capture
from plog_ci.runner.k6 import base_env, capture_env, find_k6, k6_argv


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--vus", type=int, default=20)
    parser.add_argument("--every", type=float, default=30.0)
    args = parser.parse_args(argv)
    me = psutil.Process()
    seconds = args.minutes * 60
    samples: list[float] = []
    with nginx() as url, tempfile.TemporaryDirectory(prefix="plog-bench-") as tmp:
        script = make_script(url, seconds, args.vus)
        path = Path(tmp) / "script.js"
        path.write_text(script.text, encoding="utf-8")
        with Capture(script.operations, keep_points=600) as capture:
            env = base_env(url, None)
            env.update(capture_env(capture.url("0")))
            argv_k6 = k6_argv(find_k6(), path, capture_url=capture.url("0"), summary=None)
            k6 = proc.Process(argv_k6, env=env, log_path=Path(tmp) / "k6.log")
            k6_ps = psutil.Process(k6.pid)
            start = time.monotonic()
            while k6.poll() is None:
                time.sleep(args.every)
                if k6.poll() is not None:
                    break
                rss = me.memory_info().rss / 2**20
                samples.append(rss)
                count = capture.stats(1.0)[1].count
                elapsed = time.monotonic() - start
                print(
                    f"{elapsed:6.0f}s capture RSS {rss:6.1f} MiB, k6 RSS "
                    f"{k6_ps.memory_info().rss / 2**20:6.1f} MiB, {count:,} requests "
                    f"({count / elapsed:,.0f}/s), {capture.pushes} pushes",
                    flush=True,
                )
            k6.stop()
        final = capture.stats(seconds)[1]
    if samples:
        print(
            f"capture RSS first {samples[0]:.1f} MiB, last {samples[-1]:.1f} MiB, "
            f"max {max(samples):.1f} MiB over {final.count:,} requests "
            f"({final.count / seconds:,.0f}/s)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
