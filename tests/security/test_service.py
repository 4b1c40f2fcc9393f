"""The service under test as an attacker: it prints every secret it can see, or
never answers. Each case drives the real ``plog run`` (a real service, real k6 on
127.0.0.1) and checks the documented outcome, and that no canary secret, in any
form PLog passes it (raw, base64 of basic auth's ``user:pass``, URL-encoded),
reaches a file under ``$PLOG_HOME``, the report, the RunOutcome or the output.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from plog_ci.pipeline import RunRequest, run
from plog_ci.store.sqlite import open_store
from testing.repos import commit_files

# A service with one hostile mode per case: it prints what it sees in every form
# a secret may travel in, then exits, stalls, hangs on requests or drops them.
APP = r"""
import base64, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

mode = sys.argv[sys.argv.index("--mode") + 1]
port = int(sys.argv[sys.argv.index("--port") + 1])


def leak(stream):
    for name, value in sorted(os.environ.items()):
        raw = value.encode()
        print(f"{name}={value} b64={base64.b64encode(raw).decode()} url={quote(value, safe='')}",
              file=stream)
    user, password = os.environ.get("CANARY_USER", ""), os.environ.get("CANARY_PASSWORD", "")
    print("basic=" + base64.b64encode(f"{user}:{password}".encode()).decode(), file=stream)
    stream.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        # What the load sent (Authorization header, query string) goes to the log.
        print(self.requestline, dict(self.headers), flush=True)
        if mode == "reset":
            self.close_connection = True
            return  # no status line at all
        time.sleep(3600)

    def log_message(self, *args):
        pass


if mode == "exit":
    leak(sys.stdout)
    leak(sys.stderr)
    sys.exit(3)
if mode == "stall":
    leak(sys.stderr)
    time.sleep(3600)
leak(sys.stdout)
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
server.serve_forever()
"""

SPEC = """\
openapi: 3.0.3
info: {title: hostile, version: "1"}
paths:
  /health:
    get:
      responses: {"200": {description: ok}}
  /pets:
    get:
      responses: {"200": {description: ok}}
"""


def plog_yml(mode: str, auth: str, startup: str = "5s") -> str:
    return f"""\
version: 1
service:
  run: python app.py --port {{port}} --mode {mode}
  health: /health
  startup_timeout: {startup}
openapi: openapi.yaml
load:
  rate: 5
  vus: 2
  duration: 2s
  operations: ["GET /pets"]
{auth}gates:
  - p95 < 2s
compare:
  mode: "off"
"""


# bearer and basic cannot be written in plog.yml yet (the schema's default ``in`` makes
# the parser refuse them): their forms are checked in tests/test_proc.py.
HEADER = "  auth: {type: api_key, env: CANARY_TOKEN, name: X-Key, in: header}\n"
QUERY = "  auth: {type: api_key, env: CANARY_TOKEN, name: key, in: query}\n"
COOKIE = "  auth: {type: api_key, env: CANARY_TOKEN, name: session, in: cookie}\n"


def canaries() -> dict[str, str]:
    """Fresh secrets per test (URL-encoding changes them), and a user name."""
    tag = uuid.uuid4().hex[:10]
    return {
        "CANARY_TOKEN": f"tok/{tag}+bearer=1",
        # Known to PLog by its name only, as InfluxDB or cloud credentials are.
        "CANARY_PASSWORD": f"pw/{tag}+named=2",
        "CANARY_USER": f"user{tag}",
        # A forge token PLog holds by name (the service inherits it).
        "PLOG_GITEA_TOKEN": f"forge/{tag}+token=3",
    }


def forms(env: dict[str, str]) -> dict[str, str]:
    """Every form of every secret that must never be kept or shown."""
    out: dict[str, str] = {}
    for name in ("CANARY_TOKEN", "CANARY_PASSWORD", "PLOG_GITEA_TOKEN"):
        value = env[name]
        out[f"{name} raw"] = value
        out[f"{name} base64"] = base64.b64encode(value.encode()).decode().rstrip("=")
        out[f"{name} url"] = quote(value, safe="")
    return out


def assert_no_leak(env: dict[str, str], texts: dict[str, str], *roots: Path) -> None:
    secret_forms = forms(env)
    for where, text in texts.items():
        for form, value in secret_forms.items():
            assert value not in text, f"{form} leaked into {where}"
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            for form, value in secret_forms.items():
                assert value.encode() not in data, f"{form} leaked into {path}"


def hostile_repo(new_repo: object, mode: str, auth: str = HEADER, startup: str = "5s") -> Path:
    repo: Path = new_repo("hostile")  # type: ignore[operator]
    commit_files(
        repo,
        {"app.py": APP, "openapi.yaml": SPEC, "plog.yml": plog_yml(mode, auth, startup)},
        "hostile service",
    )
    return repo


def plog_run(repo: Path, env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", "run", "--repo", str(repo), "--head", "HEAD"],
        env={**os.environ, **env, "PLOG_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def stored_verdict(home: Path) -> tuple[str, dict[str, object]]:
    store = open_store(home)
    try:
        record = store.get_run(1)
        return record.status, record.verdict or {}
    finally:
        store.close()


@pytest.mark.parametrize("auth", [HEADER, QUERY, COOKIE], ids=["header", "query", "cookie"])
def test_a_service_that_prints_its_environment_and_exits_leaks_nothing(
    new_repo: object, plog_home: Path, auth: str
) -> None:
    env = canaries()
    repo = hostile_repo(new_repo, "exit", auth)
    result = plog_run(repo, env, plog_home)
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "exited with code 3 before becoming healthy" in out
    assert "***" in out  # the last lines are shown, with the secrets redacted
    status, verdict = stored_verdict(plog_home)
    assert status == "error" and "exited with code 3" in str(verdict["reason"])
    assert_no_leak(env, {"stdout": result.stdout, "stderr": result.stderr}, plog_home, repo)


def test_a_service_that_prints_its_environment_and_stalls_leaks_nothing(
    new_repo: object, plog_home: Path
) -> None:
    env = canaries()
    repo = hostile_repo(new_repo, "stall", QUERY, startup="1s")
    result = plog_run(repo, env, plog_home)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "did not become healthy within 1s" in result.stdout + result.stderr
    assert stored_verdict(plog_home)[0] == "error"
    assert_no_leak(env, {"stdout": result.stdout, "stderr": result.stderr}, plog_home, repo)


def test_the_run_outcome_holds_no_secret(
    new_repo: object, plog_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = canaries()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    repo = hostile_repo(new_repo, "exit", COOKIE)
    outcome = run(RunRequest(repo=repo, head="HEAD"))
    assert outcome.status == "error" and outcome.exit_code == 2
    assert "before becoming healthy" in outcome.summary
    assert_no_leak(env, {"RunOutcome": repr(outcome)}, plog_home, repo)


@pytest.mark.slow
def test_a_service_that_never_answers_fails_with_the_reason(
    new_repo: object, plog_home: Path
) -> None:
    """It also prints its environment and every request's headers (the key among them)."""
    env = canaries()
    repo = hostile_repo(new_repo, "hang", HEADER)
    result = plog_run(repo, env, plog_home)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "FAIL" in out and "GET /pets: 0 requests completed" in out and "timed out" in out
    status, verdict = stored_verdict(plog_home)
    assert status == "fail"
    assert str(verdict["reason"]).startswith("GET /pets: 0 requests completed")
    reports = list((repo / "plog-reports").glob("*.md"))
    assert reports and "GET /pets: 0 requests completed" in reports[0].read_text()
    assert_no_leak(env, {"stdout": result.stdout, "stderr": result.stderr}, plog_home, repo)


@pytest.mark.slow
def test_a_service_that_drops_every_request_fails_with_the_reason(
    new_repo: object, plog_home: Path
) -> None:
    """Connections closed without a status line: nothing completed, whatever the gates."""
    env = canaries()
    repo = hostile_repo(new_repo, "reset", QUERY)
    result = plog_run(repo, env, plog_home)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    status, verdict = stored_verdict(plog_home)
    assert status == "fail"
    reason = str(verdict["reason"])
    assert reason.startswith("GET /pets: 0 of ") and "requests completed" in reason
    assert "with no response" in reason
    assert_no_leak(env, {"stdout": result.stdout, "stderr": result.stderr}, plog_home, repo)
