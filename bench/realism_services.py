"""Documented success of PLog's generated load on real third-party services.

Run: ``.venv/bin/python -m bench realism_services [--only httpbin,kinto] [--rate 2]``.

Each service is installed from PyPI, pinned, into its own virtual environment
under ``~/.cache/plog-bench/realism/<name>-<version>`` (built once with
``python -m venv`` and pip, reused while its pinned packages are unchanged),
its own spec is fetched from the running service (or copied from the package)
into a fresh git repository with a ``plog.yml`` that starts the service from
that environment, and the real ``python -m plog_ci run --repo R --head HEAD``
loads every operation (``load.operations: all``, constant ``--rate`` per
operation for ``--duration``, ``compare.mode: off``), one service at a time.
No request data is written by hand: only what a
user would configure (credentials, the service's own settings).

- ``httpbin`` 0.10.4 (Flask; Swagger 2.0 from flasgger at ``/spec.json``; no auth);
- ``kinto`` 26.5.0 (JSON storage, nested resources; OpenAPI 2.0 at
  ``/v1/__api__``; basic auth). Its memory backend forgets accounts when PLog
  starts a fresh process and PLog has no setup hook yet (issue 17, item 12), so
  the ini enables Kinto's ``basicauth`` policy (any user:password is an
  identity) beside ``account``, and lets authenticated users create buckets;
- ``jupyter_server`` 2.21.1 with ipykernel (REST API; Swagger 2.0 shipped in
  the package; token auth, sent as the ``token`` query parameter).

Prints per service: the share of requests that got a documented success
(``1 - error_rate`` weighted by count, from the results store), operations
loaded vs not loaded (``plog run``'s ``warning: ...: not loaded`` lines), per
operation its count and failures, the failure kinds by status with one sample
failed exchange each, then one summary line per service. Takes minutes: the
first run installs the services.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plog_ci import proc
from plog_ci.deploy.process import free_port

CACHE = Path.home() / ".cache" / "plog-bench" / "realism"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "PLog Bench",
    "GIT_AUTHOR_EMAIL": "bench@plog.invalid",
    "GIT_COMMITTER_NAME": "PLog Bench",
    "GIT_COMMITTER_EMAIL": "bench@plog.invalid",
}
_NOT_LOADED = re.compile(r"^warning: (.+?): not loaded: (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Service:
    name: str
    version: str
    packages: tuple[str, ...]  # pinned pip requirements
    health: str  # path that answers 2xx once the service is ready
    run: str  # service.run, ``${PLOG_BENCH_VENV}`` is the venv
    # (venv, repo) -> the spec's file name in the repo, written there
    spec: Callable[[Path, Path], str]
    auth: dict[str, str] | None = None  # load.auth
    secret_env: dict[str, str] = field(default_factory=dict)  # given to plog run
    prepare: Callable[[Path, Path], None] | None = None  # (venv, repo): config files

    @property
    def venv(self) -> Path:
        return CACHE / f"{self.name}-{self.version}"


def ensure_venv(service: Service) -> Path:
    """The service's venv with its pinned packages; built (minutes) or reused."""
    venv = service.venv
    marker = venv / ".plog-bench-packages"
    wanted = "\n".join(service.packages)
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return venv
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (venv / "bin" / "python").is_file():
        print(f"{service.name}: python -m venv {venv}", flush=True)
        proc.run((sys.executable, "-m", "venv", str(venv)), timeout=300)
    print(f"{service.name}: pip install {' '.join(service.packages)}", flush=True)
    pip = (
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    )
    proc.run((*pip, *service.packages), timeout=900)
    marker.write_text(wanted, encoding="utf-8")
    return venv


def _fetch_spec_from_service(
    argv: Callable[[Path, int], tuple[str, ...]], spec_path: str, health: str, name: str
) -> Callable[[Path, Path], str]:
    """A spec getter that starts the service once, reads ``spec_path`` and stops it."""

    def get(venv: Path, repo: Path) -> str:
        port = free_port()
        log = repo.parent / f"{repo.name}-spec-service.log"
        child = proc.Process(argv(venv, port), cwd=repo, log_path=log)
        base = f"http://127.0.0.1:{port}"
        try:

            def ready() -> bool:
                try:
                    with urllib.request.urlopen(base + health, timeout=2) as resp:
                        return 200 <= int(resp.status) < 300
                except OSError:
                    return False

            if not proc.wait_for(ready, timeout=60, interval=0.3):
                raise SystemExit(f"{name}: service did not start: {child.tail()}")
            with urllib.request.urlopen(base + spec_path, timeout=30) as resp:
                data = json.loads(resp.read())
        finally:
            child.stop()
        (repo / name).write_text(json.dumps(data, indent=1), encoding="utf-8")
        return name

    return get


def _copy_package_file(relative: str, name: str) -> Callable[[Path, Path], str]:
    def get(venv: Path, repo: Path) -> str:
        found = sorted(venv.glob(f"lib/python*/site-packages/{relative}"))
        if not found:
            raise SystemExit(f"{relative} not in {venv}")
        (repo / name).write_bytes(found[0].read_bytes())
        return name

    return get


def _kinto_ini(venv: Path, repo: Path) -> None:
    """``kinto init --backend memory``, then the auth settings a developer sets."""
    ini = repo / "config.ini"
    kinto = str(venv / "bin" / "kinto")
    proc.run((kinto, "init", "--backend", "memory", "--cache-backend", "memory", "--ini", str(ini)))
    text = ini.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^multiauth\.policies = .*$", "multiauth.policies = account basicauth", text)
    text = re.sub(
        r"(?m)^kinto\.bucket_create_principals = .*$",
        "kinto.bucket_create_principals = system.Authenticated",
        text,
    )
    ini.write_text(text, encoding="utf-8")


def _kinto_argv(venv: Path, port: int) -> tuple[str, ...]:
    return (str(venv / "bin" / "kinto"), "start", "--ini", "config.ini", "--port", str(port))


def _httpbin_argv(venv: Path, port: int) -> tuple[str, ...]:
    return (str(venv / "bin" / "python"), "-m", "httpbin.core", "--port", str(port))


JUPYTER_TOKEN = secrets.token_hex(16)
KINTO_PASSWORD = secrets.token_hex(16)

SERVICES = (
    Service(
        "httpbin",
        "0.10.4",
        ("httpbin==0.10.4", "flasgger==0.9.7.1"),
        health="/get",
        run="${PLOG_BENCH_VENV}/bin/python -m httpbin.core --port {port}",
        spec=_fetch_spec_from_service(_httpbin_argv, "/spec.json", "/get", "swagger.json"),
    ),
    Service(
        "kinto",
        "26.5.0",
        ("kinto==26.5.0",),
        health="/v1/__heartbeat__",
        run="${PLOG_BENCH_VENV}/bin/kinto start --ini config.ini --port {port}",
        spec=_fetch_spec_from_service(_kinto_argv, "/v1/__api__", "/v1/__heartbeat__", "api.json"),
        auth={"type": "basic", "username": "bench", "env": "KINTO_PASSWORD"},
        secret_env={"KINTO_PASSWORD": KINTO_PASSWORD},
        prepare=_kinto_ini,
    ),
    Service(
        "jupyter_server",
        "2.21.1",
        ("jupyter_server==2.21.1", "ipykernel==7.4.0"),
        health="/api",
        run=(
            "${PLOG_BENCH_VENV}/bin/jupyter-server --port {port} --ip 127.0.0.1 --no-browser"
            " --ServerApp.root_dir=. --ServerApp.port_retries=0 --allow-root"
        ),
        spec=_copy_package_file("jupyter_server/services/api/api.yaml", "api.yaml"),
        auth={"type": "api_key", "env": "JUPYTER_TOKEN", "name": "token", "in": "query"},
        secret_env={"JUPYTER_TOKEN": JUPYTER_TOKEN},
    ),
)
BY_NAME = {s.name: s for s in SERVICES}


def plog_yml(service: Service, spec: str, rate: float, duration_s: float) -> str:
    config: dict[str, Any] = {
        "version": 1,
        "service": {
            "run": service.run,
            "health": service.health,
            "startup_timeout": "60s",
            "env": {"PLOG_BENCH_VENV": str(service.venv)},
        },
        "openapi": spec,
        "load": {
            "profile": "load",
            "rate": rate,
            "vus": 10,
            "duration": f"{duration_s:g}s",
            "operations": "all",
        },
        "compare": {"mode": "off"},
    }
    if service.auth:
        config["load"]["auth"] = service.auth
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML


def _git(repo: Path, *args: str) -> None:
    proc.run(("git", *args), cwd=repo, env={**proc.clean_git_env(), **GIT_ENV})


@dataclass
class Outcome:
    name: str
    requests: int = 0
    failures: int = 0
    loaded: int = 0
    not_loaded: list[tuple[str, str]] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    rc: int = 0

    @property
    def share(self) -> float:
        return 1 - self.failures / self.requests if self.requests else 0.0


def _sample(exchange: dict[str, Any]) -> str:
    req = exchange.get("request") or {}
    resp = exchange.get("response") or {}
    body = str(resp.get("body") or resp.get("error") or "").replace("\n", " ")[:160]
    sent = str(req.get("body") or "").replace("\n", " ")[:120]
    line = f"{req.get('method', '?')} {req.get('url', '?')}"
    if sent:
        line += f" body={sent}"
    return f"{line} -> {resp.get('status', '?')} {body}"


def run_service(service: Service, rate: float, duration_s: float, tmp: Path) -> Outcome:
    from plog_ci.store.sqlite import open_store

    venv = ensure_venv(service)
    repo, home = tmp / service.name, tmp / f"{service.name}-home"
    repo.mkdir()
    home.mkdir()
    _git(repo, "init", "--quiet", "--initial-branch", "main")
    if service.prepare:
        service.prepare(venv, repo)
    spec = service.spec(venv, repo)
    (repo / "plog.yml").write_text(plog_yml(service, spec, rate, duration_s), encoding="utf-8")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "-m", f"{service.name} {service.version}")
    env = {**os.environ, "PLOG_HOME": str(home), **service.secret_env}
    argv = (sys.executable, "-m", "plog_ci", "run", "--repo", str(repo))
    print(f"== {service.name} {service.version}: plog run (rate {rate:g}/s, {duration_s:g}s)")
    result = proc.run(
        (*argv, "--head", "HEAD"),
        env=env,
        timeout=900,
        check=False,
        secrets=tuple(service.secret_env.values()),
    )
    out = Outcome(service.name, rc=result.returncode)
    output = result.stdout + result.stderr
    out.not_loaded = [(m[0], m[1]) for m in _NOT_LOADED.findall(output)]
    for line in output.splitlines():  # an aborted or killed test says so
        if re.search(r"abort|killed|hard cap", line, re.IGNORECASE):
            print(f"plog run: {proc.redact(line.strip(), tuple(service.secret_env.values()))}")
    store = open_store(home)
    stats = store.operation_stats(1)
    exchanges = store.exchanges(1)
    if not stats:
        tail = proc.redact(output.strip(), tuple(service.secret_env.values()))[-3000:]
        print(f"plog run exited {result.returncode}, no results stored:\n{tail}")
        return out
    samples: dict[str, str] = {}
    rows = []
    for op, s in sorted(stats.items(), key=lambda kv: (-kv[1].failures, kv[0])):
        if op == "*":
            continue
        out.loaded += 1
        out.requests += s.count
        out.failures += s.failures
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(s.errors_by_status.items()))
        rows.append(
            f"  {op}: {s.count - s.failures}/{s.count} ok" + (f" ({statuses})" if statuses else "")
        )
        for status, n in s.errors_by_status.items():
            out.kinds[status] += n
        for ex in exchanges.get(op, []):
            status = str((ex.get("response") or {}).get("status", "?"))
            samples.setdefault(status, _sample(ex))
    print(f"plog run exit {result.returncode}; per operation (most failing first):")
    print("\n".join(rows))
    print(f"operations loaded: {out.loaded}, not loaded: {len(out.not_loaded)}")
    for op, why in out.not_loaded:
        print(f"  not loaded: {op}: {why}")
    print("failure kinds (status: requests, sample failed exchange):")
    for status, n in out.kinds.most_common():
        print(f"  {status}: {n}  e.g. {samples.get(status, '(no exchange kept)')}")
    print(
        f"{service.name}: {out.share:.1%} documented success of {out.requests} requests"
        f" ({out.failures} failed) over {out.loaded} operations"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(BY_NAME), help="comma-separated services")
    parser.add_argument("--rate", type=float, default=2.0, help="requests/s per operation")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"unknown service {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="plog-realism-") as tmp:
        for name in names:
            outcomes.append(run_service(BY_NAME[name], args.rate, args.duration, Path(tmp)))
    print("== summary (bar: >= 90% documented success per service, issue 17)")
    for o in outcomes:
        kinds = ", ".join(f"{k}: {v}" for k, v in o.kinds.most_common(4)) or "none"
        print(
            f"{o.name}: {o.share:.1%} of {o.requests} requests documented success; "
            f"{o.loaded} operations loaded, {len(o.not_loaded)} not; failures by status: {kinds}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
