"""The git tests' setup: a bare 'server' repository and a work tree that pushes to it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

VALID_PLOG = b"version: 1\nservice:\n  run: python app.py\nopenapi: openapi.yaml\n"
INVALID_PLOG = b"version: 1\nservice:\n  runx: python app.py\nopenapi: openapi.yaml\n"


def _git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        PLOG_HOME=str(home),
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(home.parent),
    )
    return env


@dataclass
class GitSetup:
    """A bare 'server' repository and a work tree that pushes to it."""

    bare: Path
    work: Path
    home: Path

    def git(
        self, *args: str | bytes, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or self.work,
            env=_git_env(self.home),
            capture_output=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"git {args!r} failed: {result.stdout.decode(errors='replace')}"
                f"{result.stderr.decode(errors='replace')}"
            )
        return result

    def commit(self, message: str, plog: bytes | None = VALID_PLOG, extra: str = "") -> str:
        if plog is not None:
            (self.work / "plog.yml").write_bytes(plog)
        (self.work / "app.py").write_text(f"# {message}\n{extra}")
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.decode().strip()

    def push(
        self, *refspecs: str | bytes, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return self.git("push", str(self.bare), *refspecs, check=check)

    def bare_git(
        self, *args: str | bytes, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return self.git(*args, cwd=self.bare, check=check)
