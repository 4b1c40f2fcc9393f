"""PID 1 of a service's PID namespace: starts the service, passes signals on, reaps.

Run as a script (``python -I -S pid_init.py ARGV...``) under ``unshare --pid
--fork``; stdlib only, so it starts in a few milliseconds. Why an init of our own
rather than the service as PID 1: the kernel drops signals to a namespace's PID 1
that has no handler for them (pid_namespaces(7)), so a service that never installs
a SIGTERM handler would ignore PLog's graceful stop, and orphans would pile up as
zombies. This process forwards every stop signal to the service and reaps every
orphan; when the service exits, it exits with the service's status, and the
kernel then kills whatever is left in the namespace, including processes that
called ``setsid`` or double-forked to leave the service's process group (issue 15).
The same design as tini and dumb-init.

Exit status: the service's code; 128+N when a signal N ended it; 127 when the
command cannot be started (the reason on stderr, which is the service's log).
"""

from __future__ import annotations

import os
import signal
import sys

FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def main(argv: list[str]) -> int:
    if not argv:
        print("plog pid_init: no command given", file=sys.stderr)
        return 2
    # Block the stop signals across the fork so none is lost before the handlers know
    # the child's pid; the child unblocks them before exec (a mask survives exec).
    old = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    child = os.fork()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        try:
            os.execvp(argv[0], argv)  # noqa: S606 - the init exists to exec the service
        except OSError as exc:
            os.write(2, f"plog: cannot run {argv[0]}: {exc.strerror}\n".encode())
        os._exit(127)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:  # cannot happen while the service lives; be safe
            return 0
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
