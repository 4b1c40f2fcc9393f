"""Fixtures for the OpenAPI tests: real git repositories in tmp dirs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plog_ci.gitrepo import git

DATA = Path(__file__).resolve().parent.parent / "data"


def commit_all(repo: Path, message: str) -> str:
    git(("add", "-A"), cwd=repo)
    git(
        (
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--no-gpg-sign",
            "-m",
            message,
        ),
        cwd=repo,
    )
    return git(("rev-parse", "HEAD"), cwd=repo).stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[[dict[str, str]], tuple[Path, str]]:
    """Write files, commit them, return (repo path, sha); call again for a new commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(("init", "-q", "-b", "main"), cwd=repo)

    def write(files: dict[str, str]) -> tuple[Path, str]:
        for name, text in files.items():
            target = repo / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return repo, commit_all(repo, f"update {len(files)} files")

    return write
