"""The state directory: results database, reports, queue, spool, mirrors.

The one place that says where PLog keeps its state; the queue, the worker, the
hooks and the pipeline all ask here, so they always agree.

It also says whether that state can be written (``unwritable``): SQLite in WAL
mode maps the database's ``-shm`` index into memory, and a write through that
mapping to a file that became read-only or immutable kills the process with
SIGBUS. The store and the queue check before each transaction and stop with a
``StateError`` (exit 4) instead, and a connection to a file that cannot be written
is closed without its closing checkpoint (``close_sqlite``), which would write
through the mapping too.
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from plog_ci.errors import StateError


def state_dir(override: Path | None = None, *, create: bool = True) -> Path:
    """``override``, else ``$PLOG_HOME``, else ``$XDG_DATA_HOME/plog``, else
    ``~/.local/share/plog``.

    Created unless ``create`` is false (the queue creates it on first use, where
    a failure sends the job to the spool instead of failing a push). A directory
    that cannot be created is a ``StateError``.
    """
    if override is not None:
        path = override
    elif os.environ.get("PLOG_HOME"):
        path = Path(os.environ["PLOG_HOME"])
    else:
        data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(data_home) / "plog"
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(path, exc.strerror or str(exc)) from None
    return path


def unwritable(paths: Iterable[Path]) -> Path | None:
    """The first of ``paths`` that exists and cannot be written, else None.

    ``access(W_OK)`` is refused for a read-only mount and an immutable file even to
    root (unlike mode bits), and costs one system call per path.
    """
    for path in paths:
        try:
            if not os.access(path, os.W_OK) and _still_unwritable(path):
                return path
        except OSError:
            return path
    return None


def _still_unwritable(path: Path) -> bool:
    """After a refused access: whether ``path`` exists and is refused again. SQLite
    removes and recreates ``-wal``/``-shm`` as connections come and go, so a file
    missing at the first look and there at the second is no fault."""
    if not (path.exists() or path.is_symlink()):
        return False
    return not os.access(path, os.W_OK) and (path.exists() or path.is_symlink())


def sqlite_files(db: Path) -> tuple[Path, ...]:
    """A WAL database's directory and files: where a write can fail."""
    return (db.parent, db, Path(f"{db}-wal"), Path(f"{db}-shm"))


def check_writable(paths: Iterable[Path]) -> None:
    """Raise ``StateError`` naming the first of ``paths`` that cannot be written."""
    bad = unwritable(paths)
    if bad is not None:
        raise StateError(bad)


def is_state_fault(exc: BaseException) -> bool:
    """Whether a SQLite error means the file cannot be written (not a bug, not a lock)."""
    if not isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return False
    text = str(exc).lower()
    return any(
        s in text
        for s in (
            "readonly database",
            "read-only",
            "disk i/o error",
            "unable to open database",
            "database or disk is full",
            "disk is full",
        )
    )


_NO_CKPT_ON_CLOSE = 1006  # SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE


def _no_checkpoint_on_close(conn: sqlite3.Connection) -> bool:
    """Ask SQLite not to checkpoint when ``conn`` closes (Python 3.11 has no
    ``setconfig``: the handle is the first field after the object header)."""
    try:
        import _sqlite3

        lib = ctypes.PyDLL(_sqlite3.__file__)
        handle = ctypes.c_void_p.from_address(id(conn) + object.__basicsize__).value
        if not handle:
            return False
        config = lib.sqlite3_db_config
        config.restype = ctypes.c_int
        return bool(config(ctypes.c_void_p(handle), _NO_CKPT_ON_CLOSE, 1, None) == 0)
    except (OSError, AttributeError, ImportError, ValueError):
        return False


# Connections that could not be closed safely: kept open until the process ends.
_PARKED: list[sqlite3.Connection] = []


def close_sqlite(conn: sqlite3.Connection, db: Path) -> None:
    """Close ``conn``; when its files cannot be written, without the closing checkpoint
    (a write through the ``-shm`` mapping: SIGBUS)."""
    if unwritable(sqlite_files(db)) is None:
        conn.close()
        return
    if _no_checkpoint_on_close(conn):
        try:
            conn.close()
        except sqlite3.Error:
            pass
        return
    _PARKED.append(conn)  # pragma: no cover - only where the handle cannot be reached
