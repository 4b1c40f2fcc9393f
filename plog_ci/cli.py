"""The plog command line: the click group and ``main()``.

Each verb lives in its own module under ``plog_ci.commands``; this module only
builds the group from them and maps what escapes a command to an exit code
(``plog_ci.errors.ExitCode``; the README's "Exit codes" table lists them).
Command modules import their heavy libraries inside the command, so a start
pays only for the verb it runs.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from plog_ci import __version__
from plog_ci.commands import (
    cluster,
    compare,
    demo,
    diff,
    export,
    gen,
    history,
    hook_impl,
    hooks,
    init,
    run,
    serve,
    validate,
    worker,
)
from plog_ci.commands._output import err_console
from plog_ci.errors import ExitCode, PlogError


@click.group()
@click.version_option(__version__, prog_name="plog")
def cli() -> None:
    """PLog CI: load-test what a commit changed and post the verdict back."""


for _command in (
    validate.validate,
    init.init,
    run.run_cmd,
    demo.demo,
    diff.diff_command,
    gen.gen,
    compare.compare_command,
    export.export_command,
    history.history_command,
    hooks.hooks,
    hook_impl.hook_impl,
    worker.worker,
    serve.serve,
    cluster.cluster,
):
    cli.add_command(_command)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C so every finally-block stops its children.
    raise KeyboardInterrupt


def _stop_all() -> None:
    # proc.stop_all() stops the children plog_ci.proc started: when the command never
    # imported it (validate, --version), there is nothing to stop and no import to pay.
    proc = sys.modules.get("plog_ci.proc")
    if proc is not None:
        proc.stop_all()


def _internal_error(exc: Exception) -> None:
    """Print the trace of a bug, secrets redacted, and what to do about it."""
    import traceback

    from plog_ci.redaction import redact, register_environment_secrets

    register_environment_secrets()  # what a command had not registered yet
    trace = "".join(traceback.format_exception(exc))
    print(redact(trace), file=sys.stderr, end="")
    print(
        redact(f"error: internal error: {type(exc).__name__}: {exc}")
        + "\n  hint: this is a bug in PLog; please report it with the trace above",
        file=sys.stderr,
    )


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _stop_all()
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.INVALID_INPUT)
    except KeyboardInterrupt:
        _stop_all()
        err_console().print("interrupted; stopped everything PLog started")
        sys.exit(ExitCode.INTERRUPTED)
    except PlogError as exc:
        err_console().print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug in PLog: exit 3, never 1 (a gate failed)
        _stop_all()
        _internal_error(exc)
        sys.exit(ExitCode.INTERNAL)
    finally:
        _stop_all()
