from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from plog_ci import proc
from plog_ci.errors import MissingToolError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_run_captures_output() -> None:
    result = proc.run((sys.executable, "-c", "print('hi')"))
    assert result.stdout.strip() == "hi" and result.returncode == 0


def test_missing_tool_is_exit_4() -> None:
    with pytest.raises(MissingToolError) as info:
        proc.run(("plog-no-such-tool-xyz",))
    assert info.value.exit_code == 4


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    start = time.monotonic()
    with pytest.raises(proc.ProcessError) as info:
        proc.run((sys.executable, "-c", code), timeout=1.5)
    assert "timed out" in str(info.value)
    assert time.monotonic() - start < 15
    grandchild = int(pidfile.read_text())
    assert proc.wait_for(lambda: not _alive(grandchild), timeout=5)


def test_secrets_are_redacted_from_errors() -> None:
    secret = "s3cr3t-token-value"
    with pytest.raises(proc.ProcessError) as info:
        proc.run(
            (sys.executable, "-c", f"import sys; print('token={secret}'); sys.exit(3)"),
            secrets=(secret,),
        )
    assert secret not in str(info.value)
    assert proc.REDACTED in str(info.value)


def test_process_stop_and_tail(tmp_path: Path) -> None:
    child = proc.Process(
        (sys.executable, "-u", "-c", "print('ready'); import time; time.sleep(60)"),
        log_path=tmp_path / "log",
    )
    assert proc.wait_for(lambda: "ready" in child.tail(), timeout=10)
    child.stop(grace=1)
    assert child.poll() is not None


def test_process_kill_runs_no_handler(tmp_path: Path) -> None:
    # A child that would note a SIGTERM: kill() must give it no chance to.
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (open(sys.argv[1], 'w').write('term'), "
        "sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    noted = tmp_path / "noted"
    child = proc.Process((sys.executable, "-c", code, str(noted)), log_path=tmp_path / "log")
    assert proc.wait_for(lambda: "ready" in child.tail(), timeout=10)
    assert child.kill() == -signal.SIGKILL
    assert not noted.exists()


def test_no_shell_interpretation(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    result = proc.run(("echo", f"$(touch {marker})", ";", "rm", "-rf", "/"))
    assert "$(touch" in result.stdout
    assert not marker.exists()


def test_clean_git_env_strips_git_variables() -> None:
    env = proc.clean_git_env({"GIT_DIR": "/x", "GIT_INDEX_FILE": "y", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}


def test_passthrough_gives_exact_bytes_and_the_status(tmp_path: Path) -> None:
    out = tmp_path / "got"
    code = f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read()); sys.exit(7)"
    data = b"old new refs/heads/\xff-b\n"
    assert proc.run_passthrough((sys.executable, "-c", code), input_bytes=data) == 7
    assert out.read_bytes() == data


def test_passthrough_timeout_kills(tmp_path: Path) -> None:
    start = time.monotonic()
    code = "import time; time.sleep(60)"
    assert proc.run_passthrough((sys.executable, "-c", code), timeout=1) == 124
    assert time.monotonic() - start < 15
