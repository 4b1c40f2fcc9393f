"""Figures for the git triggers: hook latency, concurrent pushes, webhook load, SIGKILLs.

Run: ``python bench/git_triggers.py`` (all parts) or ``python bench/git_triggers.py hooks
pushes webhooks kills``; ``--k6-duration 10s`` for a quick look. Everything runs on
127.0.0.1 in a temporary directory.

* hooks:    pre-receive latency run directly on a bare repo (cached plog.yml, and a new
            plog.yml every time), p50/p95 -- median over --runs rounds;
* pushes:   100 concurrent ``git push`` across 10 bare repositories with the hooks
            installed: jobs lost (expected 100), push wall time and pre-receive time
            under that load, p95 -- median over --runs rounds;
* webhooks: k6 sends 200 signed push deliveries per second for 60 s to ``plog serve``;
            p99 latency, errors, and jobs lost;
* kills:    a worker is SIGKILLed 20 times at random points while jobs run; then two
            workers drain the queue: every job must end with exactly one final status.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plog_ci import proc  # noqa: E402
from plog_ci.deploy.process import free_port  # noqa: E402
from plog_ci.forge import Report  # noqa: E402
from plog_ci.hook_install import install_hooks  # noqa: E402
from plog_ci.queue import JobSpec, Queue  # noqa: E402

PLOG_YML = "version: 1\nservice:\n  run: python app.py\nopenapi: openapi.yaml\n"
SECRET = "bench-secret"


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))  # nearest rank
    return ordered[k]


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        PLOG_HOME=str(home),
        GIT_AUTHOR_NAME="b",
        GIT_AUTHOR_EMAIL="b@b",
        GIT_COMMITTER_NAME="b",
        GIT_COMMITTER_EMAIL="b@b",
    )
    return env


def git(env: dict[str, str], cwd: Path, *args: str) -> str:
    # 100 pushes at once on 2 shared cores take minutes: generous, but bounded.
    return proc.run(("git", *args), cwd=cwd, env=env, timeout=900).stdout


def make_repo(root: Path, name: str, env: dict[str, str]) -> tuple[Path, Path]:
    bare, work = root / f"{name}.git", root / f"{name}-work"
    git(env, root, "init", "-q", "--bare", str(bare))
    git(env, root, "init", "-q", "-b", "main", str(work))
    (work / "plog.yml").write_text(PLOG_YML)
    (work / "app.py").write_text("print('hi')\n")
    git(env, work, "add", "-A")
    git(env, work, "commit", "-q", "-m", "init")
    return bare, work


# -- hooks ------------------------------------------------------------------


def bench_hooks(runs: int) -> None:
    p95_cached, p95_cold, p50_cached = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            home = root / "home"
            env = env_for(home)
            bare, work = make_repo(root, "r", env)
            install_hooks(bare, protect=["main"], home=home)
            git(env, work, "push", "-q", str(bare), "main")
            hook = bare / "hooks" / "pre-receive"
            cached: list[float] = []
            cold: list[float] = []
            for i in range(40):
                if i >= 20:  # a new plog.yml blob each time: the validation cache misses
                    (work / "plog.yml").write_text(PLOG_YML + f"# {i}\n")
                    git(env, work, "commit", "-q", "-am", f"c{i}")
                    git(
                        env, work, "push", "-q", str(bare), "HEAD:refs/heads/scratch", "--no-verify"
                    )
                    # The push above validated it; forget that to time a miss.
                    shutil.rmtree(home / "validated", ignore_errors=True)
                head = git(env, work, "rev-parse", "HEAD").strip()
                line = f"{'0' * 40} {head} refs/heads/main\n"
                hook_env = dict(env, GIT_DIR=".")
                start = time.perf_counter()
                proc.run((str(hook),), cwd=bare, env=hook_env, input_text=line)
                (cold if i >= 20 else cached).append(time.perf_counter() - start)
            p50_cached.append(pct(cached, 50))
            p95_cached.append(pct(cached, 95))
            p95_cold.append(pct(cold, 95))
    print(f"pre-receive p50 (plog.yml unchanged): {statistics.median(p50_cached) * 1000:.0f} ms")
    print(f"pre-receive p95 (plog.yml unchanged): {statistics.median(p95_cached) * 1000:.0f} ms")
    print(f"pre-receive p95 (plog.yml changed):   {statistics.median(p95_cold) * 1000:.0f} ms")


# -- pushes -----------------------------------------------------------------

_TIMER = """#!/bin/sh
start=$(date +%s%N)
"{hook}.plog" "$@"
rc=$?
echo "$(( $(date +%s%N) - start ))" >> "{log}"
exit $rc
"""


def _one_push_round(root: Path) -> tuple[int, int, list[float], list[float]]:
    home = root / "home"
    env = env_for(home)
    timings = root / "pre-receive-ns.log"
    repos = []
    for r in range(10):
        bare, work = make_repo(root, f"repo{r}", env)
        install_hooks(bare, home=home)
        hook = bare / "hooks" / "pre-receive"
        hook.rename(hook.with_name("pre-receive.plog"))
        hook.write_text(_TIMER.format(hook=hook, log=timings))
        hook.chmod(0o755)
        for b in range(10):  # one commit per branch, so every push is its own job
            (work / "app.py").write_text(f"print({b})\n")
            git(env, work, "commit", "-q", "-am", f"b{b}")
            git(env, work, "branch", "-q", f"b{b}")
        repos.append((bare, work))

    failures: list[str] = []

    def push(args: tuple[Path, Path, int]) -> float:
        bare, work, b = args
        start = time.perf_counter()
        res = proc.run(
            ("git", "push", "-q", str(bare), f"b{b}"), cwd=work, env=env, timeout=900, check=False
        )
        if res.returncode != 0:
            failures.append(res.stderr[-500:])
        return time.perf_counter() - start

    jobs = [(bare, work, b) for bare, work in repos for b in range(10)]
    random.shuffle(jobs)
    with ThreadPoolExecutor(max_workers=100) as pool:
        walls = list(pool.map(push, jobs))
    q = Queue(home)
    q.ingest_spool()
    found = len(q.jobs())
    pre = [int(x) / 1e9 for x in timings.read_text().split()]
    for text in failures[:3]:
        print(f"push failed: {text}")
    return len(jobs) - len(failures), found, walls, pre


def bench_pushes(runs: int) -> None:
    lost, wall95, pre95 = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            expected, found, walls, pre = _one_push_round(Path(tmp))
            lost.append(expected - found)
            wall95.append(pct(walls, 95))
            pre95.append(pct(pre, 95))
    print(f"100 concurrent pushes x {runs} rounds: lost jobs per round {lost}")
    print(f"push wall time p95 (100 at once, 2 cores): {statistics.median(wall95) * 1000:.0f} ms")
    print(f"pre-receive p95 under that load:           {statistics.median(pre95) * 1000:.0f} ms")


# -- webhooks ---------------------------------------------------------------

_K6 = textwrap.dedent("""
    import http from 'k6/http';
    import crypto from 'k6/crypto';
    import { check } from 'k6';
    export const options = {
      scenarios: { deliveries: { executor: 'constant-arrival-rate', rate: __RATE__,
        timeUnit: '1s', duration: '__DURATION__', preAllocatedVUs: 50, maxVUs: 300 } },
      summaryTrendStats: ['p(50)', 'p(95)', 'p(99)', 'max'],
    };
    const template = JSON.parse(open('__PAYLOAD__'));
    function hex(n) { let s = ''; for (let i = 0; i < n; i++) {
      s += '0123456789abcdef'[Math.floor(Math.random() * 16)]; } return s; }
    export default function () {
      template.after = hex(40);
      template.ref = 'refs/heads/b-' + __VU + '-' + __ITER;
      const body = JSON.stringify(template);
      const sig = 'sha256=' + crypto.hmac('sha256', '__SECRET__', body, 'hex');
      const res = http.post('__URL__/webhook', body, { headers: {
        'Content-Type': 'application/json', 'X-GitHub-Event': 'push',
        'X-GitHub-Delivery': 'd-' + __VU + '-' + __ITER + '-' + hex(8),
        'X-Hub-Signature-256': sig } });
      check(res, { '202': (r) => r.status === 202 });
    }
""")


def bench_webhooks(rate: int, duration: str) -> None:
    k6 = shutil.which("k6", path=str(Path(sys.executable).parent)) or shutil.which("k6")
    if not k6:
        print("webhooks: k6 not found; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        payload = json.loads((ROOT / "tests/data/webhooks/github/push_1.payload.json").read_text())
        payload.update(before="6113728f27ae82c7b1a177c8d03f9e96e0adf246", deleted=False)
        (root / "payload.json").write_text(json.dumps(payload))
        port = free_port()
        env = dict(os.environ, PLOG_HOME=str(home), PLOG_WEBHOOK_SECRET=SECRET)
        server = proc.Process(
            (sys.executable, "-m", "plog_ci", "serve", "--port", str(port)),
            env=env,
            log_path=root / "serve.log",
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.1)
            script = (
                _K6.replace("__RATE__", str(rate))
                .replace("__DURATION__", duration)
                .replace("__PAYLOAD__", str(root / "payload.json"))
                .replace("__SECRET__", SECRET)
                .replace("__URL__", url)
            )
            (root / "load.js").write_text(script)
            summary = root / "summary.json"
            proc.run(
                (
                    k6,
                    "run",
                    "--quiet",
                    "--no-color",
                    "--summary-export",
                    str(summary),
                    str(root / "load.js"),
                ),
                check=False,
                timeout=600,
            )
        finally:
            server.stop(grace=10)
        data = json.loads(summary.read_text())
        metrics = data["metrics"]
        dur = metrics["http_req_duration"]
        reqs = int(metrics["http_reqs"]["count"])
        failed = metrics["http_req_failed"]
        checks = metrics["checks"]
        spooled = len(list((home / "spool").glob("*.json")))
        queued = len(Queue(home).jobs()) + spooled
        print(
            f"webhooks: {reqs} signed deliveries at {rate}/s for {duration}: "
            f"p50 {dur['p(50)']:.1f} ms, p95 {dur['p(95)']:.1f} ms, p99 {dur['p(99)']:.1f} ms, "
            f"max {dur['max']:.1f} ms"
        )
        print(
            f"webhooks: errors {failed.get('passes', failed.get('value', 0))} "
            f"(http_req_failed), non-202 {checks.get('fails', 0)}, "
            f"jobs queued {queued} ({spooled} via the spool; lost "
            f"{reqs - queued - checks.get('fails', 0)})"
        )


# -- kills ------------------------------------------------------------------


def _worker(home: str, log: str, lease_s: float) -> None:
    from plog_ci.forge.local import LocalForge
    from plog_ci.job_runner import JobOutcome
    from plog_ci.queue import Job
    from plog_ci.worker import Worker

    def runner(job: Job, home_dir: Path) -> JobOutcome:
        time.sleep(0.5)
        return JobOutcome("pass", f"job {job.id}", "load", f"# job {job.id}\n")

    class Recording(LocalForge):
        def publish(self, report: Report) -> None:
            with open(log, "a") as fh:
                fh.write(f"{report.job_id} {report.result}\n")
            super().publish(report)

    Worker(
        Path(home),
        runner=runner,
        forge_factory=lambda job: Recording(job.spec.repo),
        profile_for=lambda job, h: "load",
        lease_s=lease_s,
        poll_s=0.05,
    ).run_forever()


def bench_kills(kills: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        env = env_for(home)
        bare, work = make_repo(root, "k", env)
        q = Queue(home)
        heads = []
        for i in range(12):
            (work / "app.py").write_text(f"print({i})\n")
            git(env, work, "commit", "-q", "-am", f"c{i}")
            heads.append(git(env, work, "rev-parse", "HEAD").strip())
            q.enqueue(JobSpec(repo=str(bare), head=heads[-1], branch=f"b{i}"))
        git(env, work, "push", "-q", str(bare), "main")
        log = root / "published.log"
        me = [sys.executable, str(Path(__file__).resolve()), "_worker", str(home), str(log), "1.0"]
        rng = random.Random(20)
        for index in range(kills):
            victim = proc.Process(me, env=env, log_path=root / f"victim-{index}.log")
            time.sleep(rng.uniform(0.1, 1.5))
            victim.kill()
        survivors = [
            proc.Process(me, env=env, log_path=root / f"survivor-{index}.log") for index in range(2)
        ]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not q.idle():
            time.sleep(0.2)
        for survivor in survivors:
            survivor.stop(grace=10)
        jobs = q.jobs()
        finals: dict[str, set[str]] = {}
        for line in log.read_text().splitlines():
            job_id, result = line.split()
            finals.setdefault(job_id, set()).add(result)
        one_final = sum(
            1
            for j in jobs
            if j.state == "finished" and j.published and finals.get(str(j.id)) == {j.result}
        )
        notes = git(env, bare, "notes", "--ref=plog", "list").split("\n")
        taken_over = sum(1 for j in jobs if j.attempts > 1)
        print(
            f"kills: {kills} SIGKILLs; {len(jobs)} jobs, {taken_over} taken over after a "
            f"lease expired; {one_final}/{len(jobs)} with exactly one final status; "
            f"{len([n for n in notes if n])} git notes"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["hooks", "pushes", "webhooks", "kills"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--k6-duration", default="60s")
    parser.add_argument("--kills", type=int, default=20)
    args = parser.parse_args(list(argv) if argv is not None else [])
    for part in args.parts:
        if part == "hooks":
            bench_hooks(args.runs)
        elif part == "pushes":
            bench_pushes(args.runs)
        elif part == "webhooks":
            bench_webhooks(args.rate, args.k6_duration)
        elif part == "kills":
            bench_kills(args.kills)
        else:
            parser.error(f"unknown part {part!r}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        _worker(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        main(sys.argv[1:])
