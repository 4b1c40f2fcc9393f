"""The one subprocess wrapper.

Rules it enforces: argv tuples only (never a shell), every child in its own
process group so a timeout or Ctrl-C kills the whole tree, and secrets
redacted from anything that reaches an error message or a log.

Children die with PLog (issue 15): every child gets ``PR_SET_PDEATHSIG``
(SIGKILL) on Linux, so a SIGKILLed worker or ``plog run`` takes its services
and k6 with it. The kernel sends that signal when the *thread* that forked the
child exits, so long-running children (``Process``) are forked from the main
thread, or from one spawner thread that lives as long as the process when
started elsewhere (``run`` blocks its caller until the child ends, so any
thread will do). What the signal cannot reach (a child's own children in its
group, the run's temporary folder, its row in the results store) is written to
a record while a ``recording`` is open; ``plog_ci.reaper`` reaps the records
whose owner died.

Secrets live in one registry (``plog_ci.redaction``): every output and error
text here passes through its ``redact``, so a child's output (a service that
prints its environment) never carries them into a message, the store, a note
or a report.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from plog_ci.errors import InputError, MissingToolError, PlogError

# The registry's names, re-exported: callers say proc.redact, proc.register_secret.
from plog_ci.redaction import REDACTED as REDACTED
from plog_ci.redaction import redact as redact
from plog_ci.redaction import register_basic_auth as register_basic_auth
from plog_ci.redaction import register_environment_secrets as register_environment_secrets
from plog_ci.redaction import register_secret as register_secret

# Every spawned group still alive, so an interrupted run can stop them all.
_LIVE: set[Process] = set()
_LIVE_LOCK = threading.Lock()


# -- children die with PLog (PR_SET_PDEATHSIG) -------------------------------------

PR_SET_PDEATHSIG = 1
DEATH_SIGNAL = signal.SIGKILL
_T = TypeVar("_T")


def _load_prctl() -> Any:
    """libc's ``prctl``, looked up before any fork (a child must not load libraries)."""
    if not os.path.exists("/proc/self"):  # Linux only; elsewhere the reaper alone
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die (SIGKILL) when its parent thread ends.

    If the parent died between the fork and the ``prctl`` call the signal would never
    come, so the child checks it still has the parent it was forked from.
    """
    if _PRCTL is None:
        return None
    prctl, parent, signum = _PRCTL, os.getpid(), int(DEATH_SIGNAL)

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


_SPAWNER: ThreadPoolExecutor | None = None
_SPAWNER_LOCK = threading.Lock()


def _from_lasting_thread(fn: Callable[[], _T]) -> _T:
    """Call ``fn`` (a fork) on a thread that lives as long as the process: the main
    thread, or else one spawner thread (PDEATHSIG fires when the forking thread ends)."""
    global _SPAWNER
    if _PRCTL is None or threading.current_thread() is threading.main_thread():
        return fn()
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            _SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plog-spawner")
        spawner = _SPAWNER
    return spawner.submit(fn).result()


def start_time(pid: int) -> float | None:
    """When ``pid`` started (psutil's ``create_time``), or None when no such process."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied, ValueError):
        return None


def same_process(pid: int, started: float | None) -> bool:
    """Whether ``pid`` is still the process that started at ``started`` (a reused pid is not)."""
    now = start_time(pid)
    return now is not None and started is not None and abs(now - started) < 0.005


# -- records of what PLog started (reaped by plog_ci.reaper) ----------------------------

RECORDS_DIR = "procs"


class Recording:
    """One record file: who owns it (this process), labels (job, run, store, temporary
    folders) and the children alive now. Rewritten whole at each change (atomic rename)."""

    def __init__(self, directory: Path, labels: Mapping[str, Any]) -> None:
        self.directory = directory
        self.owner_pid = os.getpid()
        self.owner_start = start_time(self.owner_pid)
        self.labels: dict[str, Any] = dict(labels)
        self.children: dict[int, dict[str, Any]] = {}
        self.path = directory / f"{self.owner_pid}-{os.urandom(4).hex()}.json"
        self._lock = threading.Lock()
        with contextlib.suppress(OSError):  # unwritable: ``write`` gives up quietly too
            directory.mkdir(parents=True, exist_ok=True)
        self.write()

    def data(self) -> dict[str, Any]:
        return {
            "host": socket.gethostname(),  # pids mean something on this host only
            "owner_pid": self.owner_pid,
            "owner_start": self.owner_start,
            "labels": self.labels,
            "children": list(self.children.values()),
        }

    def write(self) -> None:
        with self._lock:
            text = json.dumps(self.data(), sort_keys=True)
            tmp = self.path.with_suffix(".tmp")
            try:
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError:  # a record is a safety net; never fail a run for it
                pass

    def label(self, **labels: Any) -> None:
        self.labels.update(labels)
        self.write()

    def add_path(self, key: str, path: str) -> None:
        paths = list(self.labels.get(key) or [])
        if path not in paths:
            paths.append(path)
        self.label(**{key: paths})

    def add_child(self, pid: int, argv: Sequence[str]) -> None:
        # Redacted: a service's argv may hold a secret (service.run's ${NAME}).
        cmdline = [redact(a) for a in argv]
        self.children[pid] = {"pid": pid, "start": start_time(pid), "cmdline": cmdline}
        self.write()

    def remove_child(self, pid: int) -> None:
        if self.children.pop(pid, None) is not None:
            self.write()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


_RECORDING: Recording | None = None


def current_recording() -> Recording | None:
    return _RECORDING


@contextlib.contextmanager
def recording(directory: Path, **labels: Any) -> Iterator[Recording]:
    """Record every ``Process`` started inside (and ``labels``) under ``directory``.

    Inside an open recording, only merges ``labels`` into it: the outermost one (the
    worker's, for a whole job) owns the file, which is removed when it closes.
    """
    global _RECORDING
    if _RECORDING is not None:
        _RECORDING.label(**labels)
        yield _RECORDING
        return
    record = Recording(directory, labels)
    _RECORDING = record
    try:
        yield record
    finally:
        _RECORDING = None
        record.close()


def record_path(path: str | Path, key: str = "tmp_dirs") -> None:
    """Name ``path`` (a temporary folder) in the open recording, if any, for the reaper."""
    if _RECORDING is not None:
        _RECORDING.add_path(key, str(path))


class ProcessError(PlogError):
    """A command exited non-zero or ran past its timeout."""

    def __init__(
        self, message: str, *, returncode: int | None, output: str, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.output = output


def clean_git_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment without GIT_* variables: inside a hook they point at the pushed repo."""
    base = os.environ if env is None else env
    return {k: v for k, v in base.items() if not k.startswith("GIT_")}


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def _display(argv: Sequence[str], secrets: Iterable[str]) -> str:
    return redact(" ".join(argv), secrets)


def _kill_group(popen: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float) -> None:
    if popen.poll() is not None:
        # The leader is gone but children may linger in its group.
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def run(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 60.0,
    input_text: str | None = None,
    secrets: Iterable[str] = (),
    check: bool = True,
) -> Result:
    """Run ``argv`` to completion and capture its output (text)."""
    argv = tuple(str(a) for a in argv)
    secrets = tuple(secrets)
    for secret in secrets:
        register_secret(secret)
    try:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=_die_with_parent_hook(),
        )
    except FileNotFoundError as exc:
        raise MissingToolError(
            f"{argv[0]}: command not found", hint=f"install {Path(argv[0]).name} or fix PATH"
        ) from exc
    try:
        stdout, stderr = popen.communicate(input=input_text, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(popen, grace=2.0)
        out, err = popen.communicate()
        tail = redact((out or "") + (err or ""), secrets)[-2000:]
        raise ProcessError(
            f"{_display(argv, secrets)}: timed out after {timeout:g}s",
            returncode=None,
            output=tail,
        ) from exc
    except BaseException:
        _kill_group(popen, grace=0.5)
        raise
    finally:
        # Grandchildren that outlived the leader.
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    result = Result(argv, popen.returncode, stdout, stderr)
    if check and popen.returncode != 0:
        detail = redact(stderr.strip() or stdout.strip(), secrets)[-2000:]
        raise ProcessError(
            f"{_display(argv, secrets)}: exited with {popen.returncode}: {detail}",
            returncode=popen.returncode,
            output=detail,
        )
    return result


def run_passthrough(
    argv: Sequence[str],
    *,
    input_bytes: bytes = b"",
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> int:
    """Run ``argv`` with this process's stdout/stderr and ``input_bytes`` on stdin.

    For chained git hooks: they talk to the pusher directly and must receive
    git's exact bytes. Returns the exit status; a timeout kills the group (124).
    """
    argv = tuple(str(a) for a in argv)
    try:
        popen = subprocess.Popen(
            argv,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent_hook(),
        )
    except FileNotFoundError as exc:
        raise MissingToolError(f"{argv[0]}: command not found") from exc
    try:
        popen.communicate(input=input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(popen, grace=2.0)
        return 124
    except BaseException:
        _kill_group(popen, grace=0.5)
        raise
    return popen.returncode


class Process:
    """A long-running child (a service under test, k6) in its own process group.

    Output goes to a file so a chatty child never blocks on a full pipe; the
    last lines stay readable for error messages.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        log_path: Path,
        secrets: Iterable[str] = (),
    ) -> None:
        self.argv = tuple(str(a) for a in argv)
        self.log_path = log_path
        self.secrets = tuple(secrets)
        for secret in self.secrets:
            register_secret(secret)
        self._log: IO[bytes] = open(log_path, "wb")
        log = self._log
        try:
            self._popen = _from_lasting_thread(
                lambda: subprocess.Popen(
                    self.argv,
                    cwd=cwd,
                    env=dict(env) if env is not None else None,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent_hook(),
                )
            )
        except FileNotFoundError as exc:
            self._log.close()
            raise MissingToolError(
                f"{self.argv[0]}: command not found",
                hint=f"install {Path(self.argv[0]).name} or fix PATH",
            ) from exc
        except PermissionError as exc:
            self._log.close()
            raise InputError(f"{self.argv[0]}: not executable ({exc.strerror})") from exc
        with _LIVE_LOCK:
            _LIVE.add(self)
        # Recorded (pid, start time, argv) so a new worker can reap it if this one dies.
        self._recording = _RECORDING
        if self._recording is not None:
            self._recording.add_child(self._popen.pid, self.argv)

    @property
    def pid(self) -> int:
        return self._popen.pid

    def poll(self) -> int | None:
        return self._popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self._popen.wait(timeout=timeout)

    def tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                start = max(0, size - 16384)
                fh.seek(start)
                data = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        # Redact before cutting; a first line cut in the middle could hold part of a secret.
        kept = redact(data, self.secrets).splitlines()
        if start and kept:
            kept = kept[1:]
        return "\n".join(deque(kept, maxlen=lines))

    def stop(self, grace: float = 5.0) -> int | None:
        """Stop the whole group: SIGTERM, then SIGKILL after ``grace`` seconds."""
        _kill_group(self._popen, grace)
        return self._forget()

    def kill(self) -> int | None:
        """SIGKILL the whole group at once: no handler runs (a crash, as benchmarks need)."""
        try:
            os.killpg(self._popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._popen.wait(timeout=10)
        return self._forget()

    def _forget(self) -> int | None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self._recording is not None:
            self._recording.remove_child(self._popen.pid)
        if not self._log.closed:
            self._log.close()
        return self._popen.returncode


def stop_all(grace: float = 2.0) -> None:
    """Stop every child still running (used on Ctrl-C and at exit)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        proc.stop(grace)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
