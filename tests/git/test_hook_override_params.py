"""The pre-receive hook refuses a plog.yml whose ``load.overrides`` name a parameter the
operation lacks (issue 16, item 6), with a real bare repository and a real ``git push``.

Spec: tests/data/museum/openapi.yaml.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from plog_ci.hook_install import install_hooks
from testing.git_server import GitSetup

MUSEUM = (Path(__file__).parent.parent / "data" / "museum" / "openapi.yaml").read_bytes()
PLOG = b"""\
version: 1
service:
  run: python app.py --port {port}
openapi: openapi.yaml
load:
  overrides:
    "GET /special-events/{id}":
      path: {id: "1111"}
    "GET /museum-hours":
      query: {limt: 5}
"""


def _out(result: subprocess.CompletedProcess[bytes]) -> str:
    return (result.stdout + result.stderr).decode("utf-8", "replace")


def test_a_misspelt_override_parameter_rejects_the_push(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    (git_setup.work / "openapi.yaml").write_bytes(MUSEUM)
    git_setup.commit("limt", plog=PLOG)
    res = git_setup.push("main", check=False)
    assert res.returncode != 0
    assert (
        "plog.yml:10:15: load.overrides.GET /museum-hours.query.limt: 'limt' is not a query "
        "parameter of GET /museum-hours in openapi.yaml (hint: did you mean 'limit'?)"
    ) in _out(res)
    git_setup.commit("limit", plog=PLOG.replace(b"limt", b"limit"))
    git_setup.push("main")
