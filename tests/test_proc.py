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


def test_a_registered_secret_is_redacted_in_every_form_it_travels_in() -> None:
    import base64
    from urllib.parse import quote, quote_plus

    secret = "reg/Secret+42 =x"
    proc.register_secret(secret)
    raw = secret.encode()
    for form in (
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        quote(secret, safe="-_.!~*'()"),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ):
        assert proc.redact(f"before {form} after") == f"before {proc.REDACTED} after", form
    assert proc.redact("nothing secret here") == "nothing secret here"


def test_basic_auth_is_redacted_as_its_base64_header() -> None:
    import base64

    proc.register_basic_auth("ann-basic", "pw-Basic/9")
    header = "Authorization: Basic " + base64.b64encode(b"ann-basic:pw-Basic/9").decode()
    assert "pw-Basic" not in proc.redact("password pw-Basic/9")
    assert proc.redact(header) == f"Authorization: Basic {proc.REDACTED}"


def test_load_auth_registers_its_secret_and_basic_pair() -> None:
    import base64

    from plog_ci.config.model import AuthConfig
    from plog_ci.loadgen.auth import register_secrets

    env = {"LOAD_PW": "load-pw-77", "LOAD_USER": "load-user", "LOAD_TOKEN": "load-token-88"}
    register_secrets(AuthConfig("basic", "LOAD_PW", username_env="LOAD_USER"), env)
    register_secrets(AuthConfig("bearer", "LOAD_TOKEN"), env)
    pair = base64.b64encode(b"load-user:load-pw-77").decode()
    text = proc.redact(f"Basic {pair} Bearer load-token-88 pw load-pw-77")
    assert text == f"Basic {proc.REDACTED} Bearer {proc.REDACTED} pw {proc.REDACTED}"


def test_environment_secrets_are_registered_by_name() -> None:
    proc.register_environment_secrets(
        {
            "PLOG_GITHUB_TOKEN": "gh-token-env-1",
            "WEBHOOK_SECRET": "hook-secret-2",
            "DEBUG": "on-on-on",
        }
    )
    text = proc.redact("gh-token-env-1 hook-secret-2 on-on-on")
    assert text == f"{proc.REDACTED} {proc.REDACTED} on-on-on"


def test_a_longer_secret_holding_a_shorter_one_goes_whole() -> None:
    proc.register_secret("inner-77")
    proc.register_secret("outer-inner-77-outer")
    assert proc.redact("x outer-inner-77-outer y") == f"x {proc.REDACTED} y"


def test_tail_redacts_registered_secrets_and_never_shows_half_a_line(tmp_path: Path) -> None:
    proc.register_secret("tail-secret-5150")
    script = (
        "import sys; sys.stdout.write('A' * 20000 + 'tail-secret-5150' + '\\n');"
        "print('env tail-secret-5150'); sys.stdout.flush()"
    )
    process = proc.Process([sys.executable, "-c", script], log_path=tmp_path / "out.log")
    process.wait(timeout=10)
    tail = process.tail()
    process.stop()
    assert "tail-secret" not in tail and "5150" not in tail
    assert tail.endswith(f"env {proc.REDACTED}")


# -- children die with PLog; records for the reaper (issue 15, kind 6) ---------------

_PARENT = """
import sys, time
from pathlib import Path
from plog_ci import proc
folder = Path(sys.argv[1])
with proc.recording(folder / "procs", run_id=7):
    child = proc.Process((sys.executable, "-c", "import time; time.sleep(60)"),
                         log_path=folder / "child.log")
    print(child.pid, flush=True)
    time.sleep(60)
"""


def _kill_quietly(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.mark.skipif(proc._PRCTL is None, reason="PR_SET_PDEATHSIG is Linux only")
def test_a_child_dies_with_its_sigkilled_parent_and_its_record_stays(tmp_path: Path) -> None:
    import subprocess

    root = Path(__file__).resolve().parent.parent
    parent = subprocess.Popen(
        (sys.executable, "-c", _PARENT, str(tmp_path)),
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        (record,) = (tmp_path / "procs").glob("*.json")
        import json

        data = json.loads(record.read_text())
        assert data["owner_pid"] == parent.pid and data["labels"] == {"run_id": 7}
        (entry,) = data["children"]
        assert entry["pid"] == child and entry["start"] == proc.start_time(child)
        assert entry["cmdline"][0] == sys.executable
        parent.kill()
        parent.wait(timeout=10)
        assert proc.wait_for(lambda: not _alive(child), timeout=5), "the child outlived its parent"
        # The record stays for the reaper: nothing closed it.
        assert record.exists()
    finally:
        parent.kill()
        parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()
        if child:
            _kill_quietly(child)


@pytest.mark.skipif(proc._PRCTL is None, reason="PR_SET_PDEATHSIG is Linux only")
def test_a_process_started_from_a_short_lived_thread_outlives_that_thread(
    tmp_path: Path,
) -> None:
    import threading

    started: list[proc.Process] = []
    thread = threading.Thread(
        target=lambda: started.append(
            proc.Process(
                (sys.executable, "-c", "import time; time.sleep(30)"),
                log_path=tmp_path / "t.log",
            )
        )
    )
    thread.start()
    thread.join()
    (child,) = started
    try:
        time.sleep(0.5)  # PDEATHSIG would have fired when the thread ended
        assert child.poll() is None
    finally:
        child.stop(grace=0.5)


def test_a_recording_lists_live_children_and_is_removed_when_it_closes(tmp_path: Path) -> None:
    import json

    with proc.recording(tmp_path / "procs", job_id=3) as record:
        with proc.recording(tmp_path / "elsewhere", run_id=9):  # nested: labels only
            proc.record_path("/tmp/plog-run-x")
            child = proc.Process(
                (sys.executable, "-c", "import time; time.sleep(30)"), log_path=tmp_path / "c.log"
            )
            try:
                data = json.loads(record.path.read_text())
                assert [c["pid"] for c in data["children"]] == [child.pid]
                assert data["labels"] == {"job_id": 3, "run_id": 9, "tmp_dirs": ["/tmp/plog-run-x"]}
            finally:
                child.stop(grace=0.5)
            assert json.loads(record.path.read_text())["children"] == []
        assert not (tmp_path / "elsewhere").exists()
    assert list((tmp_path / "procs").iterdir()) == []
    assert proc.current_recording() is None


def test_same_process_refuses_a_reused_pid() -> None:
    me = proc.start_time(os.getpid())
    assert me is not None and proc.same_process(os.getpid(), me)
    assert not proc.same_process(os.getpid(), me - 1.0)
    assert not proc.same_process(os.getpid(), None)
