"""Reap what a dead PLog process left: its services and k6, temporary folders, runs.

While a job (``plog worker``) or a measurement (``plog run``) is under way,
``plog_ci.proc.recording`` keeps a record in ``$PLOG_HOME/procs/``: the owner's
pid and start time, labels (job id, run id, the results store, the run's
``plog-run-*`` temporary folders) and every child alive (pid, start time,
argv). Children die with their owner (``PR_SET_PDEATHSIG``); ``reap`` handles
what that signal cannot: a record whose owner is dead (pid gone, or reused by
a process that started at another time) has its children's process groups
killed (a pid is killed only when its start time matches; a group whose leader
is gone is killed whole, since Linux never reuses a pid that is still a group's
id), its temporary folders removed, and its run closed as ``error`` with the
reason "worker died", unless it already had a final status. The job itself is
left to the queue: its lease expires and it is retried, or ended after
``DEFAULT_MAX_ATTEMPTS`` crashes, with one final status.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plog_ci import proc
from plog_ci.errors import PlogError

log = logging.getLogger("plog.reaper")

WORKER_DIED = "worker died"
TEMP_PREFIX = "plog-run-"


@dataclass
class Reaped:
    """What one ``reap`` found and ended."""

    records: int = 0
    processes: list[int] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    tmp_dirs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.records)


def records_dir(home: Path) -> Path:
    return home / proc.RECORDS_DIR


def _owner_alive(data: dict[str, Any]) -> bool:
    """Whether the record's owner lives (a record of another host, sharing the state
    directory, counts as alive: its pids cannot be checked from here)."""
    if data.get("host", socket.gethostname()) != socket.gethostname():
        return True
    pid, started = data.get("owner_pid"), data.get("owner_start")
    if not isinstance(pid, int):
        return False
    if started is None:  # start unknown: alive while the pid exists (never guess a death)
        return proc.start_time(pid) is not None
    return proc.same_process(pid, float(started))


def kill_child(pid: int, started: float | None) -> bool:
    """SIGKILL the group of a recorded child. True when something was signalled.

    The recorded pid still running with the recorded start time: its group (or
    itself, had it left the group). The pid gone: whatever is left of its group
    (a pid stays allocated while it is a group's id, so that group is the
    child's). The pid running with another start time: reused, left alone.
    """
    now = proc.start_time(pid)
    try:
        if now is None:
            os.killpg(pid, signal.SIGKILL)
            return True
        if not proc.same_process(pid, started):
            return False
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _remove_tmp(path: str) -> bool:
    folder = Path(path)
    if not folder.name.startswith(TEMP_PREFIX) or folder.is_symlink() or not folder.is_dir():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def _close_run(store_path: str, run_id: int) -> bool:
    from plog_ci.store.sqlite import ResultsStore

    path = Path(store_path)
    if not path.is_file():
        return False
    try:
        store = ResultsStore(path)
    except (PlogError, sqlite3.Error) as exc:
        log.warning("could not open %s to close run %s: %s", path, run_id, exc)
        return False
    try:
        return store.close_abandoned(run_id, WORKER_DIED)
    except sqlite3.Error as exc:
        log.warning("could not close run %s in %s: %s", run_id, path, exc)
        return False
    finally:
        store.close()


def _reapable_name(path: Path) -> bool:
    """A record (``*.json``), or one whose reaper died while reaping it."""
    if path.suffix == ".json":
        return True
    _, sep, reaper = path.name.rpartition(".reaping-")
    return bool(sep) and reaper.isdigit() and proc.start_time(int(reaper)) is None


def reap(home: Path) -> Reaped:
    """Reap every record under ``home`` whose owner is dead (see the module doc)."""
    found = Reaped()
    folder = records_dir(home)
    try:
        names = sorted(p for p in folder.iterdir() if _reapable_name(p))
    except OSError:
        return found
    for path in names:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or _owner_alive(data):
            continue
        # Claim the record: of two reapers at once, one renames it, the other skips it.
        claimed = path.with_name(f"{path.stem}.reaping-{os.getpid()}")
        try:
            os.rename(path, claimed)
        except OSError:
            continue
        found.records += 1
        processes, tmp_dirs = len(found.processes), len(found.tmp_dirs)
        for child in data.get("children") or []:
            pid = child.get("pid")
            if isinstance(pid, int) and pid > 1 and kill_child(pid, child.get("start")):
                found.processes.append(pid)
        labels = data.get("labels") or {}
        for tmp in labels.get("tmp_dirs") or []:
            if isinstance(tmp, str) and _remove_tmp(tmp):
                found.tmp_dirs.append(tmp)
        run_id, store = labels.get("run_id"), labels.get("store")
        if isinstance(run_id, int) and isinstance(store, str) and _close_run(store, run_id):
            found.runs.append(run_id)
        with contextlib.suppress(OSError):
            claimed.unlink()
        log.warning(
            "reaped what process %s left (job %s, run %s): %d process group(s), "
            "%d temporary folder(s)%s",
            data.get("owner_pid"),
            labels.get("job_id"),
            run_id,
            len(found.processes) - processes,
            len(found.tmp_dirs) - tmp_dirs,
            f", run {run_id} closed as error: {WORKER_DIED}" if run_id in found.runs else "",
        )
    return found
