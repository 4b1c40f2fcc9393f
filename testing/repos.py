"""Real git repositories in tmp dirs: a fixed identity, ``git``, ``commit_files``.

``FAST_PLOG_YML`` is the example service's plog.yml cut to a 2-second load test,
for pipeline tests that commit the example into such a repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "PLog Test",
    "GIT_AUTHOR_EMAIL": "test@plog.invalid",
    "GIT_COMMITTER_NAME": "PLog Test",
    "GIT_COMMITTER_EMAIL": "test@plog.invalid",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def commit_files(repo: Path, files: dict[str, str | bytes], message: str = "change") -> str:
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


FAST_PLOG_YML = """\
version: 1
service:
  run: python app.py --port {port}
  health: /health
  startup_timeout: 20s
openapi: openapi.yaml
load:
  rate: 10
  vus: 4
  duration: 2s
  operations: all
gates:
  - p95 < 2s
  - error_rate < 1%
compare:
  blocks: 2
"""


def plog_run(
    repo: Path, home: Path, env: dict[str, str] | None = None, *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real ``plog run`` on ``repo``'s HEAD in a subprocess, with ``PLOG_HOME=home``
    and ``env`` added to this process's environment; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", "run", "--repo", str(repo), "--head", "HEAD"],
        env={**os.environ, "PLOG_HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
