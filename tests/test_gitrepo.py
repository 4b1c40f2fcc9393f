from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from plog_ci.errors import InputError
from plog_ci.gitrepo import GitRepo, git
from testing.repos import commit_files


@pytest.fixture
def repo(new_repo: Callable[..., Path]) -> Path:
    path = new_repo()
    commit_files(path, {"a.txt": "one", "dir/b.txt": "two"}, "first")
    (path / "link-out").symlink_to("/etc")
    (path / "link-in").symlink_to("a.txt")
    (path / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (path / "run.sh").chmod(0o755)
    commit_files(path, {"a.txt": "one v2"}, "second")
    return path


def test_read_at_revisions(repo: Path) -> None:
    g = GitRepo(repo)
    assert g.read("HEAD", "a.txt") == b"one v2"
    assert g.read("HEAD~1", "a.txt") == b"one"
    assert g.read("HEAD", "dir/b.txt") == b"two"
    assert g.parent("HEAD") == g.resolve("HEAD~1")
    assert g.changed_files("HEAD~1", "HEAD") == ["a.txt", "link-in", "link-out", "run.sh"]


@pytest.mark.parametrize(
    "rev",
    ["--upload-pack=x", "-b", "nope", "$(id)", "HEAD~99", 'zzz";echo${IFS}"hello";#', "a" * 2000],
)
def test_bad_revisions(repo: Path, rev: str) -> None:
    with pytest.raises(InputError) as info:
        GitRepo(repo).resolve(rev)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "dir/../../x", ""])
def test_paths_must_stay_inside(repo: Path, path: str) -> None:
    with pytest.raises(InputError):
        GitRepo(repo).read("HEAD", path)


def test_missing_file_and_symlink(repo: Path) -> None:
    g = GitRepo(repo)
    with pytest.raises(InputError, match="not found at HEAD"):
        g.read("HEAD", "nope.yaml")
    with pytest.raises(InputError, match="symbolic link"):
        g.read("HEAD", "link-out")


def test_export_drops_links_that_leave_the_tree(repo: Path, tmp_path: Path) -> None:
    out = GitRepo(repo).export("HEAD", tmp_path / "export")
    assert (out / "a.txt").read_text() == "one v2"
    assert (out / "link-in").is_symlink()
    assert not (out / "link-out").exists()
    assert os.access(out / "run.sh", os.X_OK)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a git repository"):
        GitRepo(tmp_path / "nowhere")


def test_git_program_strips_git_env(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/nonexistent")
    out = git(("log", "-1", "--format=%H", "--end-of-options", "HEAD"), cwd=repo).stdout.strip()
    assert out == GitRepo(repo).resolve("HEAD")
