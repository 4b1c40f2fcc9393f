"""Failed exchanges are kept with the run and shown under their operation, with no
secret in them (issue 17, item 9).

A real service that answers 500 and echoes the request (its headers, with the
API key the load sends) is loaded by the real ``plog run``; the report and the
results store must hold a few of those exchanges, the key ``[hidden]`` where PLog
put it and redacted where the service echoed it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path

from plog_ci.runner.exchanges import KEPT, read_exchanges
from plog_ci.store.sqlite import open_store
from testing.k6_tools import need_k6
from testing.repos import commit_files, plog_run

APP = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body, status = b"ok", 200
        elif self.path.startswith("/fine"):
            body, status = b"[]", 200
        else:  # echo the request, key included, as a careless error page would
            body = json.dumps({"error": "boom", "saw": dict(self.headers)}).encode()
            status = 500
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

SPEC = """\
openapi: 3.0.3
info: {title: failing, version: "1"}
paths:
  /items:
    get:
      responses: {"200": {description: ok}}
  /fine:
    get:
      responses: {"200": {description: ok}}
"""

PLOG_YML = """\
version: 1
service:
  run: python app.py {port}
  health: /health
openapi: openapi.yaml
load:
  rate: 5
  duration: 2s
  operations: all
  auth: {type: api_key, env: CANARY_KEY, name: X-Key, in: header}
gates:
  - p95 < 2s
compare:
  mode: "off"
"""


def test_read_exchanges_keeps_a_few_whole_ones_and_skips_the_rest(tmp_path: Path) -> None:
    def line(op: str, n: int) -> str:
        data = {"operation": op, "side": "", "request": {"n": n}, "response": {"status": 500}}
        encoded = base64.b64encode(json.dumps(data).encode()).decode()
        return f'level=error msg="PLOG_EXCHANGE {encoded}"'

    console = tmp_path / "console.log"
    lines = [line("GET /a", n) for n in range(5)] + [
        'level=error msg="PLOG_EXCHANGE not-base64!"',
        'level=error msg="PLOG_EXCHANGE ' + base64.b64encode(b"[1]").decode() + '"',
        line("GET /b", 0),
    ]
    console.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = read_exchanges(console)
    assert sorted(found[""]) == ["GET /a", "GET /b"]
    assert [e["request"]["n"] for e in found[""]["GET /a"]] == list(range(KEPT))
    assert read_exchanges(tmp_path / "missing.log") == {}


def test_failed_exchanges_are_in_the_store_and_the_report_without_the_key(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    canary = f"key-{uuid.uuid4().hex}"
    repo = new_repo("failing")
    commit_files(repo, {"app.py": APP, "openapi.yaml": SPEC, "plog.yml": PLOG_YML}, "failing")
    done = plog_run(repo, plog_home, {"CANARY_KEY": canary})
    assert done.returncode in (0, 1), done.stdout + done.stderr
    store = open_store(plog_home)
    try:
        kept = store.exchanges(1)
        report_path = Path(str(store.get_run(1).report_path))
    finally:
        store.close()
    assert sorted(kept) == ["GET /items"]  # only the operation that failed
    assert 1 <= len(kept["GET /items"]) <= KEPT
    exchange = kept["GET /items"][0]
    assert exchange["response"]["status"] == 500
    assert exchange["request"]["headers"]["X-Key"] == "[hidden]"
    assert '"error": "boom"' in exchange["response"]["body"]
    report = report_path.read_text(encoding="utf-8")
    assert "## Failed exchanges" in report and "### GET /items" in report
    assert "→ 500" in report and "X-Key: [hidden]" in report
    # The operations table leads with what failed.
    table = report[report.index("## Operations") :]
    assert table.index("GET /items") < table.index("GET /fine")
    for path in [report_path, *plog_home.rglob("*")]:
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    assert canary not in done.stdout + done.stderr
