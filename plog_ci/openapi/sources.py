"""Where spec files come from: a directory on disk or the tree of a git commit.

Both confine reads to the repository root. On disk that means: no absolute
paths, no ``..`` escapes, no symlink whose target leaves the root, and only
regular files (``/dev/zero`` or a FIFO would block or never end). In git,
blobs are read from the object database at one commit; a symlink is followed
only while its target stays inside the tree.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path
from typing import Protocol

from plog_ci.errors import InputError
from plog_ci.gitrepo import GitRepo


class Refused(Exception):
    """A read refused for a reason the caller turns into a located error."""


def normalize(rel: str) -> str:
    """Normalize a repository-relative POSIX path; refuse absolute paths and escapes."""
    if "\x00" in rel:
        raise Refused("the path contains a NUL byte")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise Refused("absolute paths are not allowed; use a path relative to the spec")
    norm = posixpath.normpath(rel)
    if norm == ".." or norm.startswith("../"):
        raise Refused("the path leaves the repository root")
    return norm


class Source(Protocol):
    label: str

    def read(self, rel: str, max_bytes: int) -> bytes:
        """Bytes of the regular file at ``rel`` (normalized); raise :class:`Refused`."""
        ...

    def display(self, rel: str) -> str:
        """How a user should see ``rel`` in messages."""
        ...


class DiskSource:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.real_root = os.path.realpath(self.root)
        self._inside = self.real_root.rstrip(os.sep) + os.sep
        self._shown = str(self.root) not in ("", ".")
        self._folders: dict[str, str] = {}
        self.label = str(self.root)

    def display(self, rel: str) -> str:
        return os.path.join(self.label, rel) if self._shown else rel

    def _real(self, rel: str) -> tuple[str, os.stat_result]:
        """The real path of ``rel`` and its stat; folders' real paths are cached
        (a spec of thousands of files sits in a few hundred folders)."""
        folder, name = posixpath.split(rel)
        real_folder = self._folders.get(folder)
        if real_folder is None:
            real_folder = os.path.realpath(os.path.join(self.label, folder))
            self._folders[folder] = real_folder
        real = os.path.join(real_folder, name)
        info = os.lstat(real)
        if stat.S_ISLNK(info.st_mode):
            real = os.path.realpath(real)
            info = os.stat(real)
        return real, info

    def read(self, rel: str, max_bytes: int) -> bytes:
        # Strings, not pathlib: a spec of thousands of files reads each one here.
        try:
            real, info = self._real(rel)
        except FileNotFoundError:
            real = os.path.realpath(os.path.join(self.label, rel))
            if real == self.real_root or real.startswith(self._inside):
                raise Refused("no such file") from None
            info = None
        except OSError as exc:
            raise Refused(f"cannot read: {exc.strerror}") from None
        if real != self.real_root and not real.startswith(self._inside):
            raise Refused(
                f"it resolves to {real}, outside the repository root {self.real_root} (a symlink?)"
            )
        if info is None:
            raise Refused("no such file")
        if not stat.S_ISREG(info.st_mode):
            raise Refused("not a regular file")
        if info.st_size > max_bytes:
            raise Refused(f"the file is {info.st_size:,} bytes, over the {max_bytes:,}-byte limit")
        # O_NONBLOCK: if the file was swapped for a FIFO since stat(), open() must not hang.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(real, flags)
        except OSError as exc:
            raise Refused(f"cannot open: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise Refused("not a regular file")
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise Refused(f"the file is over the {max_bytes:,}-byte limit")
        return data


class GitSource:
    _MAX_LINKS = 8

    def __init__(self, repo: GitRepo, rev: str) -> None:
        self.repo = repo
        self.sha = repo.resolve(rev)
        # A full sha reads better shortened, as git prints it.
        self.rev = rev[:12] if len(rev) == 40 and all(c in "0123456789abcdef" for c in rev) else rev
        self.label = self.rev

    def display(self, rel: str) -> str:
        return f"{self.rev}:{rel}"

    def read(self, rel: str, max_bytes: int) -> bytes:
        for _ in range(self._MAX_LINKS):
            try:
                entry = self.repo.entry(self.sha, rel)
            except InputError as exc:
                raise Refused(exc.message) from None
            if entry is None:
                raise Refused(f"no such file at {self.rev}")
            if not entry.is_symlink:
                if len(entry.data) > max_bytes:
                    raise Refused(
                        f"the file is {len(entry.data):,} bytes, over the {max_bytes:,}-byte limit"
                    )
                return entry.data
            target = os.fsdecode(entry.data)
            if target.startswith("/"):
                raise Refused(f"it is a symlink to {target}, outside the repository")
            try:
                rel = normalize(posixpath.join(posixpath.dirname(rel), target))
            except Refused:
                raise Refused(f"it is a symlink to {target}, outside the repository") from None
        raise Refused("too many levels of symbolic links")
