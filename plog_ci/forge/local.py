"""The forge of a bare git server: a git note per commit and a reports branch.

* the verdict goes into a note on ``refs/notes/plog``, so
  ``git log --notes=plog`` shows it next to the commit (and the pre-receive
  gate reads it back);
* the markdown report is committed as ``reports/<sha>.md`` on the
  ``plog-reports`` branch.

Both refs belong to PLog (the pre-receive hook refuses pushes to them). They
are written while pushes continue: objects are content-addressed, and each ref
moves with a compare-and-swap (``git update-ref NEW OLD``) under a lock file,
retried when another writer got there first.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pygit2

from plog_ci import gitrepo
from plog_ci.errors import InternalError
from plog_ci.forge import Report
from plog_ci.forge.comment import safe_url, status_context
from plog_ci.forge.notes import NOTES_REF, REPORTS_BRANCH, REPORTS_REF, parse_verdict
from plog_ci.proc import ProcessError
from plog_ci.templating import plain_text

ZERO = "0" * 40
_SIGNATURE = ("PLog CI", "plog@localhost")


def note_text(report: Report) -> str:
    # One line of plain text (no newline, no terminal escape): the first line is the verdict.
    summary = plain_text(report.summary)
    lines = [f"plog: {report.result} ({status_context(report)}) {summary}".rstrip()]
    lines.append(f"report: {REPORTS_BRANCH}:reports/{report.head}.md")
    url = safe_url(report.target_url)
    if url:
        lines.append(f"url: {url}")
    if report.job_id is not None:
        lines.append(f"job: {report.job_id}")
    return "\n".join(lines) + "\n"


def read_verdict(repo: pygit2.Repository, sha: str) -> str | None:
    """The result recorded for ``sha`` ("pass", "fail", ...), or None when there is none."""
    try:
        note = repo.lookup_note(sha, NOTES_REF)
    except (KeyError, pygit2.GitError, ValueError):
        return None
    return parse_verdict(note.message)


class LocalForge:
    def __init__(self, repo_path: str | Path, *, attempts: int = 20) -> None:
        self.repo_path = Path(repo_path)
        self.attempts = attempts
        self.repo = pygit2.Repository(str(self.repo_path))
        self._lock_path = Path(self.repo.path) / "plog.lock"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _sig(self) -> pygit2.Signature:
        return pygit2.Signature(*_SIGNATURE, int(time.time()), 0)

    def _tip(self, ref: str) -> str | None:
        try:
            return str(self.repo.references[ref].target)
        except KeyError:
            return None

    def _cas(self, ref: str, new: str, old: str | None) -> bool:
        try:
            gitrepo.git(
                ("update-ref", "--end-of-options", ref, new, old or ZERO), cwd=self.repo.path
            )
        except ProcessError:
            return False
        return True

    def _write_note(self, report: Report) -> None:
        sig = self._sig()
        for _ in range(self.attempts):
            old = self._tip(NOTES_REF)
            # Build the notes commit without moving the ref, then swap it in.
            parent_tree = None
            if old is not None:
                commit = self.repo[old]
                assert isinstance(commit, pygit2.Commit)
                parent_tree = commit.tree
            builder = (
                self.repo.TreeBuilder(parent_tree)
                if parent_tree is not None
                else self.repo.TreeBuilder()
            )
            # Drop any fanned-out copy of this note so exactly one stays.
            if parent_tree is not None:
                self._drop_fanout(builder, parent_tree, report.head)
            blob = self.repo.create_blob(note_text(report).encode())
            builder.insert(report.head, blob, pygit2.enums.FileMode.BLOB)
            tree = builder.write()
            if parent_tree is not None and tree == parent_tree.id:
                return  # the same note is already there (a re-publish after a crash)
            parents: list[pygit2.Oid] = [pygit2.Oid(hex=old)] if old else []
            new = self.repo.create_commit(
                None, sig, sig, f"plog: note for {report.head}\n", tree, parents
            )
            if self._cas(NOTES_REF, str(new), old):
                return
        raise InternalError(
            f"{self.repo_path}: could not update {NOTES_REF}",
            hint="another process keeps moving it; try again",
        )

    def _drop_fanout(self, builder: pygit2.TreeBuilder, tree: pygit2.Tree, sha: str) -> None:
        # git fans notes out as ab/cdef... in large trees; a flat entry wins on
        # lookup, but leaving the old one would keep a stale verdict around.
        prefix = sha[:2]
        try:
            sub = tree[prefix]
        except KeyError:
            return
        if isinstance(sub, pygit2.Tree) and sha[2:] in [e.name for e in sub]:
            sub_builder = self.repo.TreeBuilder(sub)
            sub_builder.remove(sha[2:])
            builder.insert(prefix, sub_builder.write(), pygit2.enums.FileMode.TREE)

    def _write_report(self, report: Report) -> None:
        sig = self._sig()
        name = f"{report.head}.md"
        for _ in range(self.attempts):
            old = self._tip(REPORTS_REF)
            root_tree = None
            if old is not None:
                commit = self.repo[old]
                assert isinstance(commit, pygit2.Commit)
                root_tree = commit.tree
            sub_tree = None
            if root_tree is not None:
                try:
                    found = root_tree["reports"]
                    sub_tree = found if isinstance(found, pygit2.Tree) else None
                except KeyError:
                    sub_tree = None
            sub = (
                self.repo.TreeBuilder(sub_tree)
                if sub_tree is not None
                else (self.repo.TreeBuilder())
            )
            sub.insert(
                name, self.repo.create_blob(report.markdown.encode()), pygit2.enums.FileMode.BLOB
            )
            root = (
                self.repo.TreeBuilder(root_tree)
                if root_tree is not None
                else (self.repo.TreeBuilder())
            )
            root.insert("reports", sub.write(), pygit2.enums.FileMode.TREE)
            tree = root.write()
            if root_tree is not None and tree == root_tree.id:
                return  # already committed (a re-publish after a crash)
            parents: list[pygit2.Oid] = [pygit2.Oid(hex=old)] if old else []
            new = self.repo.create_commit(
                None, sig, sig, f"plog: {report.result} report for {report.head}\n", tree, parents
            )
            if self._cas(REPORTS_REF, str(new), old):
                return
        raise InternalError(
            f"{self.repo_path}: could not update {REPORTS_REF}",
            hint="another process keeps moving it; try again",
        )

    # -- the Forge protocol ---------------------------------------------------

    def pending(self, report: Report) -> None:
        """Nothing to write: a bare repo has no 'pending' marker (no note means no verdict)."""

    def publish(self, report: Report) -> None:
        with self._locked():
            self._write_report(report)
            self._write_note(report)
