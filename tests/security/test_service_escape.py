"""A service whose processes leave its process group still stops whole (issue 15).

Each service here starts a ``setsid`` grandchild and a double-forked daemon that
belong to no group PLog knows, then serves. The processes are real; what is
checked is that none of them is alive after the service is stopped, after the
process that started it is SIGKILLed, and after a whole ``plog run``; that a
service without a SIGTERM handler still stops at once (it is not the namespace's
PID 1, which would ignore the signal) and one with a handler gets the SIGTERM;
and that a missing command is still a clear error, not an exit code 127.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from plog_ci.config.model import ServiceConfig
from plog_ci.deploy import isolation
from plog_ci.deploy.process import ServiceProcess
from plog_ci.errors import MissingToolError
from plog_ci.proc import wait_for
from testing.repos import commit_files, plog_run

APP = r"""
import os, signal, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

tag, port = sys.argv[1], int(sys.argv[2])
sleeper = [sys.executable, "-c", "import time; time.sleep(600)", tag]
subprocess.Popen(sleeper, start_new_session=True)  # setsid: a group of its own
if os.fork() == 0:  # a classic daemon: fork, setsid, fork again, parent exits
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, sleeper)
    os._exit(0)
if "--on-term" in sys.argv:
    marker = sys.argv[sys.argv.index("--on-term") + 1]

    def on_term(signum, frame):
        open(marker, "w").write("term")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture(autouse=True)
def need_namespaces() -> None:
    reason = isolation.available()
    if reason is not None:
        message = f"PID namespaces are not available here: {reason}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def tagged(tag: str) -> list[psutil.Process]:
    """Every live process whose argv carries ``tag``."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if tag in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p)
    return found


def gone(tag: str) -> bool:
    return wait_for(lambda: not tagged(tag), timeout=5.0)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "app.py").write_text(APP, encoding="utf-8")
    return folder


def start(app_dir: Path, tag: str, extra: str = "") -> ServiceProcess:
    service = ServiceProcess(
        ServiceConfig(run=f"python app.py {tag} {{port}} {extra}", health="/"),
        app_dir,
        app_dir / f"{tag}.log",
    )
    service.wait_healthy()
    # Both escapees are up (the daemon's second fork may lag the health check).
    assert wait_for(lambda: len(tagged(tag)) >= 3, timeout=5.0), tagged(tag)
    return service


def test_stopping_the_service_stops_what_left_its_group(app_dir: Path) -> None:
    tag = f"esc-{uuid.uuid4().hex[:8]}"
    service = start(app_dir, tag)
    assert any(os.getpgid(p.pid) != os.getpgid(service.process.pid) for p in tagged(tag))
    service.stop()
    assert gone(tag), [p.cmdline() for p in tagged(tag)]


def test_the_sampled_pid_is_the_service_not_its_init(app_dir: Path) -> None:
    tag = f"esc-{uuid.uuid4().hex[:8]}"
    service = start(app_dir, tag)
    try:
        assert tag in psutil.Process(service.pid).cmdline()
        assert service.pid != service.process.pid
    finally:
        service.stop()


def test_a_service_without_a_term_handler_stops_at_once_and_one_with_gets_it(
    app_dir: Path,
) -> None:
    tag = f"esc-{uuid.uuid4().hex[:8]}"
    plain = start(app_dir, tag)
    began = time.monotonic()
    plain.stop()  # grace is 5 s: a SIGTERM ignored by a namespace's PID 1 would wait it out
    assert time.monotonic() - began < 4.0
    marker = app_dir / "got-term"
    handled = start(app_dir, tag + "h", f"--on-term {marker}")
    handled.stop()
    assert marker.read_text() == "term"
    assert gone(tag) and gone(tag + "h")


STARTER = r"""
import sys, time
from pathlib import Path
from plog_ci.config.model import ServiceConfig
from plog_ci.deploy.process import ServiceProcess
folder, tag = Path(sys.argv[1]), sys.argv[2]
s = ServiceProcess(ServiceConfig(run=f"python app.py {tag} {{port}}"), folder, folder / "s.log")
s.wait_healthy()
print("up", flush=True)
time.sleep(600)
"""


def test_a_sigkilled_owner_takes_what_left_the_group_with_it(app_dir: Path) -> None:
    tag = f"esc-{uuid.uuid4().hex[:8]}"
    owner = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(app_dir), tag],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "up"
        assert wait_for(lambda: len(tagged(tag)) >= 3, timeout=5.0)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert gone(tag), [p.cmdline() for p in tagged(tag)]


def test_a_missing_command_is_still_a_clear_error(app_dir: Path) -> None:
    with pytest.raises(MissingToolError, match="no-such-server: command not found"):
        ServiceProcess(ServiceConfig(run="no-such-server {port}"), app_dir, app_dir / "x.log")


SPEC = """\
openapi: 3.0.3
info: {title: escape, version: "1"}
paths:
  /:
    get:
      responses: {"200": {description: ok}}
"""


def test_a_whole_plog_run_leaves_no_escaped_process(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    tag = f"esc-{uuid.uuid4().hex[:8]}"
    repo = new_repo("escape")
    plog_yml = f"""\
version: 1
service:
  run: python app.py {tag} {{port}}
  health: /
openapi: openapi.yaml
load:
  rate: 5
  vus: 2
  duration: 1s
compare:
  mode: "off"
"""
    commit_files(repo, {"app.py": APP, "openapi.yaml": SPEC, "plog.yml": plog_yml}, "escape")
    done = plog_run(repo, plog_home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert gone(tag), [p.cmdline() for p in tagged(tag)]
