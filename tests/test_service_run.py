"""``service.run`` takes ``${NAME}`` from the environment PLog passes to the service,
one argument each, never through a shell (issue 17, item 12 in part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plog_ci.config.model import ServiceConfig
from plog_ci.deploy.process import ServiceProcess, command_argv, expand
from plog_ci.errors import ConfigError


def test_names_expand_inside_one_argument_each() -> None:
    env = {"VENV": "/srv/my venv", "PORT": "8080", "ODD": "$(touch /tmp/x); `id`"}
    assert command_argv("${VENV}/bin/python app.py --port {port} --x=${ODD}", 9, env) == (
        "/srv/my venv/bin/python",
        "app.py",
        "--port",
        "9",
        "--x=$(touch /tmp/x); `id`",
    )
    assert expand("cost: $$5 ${PORT}", env) == "cost: $5 8080"
    assert expand("$HOME stays", env) == "$HOME stays"  # only ${NAME} is a name


def test_an_unset_name_is_a_config_error_that_says_where() -> None:
    with pytest.raises(ConfigError, match=r"service.run: \$\{NOPE\} is not set") as caught:
        expand("${NOPE}/bin/python", {})
    assert "service.env" in str(caught.value)


APP = r"""
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

args = sys.argv[1:]
assert args[args.index("--greeting") + 1] == "hello world", args


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


HTTPServer(("127.0.0.1", int(args[args.index("--port") + 1])), Handler).serve_forever()
"""


def test_a_real_service_gets_the_expanded_argument(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "app.py").write_text(APP, encoding="utf-8")
    service = ServiceProcess(
        ServiceConfig(
            run="python app.py --port {port} --greeting ${GREETING}",
            env=(("GREETING", "hello world"),),
        ),
        folder,
        folder / "s.log",
    )
    try:
        assert service.wait_healthy() >= 0
    finally:
        service.stop()
