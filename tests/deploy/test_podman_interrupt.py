"""``plog run`` with ``deploy.target: podman`` interrupted: Ctrl-C (SIGINT) and SIGTERM
during the load end with a final status and leave no container; a SIGKILL during the
build (buildah dies with PLog, mid-RUN) leaves a working container and a RUN step
still running, which the next ``plog run`` removes (``build.image.reap_builds``).

Each test runs ``plog run`` as its own process (the signal goes to it alone, as a
terminal's Ctrl-C would reach PLog, not buildah or conmon in their own sessions), with
a private TMPDIR so its temporary folders (auth, env and build files) can be counted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from plog_ci.build.errors import BuildError
from plog_ci.build.image import build_image, reap_builds
from plog_ci.deploy.containers import Containers
from plog_ci.deploy.podman import home_label, reap_containers
from plog_ci.errors import ExitCode
from plog_ci.store.sqlite import open_store
from testing.container_tools import base_image, containers
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE, ROOT
from testing.podman_config import podman_plog_yml
from testing.repos import commit_files

pytestmark = pytest.mark.slow

SLOW_STEP = "RUN sleep 120"  # a build step long enough to be killed in


@pytest.fixture(scope="module")
def tools() -> Containers:
    need_k6()
    return containers()


def _repo(
    new_repo: Callable[..., Path], tools: Containers, name: str, *, duration: str, slow: bool
) -> Path:
    repo = new_repo(name)
    files: dict[str, str | bytes] = {
        n: (EXAMPLE / n).read_text(encoding="utf-8") for n in ("app.py", "openapi.yaml")
    }
    containerfile = (EXAMPLE / "Containerfile").read_text(encoding="utf-8")
    if slow:
        containerfile = containerfile.replace("WORKDIR /app", f"WORKDIR /app\n{SLOW_STEP}")
    files["Containerfile"] = containerfile
    files["plog.yml"] = podman_plog_yml(base_image(tools), duration=duration, gates=["p95 < 2s"])
    commit_files(repo, files, "petstore in a container")
    return repo


def _plog_run(repo: Path, home: Path, tmp: Path, log: Path) -> subprocess.Popen[bytes]:
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "PLOG_HOME": str(home), "TMPDIR": str(tmp)}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "plog_ci", "run", "--repo", str(repo)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a signal to the test's group never reaches it
            # Python turns SIGINT into KeyboardInterrupt only where it was not ignored:
            # a test session started in the background has it ignored.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def _loading(pid: int) -> bool:
    """Whether ``pid`` runs k6's load (``k6 run``; PLog also runs ``k6 version``)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
        return any(c.name() == "k6" and "run" in c.cmdline() for c in children)
    except psutil.Error:
        return False


def _wait(predicate: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen in {timeout:g}s:\n{log.read_text(errors='replace')}")


def _end(child: subprocess.Popen[bytes], tools: Containers, home: Path) -> None:
    """A failed test's ``plog run`` killed and its container removed (not left to
    another session's reaper: the state directory is this test's)."""
    if child.poll() is None:
        child.kill()
        child.wait(timeout=30)
        reap_containers(tools, home_label(home))


def _runc_bundles() -> dict[str, str]:
    """runc container id -> its bundle folder (buildah's RUN steps run there)."""
    runc = shutil.which("runc")
    assert runc is not None
    out = subprocess.run([runc, "list", "--format", "json"], capture_output=True, text=True)
    return {r["id"]: r["bundle"] for r in json.loads(out.stdout or "null") or []}


def _build_containers(tools: Containers) -> set[str]:
    out = tools.buildah("containers", "--all", "--json").stdout
    return {row["id"] for row in json.loads(out or "null") or []}


def _only_run(home: Path) -> tuple[int, str, float | None]:
    store = open_store(home)
    try:
        runs = store.runs()
        assert len(runs) >= 1
        last = runs[-1]  # newest first: the first run is last
        return last.id, last.status, last.finished_at
    finally:
        store.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_load_ends_the_run_and_removes_its_container(
    signum: signal.Signals,
    new_repo: Callable[..., Path],
    tools: Containers,
    plog_home: Path,
    tmp_path: Path,
) -> None:
    repo = _repo(new_repo, tools, "petstore", duration="60s", slow=False)
    log = tmp_path / "plog.log"
    child = _plog_run(repo, plog_home, tmp_path / "tmp", log)
    try:
        _wait(lambda: _loading(child.pid), 180, "k6 run (the load)", log)
        assert len(tools.labelled(home_label(plog_home))) == 1  # the head's container runs
        started = time.monotonic()
        child.send_signal(signum)
        code = child.wait(timeout=60)
    finally:
        _end(child, tools, plog_home)
    took = time.monotonic() - started
    output = log.read_text(errors="replace")
    assert code == ExitCode.INTERRUPTED, output
    assert tools.labelled(home_label(plog_home)) == []
    assert tools.podman("ps", "-a", "-q", "--filter", f"label={home_label(plog_home)}").stdout == ""
    _, status, finished = _only_run(plog_home)
    assert status == "cancelled" and finished is not None
    assert sorted(p.name for p in (tmp_path / "tmp").glob("plog-run-*")) == []
    assert took < 30, f"{signum.name} took {took:.1f}s to end the run"


def test_plog_killed_mid_build_leaves_a_build_the_next_run_removes(
    new_repo: Callable[..., Path],
    tools: Containers,
    plog_home: Path,
    tmp_path: Path,
) -> None:
    slow = _repo(new_repo, tools, "slow", duration="2s", slow=True)
    log = tmp_path / "killed.log"
    before = _build_containers(tools)
    tmp = tmp_path / "tmp"
    child = _plog_run(slow, plog_home, tmp, log)

    def run_step() -> list[str]:
        return [i for i, b in _runc_bundles().items() if b.startswith(f"{tmp}/")]

    try:
        _wait(lambda: bool(run_step()), 180, f"the build's `{SLOW_STEP}`", log)
        # Its owner lives: a reaper leaves the build alone.
        reap_builds(tools)
        assert run_step(), "a living build was reaped"
        child.kill()  # SIGKILL: no handler runs; buildah dies with PLog
        child.wait(timeout=10)
    finally:
        _end(child, tools, plog_home)
    left_runc = run_step()
    left_working = _build_containers(tools) - before
    # What buildah cannot clean when killed: its RUN step still runs, and its
    # working container stays in the store.
    assert left_runc and left_working, (left_runc, left_working)

    quick = _repo(new_repo, tools, "quick", duration="2s", slow=False)
    next_log = tmp_path / "next.log"
    nxt = _plog_run(quick, plog_home, tmp_path / "tmp-next", next_log)
    assert nxt.wait(timeout=300) == 0, next_log.read_text(errors="replace")
    assert not set(_runc_bundles()) & set(left_runc)
    assert not _build_containers(tools) & left_working
    assert not [p.pid for p in psutil.process_iter() if _in(p, left_runc)]  # the RUN step
    assert tools.labelled(home_label(plog_home)) == []
    assert not list(tmp.glob("plog-run-*"))  # the killed run's folders (auth, env, build)
    store = open_store(plog_home)
    try:
        killed = store.runs()[-1]
        assert killed.status == "error" and killed.finished_at is not None
    finally:
        store.close()


def _in(process: psutil.Process, runc_ids: list[str]) -> bool:
    """Whether ``process`` runs in one of buildah's runc containers (by its cgroup)."""
    try:
        cgroup = Path(f"/proc/{process.pid}/cgroup").read_text()
    except OSError:
        return False
    return any(cid in cgroup for cid in runc_ids)


def test_a_failing_build_leaves_no_working_container(tools: Containers, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "Containerfile").write_text(
        f"FROM {base_image(tools)}\nRUN echo '<script>x</script>' && false\n", encoding="utf-8"
    )
    before = _build_containers(tools)
    with pytest.raises(BuildError, match="<script>x</script>"):
        build_image(
            tools, tree, containerfile="Containerfile", context=".", args={}, target=None,
            tag="localhost/plog-test-interrupt:fail", labels={}, log_path=tmp_path / "b.log",
            timeout_s=120,
        )  # fmt: skip
    assert _build_containers(tools) - before == set()
