"""Read a git repository at any commit without a checkout.

pygit2 reads blobs and trees straight from the object database, so nothing
user-controlled is ever passed to a git command line here. Where the git
program is needed (push, notes), ``git()`` runs it through ``proc`` with
``--end-of-options`` before user-controlled arguments and GIT_* stripped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pygit2

from plog_ci import proc
from plog_ci.errors import InputError

_MODE_LINK = pygit2.enums.FileMode.LINK
_MODE_TREE = pygit2.enums.FileMode.TREE
_MODE_EXEC = pygit2.enums.FileMode.BLOB_EXECUTABLE


@dataclass(frozen=True)
class Entry:
    path: str
    mode: int
    data: bytes

    @property
    def is_symlink(self) -> bool:
        return self.mode == _MODE_LINK


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    author: str
    time: int
    message: str


def git(
    args: Sequence[str],
    *,
    cwd: str | Path,
    timeout: float = 60.0,
    input_text: str | None = None,
    check: bool = True,
) -> proc.Result:
    """Run the git program. Put ``--end-of-options`` before user values in ``args``."""
    return proc.run(
        ("git", *args),
        cwd=cwd,
        env=proc.clean_git_env(),
        timeout=timeout,
        input_text=input_text,
        check=check,
    )


def _check_rev(rev: str) -> None:
    if not rev or rev.startswith("-") or "\x00" in rev or len(rev) > 1024:
        raise InputError(
            f"invalid revision {rev!r}",
            hint="give a branch, tag or commit sha (it may not start with '-')",
        )


def _check_path(path: str) -> PurePosixPath:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not path or "\x00" in path:
        raise InputError(f"path {path!r} must be relative and stay inside the repository")
    return pure


class GitRepo:
    def __init__(self, path: str | Path) -> None:
        try:
            discovered = pygit2.discover_repository(str(path))
        except (pygit2.GitError, OSError):
            discovered = None
        if discovered is None:
            raise InputError(
                f"{path}: not a git repository",
                hint="run inside a git repository or pass --repo PATH",
            )
        self.repo = pygit2.Repository(discovered)
        self.path = Path(self.repo.workdir or self.repo.path)

    def resolve(self, rev: str) -> str:
        """Full sha of the commit ``rev`` names."""
        _check_rev(rev)
        try:
            obj = self.repo.revparse_single(rev)
            commit = obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise InputError(
                f"revision {rev!r} does not exist in {self.path}",
                hint="check the name with 'git log --oneline'",
            ) from None
        return str(commit.id)

    def commit(self, rev: str) -> CommitInfo:
        sha = self.resolve(rev)
        c = self.repo[sha]
        assert isinstance(c, pygit2.Commit)
        return CommitInfo(
            sha, tuple(str(p) for p in c.parent_ids), c.author.name, c.commit_time, c.message
        )

    def parent(self, rev: str) -> str | None:
        info = self.commit(rev)
        return info.parents[0] if info.parents else None

    def merge_base(self, a: str, b: str) -> str | None:
        oid = self.repo.merge_base(self.resolve(a), self.resolve(b))
        return str(oid) if oid else None

    def _tree(self, rev: str) -> pygit2.Tree:
        commit = self.repo[self.resolve(rev)]
        assert isinstance(commit, pygit2.Commit)
        return commit.tree

    def entry(self, rev: str, path: str) -> Entry | None:
        """The blob at ``path`` in ``rev`` (symlinks not followed), or None."""
        pure = _check_path(path)
        try:
            obj = self._tree(rev)[str(pure)]
        except KeyError:
            return None
        if obj.filemode == _MODE_TREE or not isinstance(obj, pygit2.Blob):
            return None
        return Entry(str(pure), int(obj.filemode), obj.data)

    def read(self, rev: str, path: str) -> bytes:
        """Contents of a regular file at ``rev``; symlinks and missing paths are errors."""
        found = self.entry(rev, path)
        if found is None:
            raise InputError(
                f"{path}: not found at {rev}",
                hint="check the path relative to the repository root "
                f"('git ls-tree -r --name-only {rev}')",
            )
        if found.is_symlink:
            raise InputError(f"{path} at {rev} is a symbolic link; PLog reads regular files only")
        return found.data

    def exists(self, rev: str, path: str) -> bool:
        return self.entry(rev, path) is not None

    def walk(self, rev: str) -> Iterator[Entry]:
        """Every blob in the tree of ``rev``."""
        stack: list[tuple[str, pygit2.Tree]] = [("", self._tree(rev))]
        while stack:
            prefix, tree = stack.pop()
            for obj in tree:
                name = f"{prefix}{obj.name}"
                if isinstance(obj, pygit2.Tree):
                    stack.append((name + "/", obj))
                elif isinstance(obj, pygit2.Blob):
                    yield Entry(name, int(obj.filemode), obj.data)

    def changed_files(self, base: str, head: str) -> list[str]:
        diff = self.repo.diff(self.resolve(base), self.resolve(head))
        names = set()
        for patch in diff:
            if patch is None:
                continue
            names.add(patch.delta.old_file.path)
            names.add(patch.delta.new_file.path)
        return sorted(names)

    def export(self, rev: str, dest: str | Path) -> Path:
        """Write the tree of ``rev`` to ``dest`` (symlinks only if they stay inside)."""
        root = Path(dest)
        root.mkdir(parents=True, exist_ok=True)
        real_root = root.resolve()
        for item in self.walk(rev):
            target = root / item.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if item.is_symlink:
                link = os.fsdecode(item.data)
                resolved = (target.parent / link).resolve()
                if resolved == real_root or real_root in resolved.parents:
                    target.symlink_to(link)
                continue
            target.write_bytes(item.data)
            if item.mode == _MODE_EXEC:
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return root
