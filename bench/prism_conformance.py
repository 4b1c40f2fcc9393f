"""PLog's generated requests against Prism mocks of every spec in tests/data.

Run: ``flock /tmp/plog-load.lock .venv/bin/python -m bench prism_conformance
[--only museum,openapi/v3/petstore] [--iterations 3] [--load-timeout 120]``.

Prism (``@stoplight/prism-cli``, pinned) is installed once with npm into
``~/.cache/plog-bench/prism/<version>`` (``--ignore-scripts``) and reused. Each spec
gets ``prism mock`` on 127.0.0.1 in static mode: request validation is the same as
in dynamic mode (only responses differ), and static responses repeat, so the ids
PLog's producers read back, and the figures, repeat too. Prism ignores ``basePath``
and server paths by design (stoplightio/prism#906, #2191): ``BASE_URL`` is its root.

The load is PLog's real path: the k6 script of ``plog_ci.loadgen.script.generate``
for every operation (no override, no data: zero hand-written data), run by k6 with
``--vus 2 --iterations N`` (shared iterations: the script's default function sends
each operation once per iteration; setup and cleanup as planned). Where the spec
declares security, ``load.auth`` is set as a user would: the scheme most operations
use, a made-up token.

A recording proxy between k6 and Prism judges each exchange: rejected when Prism
answered with its own routing, security or validation problem (``type`` ``...#``
``UNPROCESSABLE_ENTITY``, ``UNAUTHORIZED``, ``NO_PATH_MATCHED_ERROR``, ...), or when
its ``sl-violations`` header holds a request violation of severity Error (Prism then
answers with the spec's own 422/400/default response); else accepted. Rejections
whose every message is a known Prism bug (``PRISM_BUGS``) are named and counted
apart. Prints per spec: operations, requests, the accepted share, and per rejected
operation Prism's messages and one request as sent.

Twilio's specs (~200 operations) load in seconds. Prism does not finish loading
Stripe's, not even a one-path copy (its $ref graph is circular and large): after
``--load-timeout`` it is reported as not measured (stoplightio/prism#1479, #2538).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plog_ci import proc
from plog_ci.config.model import AuthConfig, LoadConfig
from plog_ci.deploy.process import free_port
from plog_ci.loadgen.script import generate
from plog_ci.openapi.model import SecurityScheme, Spec
from plog_ci.runner.k6 import base_env, check_target, find_k6
from testing.paths import ROOT
from testing.specs import load_any_spec, real_spec

PRISM_VERSION = "5.16.0"
CACHE = Path.home() / ".cache" / "plog-bench" / "prism" / PRISM_VERSION
TOKEN_ENV = "PLOG_BENCH_PRISM_TOKEN"
TOKEN = "plog-bench-prism-token"  # a mock accepts any credential of the right shape
REJECTING = {
    "UNPROCESSABLE_ENTITY": "invalid request",
    "UNAUTHORIZED": "security",
    "NO_PATH_MATCHED_ERROR": "no route",
    "NO_METHOD_MATCHED_ERROR": "method",
    "NO_SERVER_MATCHED_ERROR": "server",
    "INVALID_CONTENT_TYPE": "content type",
    "NOT_ACCEPTABLE": "accept",
}
# Rejections that are Prism's own bugs, not the request's: (message pattern, content type
# of the request the bug applies to, "" for any, the Prism issue that describes it).
PRISM_BUGS = (
    (
        re.compile(r"must be [<>]= -?9007199254740991"),
        "",
        "stoplightio/prism#1992: JavaScript numbers, no integer past 2^53 validates",
    ),
    (
        re.compile(r"^body\.\S+: Request body property \S+ must be array$"),
        "application/x-www-form-urlencoded",
        "stoplightio/prism#2473: a form body's array only validates as name[]=..., not as "
        "the repeated name=... of OpenAPI's default style form, explode true",
    ),
)
K6_FLAGS = ("run", "--quiet", "--no-color", "--address", "", "--no-summary")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class PrismUnavailable(Exception):
    """npm or the registry is not reachable: Prism cannot be installed here."""


class PrismDidNotLoad(Exception):
    """Prism was still loading the document when the time given to it ran out."""


def ensure_prism(cache: Path = CACHE) -> Path:
    """The ``prism`` executable of the pinned version, installed with npm on first use.

    Raises ``PrismUnavailable`` with the reason when npm is missing or the install fails.
    """
    binary = cache / "node_modules" / ".bin" / "prism"
    marker = cache / ".plog-bench-installed"
    if binary.is_file() and marker.is_file():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PrismUnavailable("npm/node are not on PATH (Prism is an npm package)")
    cache.mkdir(parents=True, exist_ok=True)
    package = f"@stoplight/prism-cli@{PRISM_VERSION}"
    # --fetch-*: an unreachable registry fails in about a minute, not after npm's retries.
    argv = (npm, "install", "--prefix", str(cache), "--ignore-scripts", "--no-audit", "--no-fund")
    extra = ("--fetch-retries", "1", "--fetch-timeout", "30000", package)
    result = proc.run((*argv, *extra), timeout=600, check=False)
    if result.returncode != 0 or not binary.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise PrismUnavailable(f"npm install {package} failed: {' '.join(tail)}")
    marker.write_text(package, encoding="utf-8")
    return binary


def tests_data_specs(folder: Path) -> dict[str, Path]:
    """Every OpenAPI/Swagger document of tests/data (and the example's), by short name.

    The real Stripe and Twilio specs are decompressed into ``folder``.
    """
    data = ROOT / "tests" / "data"
    found: dict[str, Path] = {"example-petstore": ROOT / "examples" / "petstore" / "openapi.yaml"}
    for path in sorted([*data.glob("openapi/**/*"), *data.glob("field-cases/**/*")]):
        if path.suffix not in (".yaml", ".yml", ".json") or "postman" in path.name:
            continue
        head = path.read_text(encoding="utf-8", errors="replace")[:600]
        if re.search(r"^\s*\"?(openapi|swagger)\"?\s*:\s*[\"']?[23]\.", head, re.MULTILINE):
            found[str(path.relative_to(data).with_suffix(""))] = path
    found["museum"] = data / "museum" / "openapi.yaml"
    for gz in sorted((data / "specs").glob("*.yaml.gz")):
        found[gz.name.removesuffix(".yaml.gz")] = real_spec(gz.name.removesuffix(".gz"), folder)
    return found


def auth_for(spec: Spec) -> AuthConfig | None:
    """``load.auth`` as a user would give it: the scheme most operations require."""
    uses: Counter[str] = Counter()
    for op in spec.operations.values():
        for requirement in op.security if op.security is not None else spec.security:
            uses.update(list(requirement))
    for name, _ in uses.most_common():
        scheme = spec.security_schemes.get(name)
        if scheme is not None and (auth := _auth_of(scheme)) is not None:
            return auth
    return None


def _auth_of(scheme: SecurityScheme) -> AuthConfig | None:
    kind = (scheme.scheme or "").lower()
    if scheme.type == "basic" or (scheme.type == "http" and kind == "basic"):
        return AuthConfig(type="basic", env=TOKEN_ENV, username="bench")
    if scheme.type in ("oauth2", "openIdConnect") or (scheme.type == "http" and kind == "bearer"):
        return AuthConfig(type="bearer", env=TOKEN_ENV)
    if scheme.type == "apiKey" and scheme.param_name:
        where = scheme.location or "header"
        return AuthConfig(type="api_key", env=TOKEN_ENV, name=scheme.param_name, location=where)
    return None


@dataclass
class Verdict:
    operation: str
    status: int
    rejected: str | None  # the kind (REJECTING's values), None when accepted
    messages: tuple[str, ...] = ()
    sent: str = ""  # a rejected request: its line and body, cut at 300 characters
    content_type: str = ""  # of the request

    @property
    def prism_bug(self) -> str | None:
        """The Prism issue behind every message of this rejection, if one is known."""
        if self.rejected is None or not self.messages:
            return None
        found = set()
        for message in self.messages:
            refs = [
                ref
                for pattern, media, ref in PRISM_BUGS
                if pattern.search(message) and self.content_type.startswith(media)
            ]
            if not refs:
                return None
            found.add(refs[0])
        return "; ".join(sorted(found))


def judge(status: int, headers: dict[str, str], body: bytes) -> tuple[str | None, list[str]]:
    """(rejection kind or None, Prism's messages) for one response of the mock."""
    if "problem+json" in headers.get("content-type", ""):
        try:
            problem = json.loads(body)
        except ValueError:
            problem = {}
        kind = str(problem.get("type", "")).rpartition("#")[2]
        if kind in REJECTING:
            found = problem.get("validation") or []
            messages = [_message(v) for v in found] or [str(problem.get("detail", ""))]
            return f"{REJECTING[kind]} ({status})", messages
    raw = headers.get("sl-violations", "")
    if raw:
        try:
            violations = json.loads(raw)
        except ValueError:  # "Too many violations! [..." (Prism cuts it at ~8 KB)
            return f"invalid request ({status})", [raw[:300]]
        errors = [
            v
            for v in violations
            if (v.get("location") or [""])[0] == "request" and v.get("severity") == "Error"
        ]
        if errors:
            return f"invalid request ({status})", [_message(v) for v in errors]
    return None, []


def _message(violation: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in violation.get("location") or [])
    return f"{where}: {violation.get('message', '')}".strip()


class Operations:
    """Which operation of the spec a request path belongs to (literal segments first)."""

    def __init__(self, spec: Spec) -> None:
        rows = []
        for op in spec.operations.values():
            parts = re.split(r"(\{[^}/]*\})", op.path)
            pattern = "".join("[^/]*" if p.startswith("{") else re.escape(p) for p in parts)
            literal = sum(len(p) for p in parts if not p.startswith("{"))
            rows.append((op.method, re.compile(pattern + "/?"), literal, op.key))
        self._rows = sorted(rows, key=lambda r: -r[2])

    def find(self, method: str, path: str) -> str:
        for m, pattern, _, key in self._rows:
            if m == method and pattern.fullmatch(path):
                return key
        return f"{method} {path} (no operation)"


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: int, operations: Operations) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream
        self.operations = operations
        self.verdicts: list[Verdict] = []
        self.lock = threading.Lock()
        self.local = threading.local()


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Recorder

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        status, reply, data = self._upstream(self.command, self.path, body, headers)
        kind, messages = judge(status, reply, data)
        op = self.server.operations.find(self.command, urlsplit(self.path).path)
        sent = ""
        if kind is not None:
            text = (body or b"").decode("utf-8", "replace")
            sent = f"{self.command} {self.path} {text}"[:300]
        with self.server.lock:
            media = self.headers.get("Content-Type") or ""
            self.server.verdicts.append(Verdict(op, status, kind, tuple(messages), sent, media))
        self.send_response(status)
        for name, value in reply.items():
            if name not in _HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _upstream(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            conn = getattr(self.server.local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=60)
                self.server.local.conn = conn
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
            except (OSError, http.client.HTTPException):
                conn.close()
                self.server.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


@contextmanager
def prism_mock(prism: Path, document: Path, log: Path, timeout_s: float) -> Iterator[int]:
    """``prism mock`` of ``document`` on a free loopback port, ready; yields the port."""
    port = free_port()
    argv = (str(prism), "mock", "-h", "127.0.0.1", "-p", str(port), "--dynamic", "false")
    child = proc.Process((*argv, str(document)), log_path=log)
    try:

        def listening() -> bool:
            if child.poll() is not None:
                raise SystemExit(f"prism exited on {document.name}: {child.tail(5)}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/__plog_bench_ready__")
                conn.getresponse().read()
                return True
            except OSError:
                return False

        if not proc.wait_for(listening, timeout=timeout_s, interval=0.5):
            raise PrismDidNotLoad(
                f"Prism did not load the document in {timeout_s:g} s (its known slowness "
                "on big specs with circular $refs: stoplightio/prism#1479, #2538)"
            )
        yield port
    finally:
        child.stop()


@dataclass
class SpecOutcome:
    name: str
    operations: int
    verdicts: list[Verdict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # plog gen's, for operations not sent
    seconds: float = 0.0
    note: str = ""  # why nothing was measured

    @property
    def accepted(self) -> int:
        return sum(v.rejected is None for v in self.verdicts)

    @property
    def share(self) -> float:
        return self.accepted / len(self.verdicts) if self.verdicts else 0.0

    @property
    def prism_bugs(self) -> int:
        """Rejected requests whose every message is a known Prism bug (``PRISM_BUGS``)."""
        return sum(v.prism_bug is not None for v in self.verdicts)

    @property
    def share_without_prism_bugs(self) -> float:
        counted = len(self.verdicts) - self.prism_bugs
        return self.accepted / counted if counted else 0.0

    def rejected_operations(self) -> dict[str, list[Verdict]]:
        out: dict[str, list[Verdict]] = defaultdict(list)
        for v in self.verdicts:
            if v.rejected is not None:
                out[v.operation].append(v)
        return out

    def unsent(self, spec: Spec) -> list[str]:
        seen = {v.operation for v in self.verdicts}
        return [key for key in spec.operations if key not in seen]


def measure(
    name: str,
    spec_path: Path,
    prism: Path,
    workdir: Path,
    *,
    iterations: int = 3,
    load_timeout_s: float = 120.0,
) -> tuple[SpecOutcome, Spec]:
    """Every operation of ``spec_path`` sent ``iterations`` times to its Prism mock."""
    started = time.monotonic()
    spec = load_any_spec(spec_path)
    outcome = SpecOutcome(name, len(spec.operations))
    if not spec.operations:  # webhooks only: Prism refuses to start ("No operations found")
        outcome.note = "no operations: Prism mocks none"
        return outcome, spec
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with prism_mock(prism, spec_path, workdir / "prism.log", load_timeout_s) as port:
            verdicts, warnings = _send(spec, auth_for(spec), port, workdir / "k6", iterations)
    except PrismDidNotLoad as exc:
        outcome.note = str(exc)
    else:
        outcome.verdicts, outcome.warnings = verdicts, warnings
    outcome.seconds = time.monotonic() - started
    return outcome, spec


def _send(
    spec: Spec, auth: AuthConfig | None, port: int, workdir: Path, iterations: int
) -> tuple[list[Verdict], list[str]]:
    """Verdicts on the requests k6 sent through the recorder, and the script's warnings."""
    recorder = Recorder(port, Operations(spec))
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{recorder.server_address[1]}"
        load = LoadConfig(profile="smoke", operations="all", auth=auth, setup_resources=2)
        script = generate(spec, list(spec.operations.values()), load, url)
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "script.js"
        path.write_text(script.text, encoding="utf-8")
        env = base_env(url, {**check_target(url, script), TOKEN_ENV: TOKEN})
        runs = ("--vus", str(min(2, iterations)), "--iterations", str(iterations), str(path))
        argv = (find_k6(), *K6_FLAGS, *runs)
        result = proc.run(argv, cwd=workdir, env=env, timeout=900, check=False)
        if result.returncode not in (0, 99):
            raise SystemExit(f"k6 exited {result.returncode}: {result.stderr[-2000:]}")
    finally:
        recorder.shutdown()
        recorder.server_close()
    return list(recorder.verdicts), list(script.warnings)


def report(outcome: SpecOutcome, spec: Spec, *, messages: int = 3) -> str:
    """The spec's lines: its figures, then each rejected operation with Prism's messages."""
    lines = [
        f"{outcome.name}: {outcome.operations} operations, {len(outcome.verdicts)} requests, "
        f"{outcome.share:.1%} accepted ({outcome.seconds:.0f} s)"
    ]
    if outcome.prism_bugs:
        rest = len(outcome.verdicts) - outcome.prism_bugs
        lines[0] += f"; {outcome.share_without_prism_bugs:.1%} of the {rest} no Prism bug hit"
    for op, found in sorted(outcome.rejected_operations().items()):
        kinds = Counter(v.rejected for v in found)
        said = ", ".join(f"{k} x{n}" for k, n in kinds.most_common())
        bug = found[0].prism_bug
        lines.append(f"    {op}: {said}" + (f" (Prism's bug: {bug})" if bug else ""))
        for text in list(dict.fromkeys(m for v in found for m in v.messages))[:messages]:
            lines.append(f"        {text[:300]}")
        lines.append(f"        sent: {found[0].sent}")
    for key in outcome.unsent(spec) if not outcome.note else ():
        why = [w for w in outcome.warnings if w.startswith(key + ":")]
        lines.append(f"    {key}: not sent{': ' + why[0][len(key) + 1 :] if why else ''}")
    if outcome.note:
        lines[0] += f": NOT MEASURED: {outcome.note}"
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated names (default: all)")
    parser.add_argument("--iterations", type=int, default=3, help="k6 shared iterations")
    parser.add_argument("--load-timeout", type=float, default=120.0, help="seconds Prism may load")
    parser.add_argument("--messages", type=int, default=3, help="messages per rejected operation")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        prism = ensure_prism()
    except PrismUnavailable as exc:
        raise SystemExit(f"prism_conformance: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="plog-prism-") as tmp:
        specs = tests_data_specs(Path(tmp))
        names = [n.strip() for n in args.only.split(",") if n.strip()] or list(specs)
        unknown = [n for n in names if n not in specs]
        if unknown:
            raise SystemExit(f"unknown spec {', '.join(unknown)}; known: {', '.join(specs)}")
        results = []
        for name in names:
            work = Path(tmp) / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
            timeout = args.load_timeout
            outcome, spec = measure(
                name, specs[name], prism, work, iterations=args.iterations, load_timeout_s=timeout
            )
            print(report(outcome, spec, messages=args.messages), flush=True)
            results.append(outcome)
    total = sum(len(o.verdicts) for o in results)
    accepted = sum(o.accepted for o in results)
    bugs = sum(o.prism_bugs for o in results)
    measured = [o for o in results if not o.note]
    full = sum(o.share == 1.0 for o in measured)
    clean = sum(o.share_without_prism_bugs == 1.0 for o in measured)
    print(
        f"== {accepted}/{total} requests accepted ({accepted / max(total, 1):.1%}); "
        f"{bugs} rejected by known Prism bugs; {full}/{len(measured)} measured specs at 100%, "
        f"{clean}/{len(measured)} apart from Prism's bugs (bar: 100%, issue 17); "
        f"{len(results) - len(measured)} not measured; Prism {PRISM_VERSION}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
