"""Every process a service starts stops with it: a PID namespace per service.

A process group (``proc.Process``) stops what stays in it, but a service may call
``setsid`` or double-fork and leave it. Where the kernel allows, each service runs
in a PID namespace of its own (``unshare --pid --fork --kill-child``) whose PID 1
is ``pid_init.py``: when the service exits, or PLog stops or kills it, the kernel
kills everything in the namespace (pid_namespaces(7): "If the 'init' process of a
PID namespace terminates, the kernel terminates all of the processes in the
namespace via a SIGKILL signal"). The network namespace is not touched: the
service still listens on the host's loopback.

Where namespaces are refused (no ``unshare``, an unprivileged user without user
namespaces, a container without CAP_SYS_ADMIN), services run in a process group as
before and ``available()`` says why, so the run's output can warn once.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from plog_ci import proc
from plog_ci.errors import InputError, MissingToolError, PlogError

INIT_SCRIPT = Path(__file__).with_name("pid_init.py")
_BASE = ("--pid", "--fork", "--kill-child")


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[tuple[str, ...] | None, str]:
    """The ``unshare`` prefix that works here (root: a PID namespace alone; others: in a
    user namespace mapping the user to itself), or None and the reason."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None, "unshare (util-linux) is not installed"
    tries: list[tuple[str, ...]] = [(unshare, *_BASE)]
    if os.geteuid() != 0:
        tries.append((unshare, "--user", "--map-current-user", *_BASE))
    reason = "unshare --pid was refused"
    for prefix in tries:
        try:
            # A probe of a few milliseconds, once per process; no user input in it.
            done = proc.run([*prefix, "--", "true"], timeout=10, check=False)
        except PlogError as exc:
            reason = f"unshare failed: {exc.message}"
            continue
        if done.returncode == 0:
            return prefix, ""
        reason = f"unshare --pid was refused: {done.stderr.strip()[:200]}"
    return None, reason


def available() -> str | None:
    """None when services get a PID namespace; otherwise why not (for a warning)."""
    if os.environ.get("PLOG_PID_NAMESPACE", "") == "0":
        return "PLOG_PID_NAMESPACE=0"
    return _probe()[1] or None


def wrap(argv: Sequence[str]) -> tuple[str, ...]:
    """``argv`` run as PID 2 of a new PID namespace (under ``pid_init.py``), or ``argv``
    unchanged where namespaces are unavailable (see ``available``)."""
    if available() is not None:
        return tuple(argv)
    prefix = _probe()[0]
    assert prefix is not None
    return (*prefix, "--", sys.executable, "-I", "-S", str(INIT_SCRIPT), *argv)


def check_command(argv0: str, env: Mapping[str, str], cwd: Path) -> None:
    """Raise what ``proc.Process`` would for a missing or non-executable command, before
    the wrapper starts (inside it the failure would only be an exit code 127).

    Raises ``MissingToolError`` (not found) or ``InputError`` (not executable).
    """
    if os.sep in argv0:
        path: str | None = str(cwd / argv0)
        if not os.path.exists(path or ""):
            path = None
    else:
        path = shutil.which(argv0, path=env.get("PATH", os.defpath))
    if path is None:
        raise MissingToolError(
            f"{argv0}: command not found", hint=f"install {Path(argv0).name} or fix PATH"
        )
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise InputError(f"{argv0}: not executable (permission denied)")


def service_pid(wrapper_pid: int, wrapped: bool) -> int:
    """The service's own pid: ``wrapper_pid`` itself, or, wrapped, the child of its
    ``pid_init`` (so resource samples count the service, not the wrapper). Falls back
    to ``wrapper_pid`` while the service has not started or once it has gone."""
    if not wrapped:
        return wrapper_pid
    try:
        for init in psutil.Process(wrapper_pid).children():
            for child in init.children():
                return int(child.pid)
    except psutil.Error:
        pass
    return wrapper_pid
