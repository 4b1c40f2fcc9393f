"""Server-side git hooks: what the stubs do when git runs them (``plog_ci.hook_install``
writes them; a foreign hook it found is kept as ``<name>.legacy`` and run first,
with the same input).

``pre-receive`` (no network): it refuses every push that creates, deletes or
moves one of PLog's own refs (``refs/notes/plog``, ``refs/heads/plog-reports``
and anything below them) -- always, strict or not, even when the rest of PLog
fails; PLog writes those refs itself with ``git update-ref`` in the bare
repository, which runs no receive hook. For each pushed branch head it
validates ``plog.yml`` and rejects the push with ``plog.yml:LINE:COL`` errors, among them
every operation it names (gates, ``load.operations``, ``load.overrides``) that
the spec committed at that head lacks (a spec the hook cannot load, without
network, is a warning);
on protected branches it refuses a head whose verdict is ``fail`` -- with
``--strict`` also one with no verdict yet, or not a pass. The verdict is the
``refs/notes/plog`` note, else (notes lost) the result the queue in
``$PLOG_HOME`` recorded for that commit. A crash inside PLog lets the push
through with a warning, unless ``--strict``. Validated ``plog.yml`` blobs are
remembered by object id under ``$PLOG_HOME/validated`` so repeated pushes skip
the YAML work.

``post-receive``: one job per updated branch; deletions, tags and PLog's own
refs enqueue nothing; a newer push supersedes the branch's waiting job. When
the queue database is unusable the job is spooled and the push still succeeds.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from plog_ci import __version__, proc
from plog_ci.errors import ConfigError
from plog_ci.forge.notes import NOTES_REF, REPORTS_REF, parse_verdict
from plog_ci.home import state_dir

if TYPE_CHECKING:
    import pygit2

    from plog_ci.config import Config

ZERO = "0" * 40
ZERO_SHA256 = "0" * 64
OWN_REFS = (NOTES_REF.encode(), REPORTS_REF.encode())
_OWN_WHAT = {
    NOTES_REF.encode(): "PLog's verdicts, which the protected-branch gate reads",
    REPORTS_REF.encode(): "PLog's reports",
}
HOOK_QUEUE_TIMEOUT_S = 2.0  # then spool: a push never waits long on PLog


# -- what runs inside the hooks ---------------------------------------------


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: bytes  # exactly as git sent it; need not be UTF-8

    @property
    def deleted(self) -> bool:
        return self.new in (ZERO, ZERO_SHA256)

    @property
    def created(self) -> bool:
        return self.old in (ZERO, ZERO_SHA256)

    @property
    def branch(self) -> bytes | None:
        return self.ref[len(b"refs/heads/") :] if self.ref.startswith(b"refs/heads/") else None

    @property
    def display(self) -> str:
        return self.ref.decode("utf-8", "backslashreplace")


def is_own_ref(ref: bytes) -> bool:
    """One of PLog's refs, or a ref below one (which would block PLog from writing it)."""
    return any(ref == own or ref.startswith(own + b"/") for own in OWN_REFS)


def own_ref_problems(updates: Sequence[RefUpdate]) -> list[str]:
    """Every pushed update of a PLog ref, explained. Pushes never write PLog's refs."""
    problems = []
    for update in updates:
        if not is_own_ref(update.ref):
            continue
        own = next(o for o in OWN_REFS if update.ref == o or update.ref.startswith(o + b"/"))
        name = own.decode()
        action = "delete" if update.deleted else "create" if update.created else "rewrite"
        if update.ref == own:
            why = f"it holds {_OWN_WHAT[own]}"
        else:
            why = f"a ref below {name} would stop PLog from writing {_OWN_WHAT[own]}"
        problems.append(
            f"{update.display}: belongs to PLog ({why}); a push may not {action} it. "
            f"Only PLog's worker writes it, on the server. Leave it out of the push "
            f"(git push --mirror and refs/notes/* refspecs include it); "
            f"to read it: git fetch origin {name}:{name}"
        )
    return problems


def parse_updates(data: bytes) -> list[RefUpdate]:
    updates = []
    for line in data.splitlines():
        parts = line.split(b" ", 2)
        if len(parts) != 3:
            continue
        old, new, ref = (p.strip() if i < 2 else p for i, p in enumerate(parts))
        updates.append(
            RefUpdate(old.decode("ascii", "replace"), new.decode("ascii", "replace"), ref)
        )
    return updates


def _open_repo() -> pygit2.Repository:
    """The pushed-to repository, including the objects still in quarantine."""
    import pygit2

    git_dir = os.environ.get("GIT_DIR", ".")
    repo = pygit2.Repository(os.path.abspath(git_dir))
    quarantine = os.environ.get("GIT_OBJECT_DIRECTORY") or os.environ.get("GIT_QUARANTINE_PATH")
    if quarantine and os.path.isdir(quarantine):
        repo.odb.add_disk_alternate(os.path.abspath(quarantine))
    return repo


def _hook_git(*args: str, check: bool = True) -> proc.Result:
    """git on the pushed-to repository, from inside a hook.

    Unlike ``gitrepo.git`` this keeps GIT_DIR and the quarantine variables:
    the pushed objects are only visible through them until the push is accepted.
    """
    return proc.run(("git", *args), env=os.environ, timeout=30, check=check)


def _plog_oid(sha: str) -> str | None:
    """Object id of plog.yml at ``sha`` (regular files only), or None."""
    out = _hook_git("ls-tree", "--end-of-options", sha, "plog.yml", check=False).stdout
    parts = out.split(None, 3)
    if len(parts) == 4 and parts[0] in ("100644", "100755") and parts[1] == "blob":
        return parts[2]
    return None


def _note_verdict(sha: str) -> str | None:
    result = _hook_git("notes", f"--ref={NOTES_REF}", "show", "--end-of-options", sha, check=False)
    if result.returncode != 0:
        return None
    return parse_verdict(result.stdout)


def _queue_verdict(home: Path, sha: str) -> str | None:
    """The last verdict the queue in ``home`` recorded for ``sha`` pushed to this repository.

    The gate's second source: ``$PLOG_HOME`` is out of a pusher's reach, so a
    failed commit stays refused even when the notes were lost.
    """
    import sqlite3

    db = home / "queue.db"
    if not db.is_file():
        return None
    repo = os.path.realpath(os.environ.get("GIT_DIR", "."))
    try:
        conn = sqlite3.connect(
            f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=HOOK_QUEUE_TIMEOUT_S
        )
        try:
            row = conn.execute(
                "SELECT result FROM jobs WHERE repo = ? AND state = 'finished'"
                " AND result IN ('pass', 'fail', 'no-verdict')"
                " AND json_extract(spec, '$.head') = ? ORDER BY finished DESC, id DESC LIMIT 1",
                (repo, sha),
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _verdict(home: Path, sha: str) -> str | None:
    return _note_verdict(sha) or _queue_verdict(home, sha)


def _run_legacy(stub: str | None, data: bytes, args: Sequence[str]) -> int:
    """Run the hook that was there before PLog, with git's input and environment.

    A chained hook talks to the pusher directly (inherited stdout/stderr) and
    receives git's exact bytes on stdin.
    """
    if not stub:
        return 0
    legacy = Path(f"{stub}.legacy")
    if not legacy.is_file() or not os.access(legacy, os.X_OK):
        return 0
    return proc.run_passthrough((str(legacy), *args), input_bytes=data)


def _validated_marker(home: Path, oid: str) -> Path:
    # Per PLog version: a newer schema may reject what an older one accepted.
    return home / "validated" / __version__ / oid


@dataclass(frozen=True)
class Checked:
    problems: list[str]  # reject the push: plog.yml:LINE:COL lines
    warnings: list[str]  # tell the pusher; the push goes through


def _operation_problems(sha: str, config: Config, raw: bytes) -> Checked:
    """The operations ``config`` names, against the spec committed at ``sha``.

    No network here: a spec that cannot be loaded without it (or at all) is a
    warning, not a rejection; ``plog run`` reports it with its exit code.
    """
    from plog_ci.config.operations import bind_operations
    from plog_ci.errors import PlogError
    from plog_ci.gitrepo import GitRepo
    from plog_ci.openapi.load import load_spec_from_git

    git = GitRepo(os.path.abspath(os.environ.get("GIT_DIR", ".")))
    quarantine = os.environ.get("GIT_OBJECT_DIRECTORY") or os.environ.get("GIT_QUARANTINE_PATH")
    if quarantine and os.path.isdir(quarantine):
        git.repo.odb.add_disk_alternate(os.path.abspath(quarantine))
    try:
        spec = load_spec_from_git(git, sha, config.openapi.path)
    except PlogError as exc:
        return Checked(
            [],
            [
                f"the operations plog.yml names were not checked: cannot load the spec "
                f"{config.openapi.path}: {exc.message}"
            ],
        )
    try:
        bind_operations(config, spec, raw)
    except ConfigError as exc:
        return Checked(list(exc.errors), [])
    return Checked([], [])


def _validate(oid: str, sha: str, home: Path) -> Checked:
    """plog.yml (blob ``oid``) as pushed at commit ``sha``: its own problems, then the
    operations it names that the spec at ``sha`` lacks.

    Remembered by blob when plog.yml names no operation; else by blob and the
    commit's tree (the spec may change while plog.yml does not).
    """
    marker = _validated_marker(home, oid)
    if marker.exists():
        return Checked([], [])
    # Only on a cache miss: pygit2 and the config schema cost ~200 ms to import.
    from plog_ci.config import parse_config
    from plog_ci.config.operations import names_operations

    # git cat-file (a few ms) instead of importing pygit2 (~80 ms); text that did not
    # decode cleanly is read again as exact bytes, so "not UTF-8" is still reported.
    text = _hook_git("cat-file", "blob", oid).stdout
    raw = _open_repo()[oid].read_raw() if "\ufffd" in text else text.encode("utf-8")
    try:
        config = parse_config(raw, "plog.yml")
    except ConfigError as exc:
        return Checked(list(exc.errors), [])
    if names_operations(config):
        tree = _hook_git("rev-parse", "--end-of-options", f"{sha}^{{tree}}").stdout.strip()
        marker = _validated_marker(home, f"{oid}-{tree}")
        if marker.exists():
            return Checked([], [])
        checked = _operation_problems(sha, config, raw)
        if checked.problems or checked.warnings:
            return checked
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass  # only a cache
    return Checked([], [])


def pre_receive(
    data: bytes,
    *,
    home: Path,
    protect: Sequence[str] = (),
    strict: bool = False,
    out: IO[str] = sys.stderr,
) -> int:
    """Check a push. Returns the exit status (non-zero rejects the whole push)."""
    updates = parse_updates(data)
    problems = own_ref_problems(updates)
    protected = {os.fsencode(b) for b in protect}
    for update in updates:
        if is_own_ref(update.ref):
            continue
        branch = update.branch
        if branch is None or update.deleted:
            continue
        oid = _plog_oid(update.new)
        if oid is not None:
            checked = _validate(oid, update.new, home)
            for line in checked.problems:
                problems.append(f"{update.display} at {update.new[:12]}: {line}")
            for line in checked.warnings:
                print(f"plog: warning: {update.display} at {update.new[:12]}: {line}", file=out)
        if branch in protected:
            verdict = _verdict(home, update.new)
            if verdict == "fail":
                problems.append(
                    f"{update.display}: {update.new[:12]} failed its PLog performance gate "
                    f"(see: git log --notes=plog -1 {update.new[:12]})"
                )
            elif strict and verdict not in ("pass", "no-verdict"):
                problems.append(
                    f"{update.display}: {update.new[:12]} has no passing PLog verdict yet "
                    f"({verdict or 'not tested'}); push it to another branch first and wait "
                    f"for the verdict"
                )
    return _reject(problems, out)


def _reject(problems: Sequence[str], out: IO[str]) -> int:
    if problems:
        print("plog: push rejected:", file=out)
        for line in problems:
            print(f"  {line}", file=out)
        return 1
    return 0


def _own_ref_guard(hook: str, data: bytes) -> int:
    """Refuse pushes of PLog's refs even when the rest of PLog cannot run (0: none)."""
    if hook != "pre-receive":
        return 0
    return _reject(own_ref_problems(parse_updates(data)), sys.stderr)


def _location(url: str | None, job_id: str, sha: str) -> str:
    if url:
        return f"{url.rstrip('/')}/jobs/{job_id}"
    return f"git log --notes=plog -1 {sha[:12]}  (report: branch plog-reports)"


def post_receive(
    data: bytes,
    *,
    home: Path,
    url: str | None = None,
    out: IO[str] = sys.stdout,
) -> int:
    """Enqueue one job per updated branch and tell the pusher where to look."""
    from plog_ci.queue import JobSpec, Queue

    # git commands, not pygit2: importing it would double the hook's CPU time.
    repo_path = os.path.realpath(os.environ.get("GIT_DIR", "."))
    queue = Queue(home, busy_timeout_s=HOOK_QUEUE_TIMEOUT_S)
    now = time.time()
    for update in parse_updates(data):
        branch = update.branch
        if branch is None or update.deleted or is_own_ref(update.ref):
            continue
        oid = _plog_oid(update.new)
        if oid is None:
            print(
                f"plog: no plog.yml at {update.new[:12]} on {update.display}; nothing queued",
                file=out,
            )
            continue
        base: str | None = None
        if not update.created:
            ancestor = _hook_git(
                "merge-base",
                "--is-ancestor",
                "--end-of-options",
                update.old,
                update.new,
                check=False,
            )
            # Otherwise a force push: compare with the head's first parent.
            base = update.old if ancestor.returncode == 0 else None
        spec = JobSpec(
            repo=repo_path,
            head=update.new,
            branch=os.fsdecode(branch),
            base=base,
            config_hash=oid,
            event_time=now,
        )
        how, ident = queue.enqueue_or_spool(spec)
        if how in ("queued", "existing"):
            what = "queued" if how == "queued" else "already queued for this commit"
            print(f"plog: job {ident} {what}: {update.display} at {update.new[:12]}", file=out)
            print(f"plog: verdict: {_location(url, ident, update.new)}", file=out)
        else:
            print(
                f"plog: queue busy; job for {update.display} at {update.new[:12]} spooled "
                f"({Path(ident).name}); a worker picks it up",
                file=out,
            )
    return 0


def hook_main(
    hook: str,
    *,
    home: Path | None,
    protect: Sequence[str],
    strict: bool,
    url: str | None,
    stub: str | None = None,
    args: Sequence[str] = (),
) -> int:
    """Entry point of ``plog hook-impl``: never lets a PLog bug block a push (unless strict)."""
    data = sys.stdin.buffer.read()
    if home is None:
        home = state_dir(create=False)
    state = home
    rc = _run_legacy(stub, data, args)
    if rc != 0 and hook == "pre-receive":
        return rc
    try:
        if hook == "pre-receive":
            return pre_receive(data, home=state, protect=protect, strict=strict)
        if hook == "post-receive":
            return post_receive(data, home=state, url=url)
        print(f"plog: unknown hook {hook!r}", file=sys.stderr)
        return 0
    except Exception as exc:
        what = f"{type(exc).__name__}: {exc}"
        if _own_ref_guard(hook, data):
            return 1
        if strict and hook == "pre-receive":
            print(f"plog: error: PLog failed ({what}); push rejected (--strict)", file=sys.stderr)
            return 1
        print(f"plog: warning: PLog failed ({what}); push accepted", file=sys.stderr)
        return 0


def _stdin() -> bytes:
    try:
        return sys.stdin.buffer.read()
    except (OSError, ValueError, AttributeError):  # no stdin (not run by git)
        return b""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m plog_ci.githooks HOOK [OPTIONS] [-- ARGS]``: what the stubs exec.

    The same as ``plog hook-impl`` without importing the CLI (click): the
    pre-receive hook runs on every push and must stay well under 300 ms.
    """
    import argparse

    raw = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in raw:  # git's own hook arguments follow "--"
        cut = raw.index("--")
        raw, rest = raw[:cut], raw[cut + 1 :]
    parser = argparse.ArgumentParser(prog="plog hook-impl", exit_on_error=False)
    parser.add_argument("hook")
    parser.add_argument("--home", default=None)
    parser.add_argument("--protect", action="append", default=[])
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--url", default=None)
    parser.add_argument("--stub", default=None)
    try:
        ns = parser.parse_args(raw)
    except (argparse.ArgumentError, SystemExit) as exc:
        # A stub from another PLog version: never block a push over it (unless strict).
        strict = "--strict" in raw and raw[:1] == ["pre-receive"]
        if raw[:1] == ["pre-receive"] and _own_ref_guard("pre-receive", _stdin()):
            return 1
        print(
            f"plog: {'error' if strict else 'warning'}: bad hook arguments ({exc}); "
            f"reinstall with 'plog hooks install'",
            file=sys.stderr,
        )
        return 1 if strict else 0
    return hook_main(
        ns.hook,
        home=Path(ns.home) if ns.home else None,
        protect=ns.protect,
        strict=ns.strict,
        url=ns.url,
        stub=ns.stub,
        args=rest,
    )


if __name__ == "__main__":
    sys.exit(main())
