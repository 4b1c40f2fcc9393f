"""Deploy target "podman": run the service's image as a container on loopback.

``ContainerService`` has the surface ``plog_ci.ab.measure`` uses of ``Replicas``
(``base_url``, ``wait_healthy()``, ``pids``, ``stop()``, a context manager). Every
container carries the caller's labels (a job, a run) and its owner's (host, pid,
start time): conmon runs in a session of its own, so a killed PLog leaves its
containers running, and ``reap_containers`` removes those whose owner is dead.
No pod or network is created: the default bridge publishes the port.

The service's environment goes to podman in an ``--env-file`` (mode 0600, in a
``plog-run-*`` folder the process reaper knows), removed once the container is
created, so its values are in no argv. docs/containers-here.md says why ``--init``
and why OOM kills are not read from ``.State.OOMKilled``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from plog_ci import proc
from plog_ci.build.image import reap_builds
from plog_ci.deploy.cgroup import CgroupSampler
from plog_ci.deploy.containers import Containers
from plog_ci.deploy.health import wait_for_health
from plog_ci.deploy.process import LOOPBACK, free_port
from plog_ci.errors import ServiceError

# Set on every container; the reaper reads them back (see ``reap_containers``).
HOST_LABEL = "plog.host"
OWNER_PID_LABEL = "plog.owner_pid"
OWNER_START_LABEL = "plog.owner_start"
LOG_TAIL = 40
OOM_EXIT = 137  # SIGKILL: the memcg OOM killer's signal (podman reports no OOMKilled here)
PORT_TRIES = 3
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*\Z")
_PORT_TAKEN = re.compile(r"address already in use", re.IGNORECASE)


def owner_labels() -> dict[str, str]:
    """Labels naming this process (host, pid, start time) as the container's owner."""
    started = proc.start_time(os.getpid())
    return {
        HOST_LABEL: socket.gethostname(),
        OWNER_PID_LABEL: str(os.getpid()),
        OWNER_START_LABEL: "" if started is None else repr(started),
    }


def home_label(home: Path) -> str:
    """``plog.owner=<16 hex>``: one label per PLog state directory, for the reaper."""
    digest = hashlib.sha256(str(home.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"plog.owner={digest}"


@dataclass(frozen=True)
class ContainerState:
    """What ``podman inspect`` says: ``status`` (running, exited, ...), the exit code,
    restarts, the main pid (0 when not running) and the image id (64 hex)."""

    status: str
    exit_code: int
    restarts: int
    pid: int
    image_id: str

    @property
    def running(self) -> bool:
        return self.status == "running"


def inspect_state(tools: Containers, container: str) -> ContainerState:
    """The container's state. Raises ``proc.ProcessError`` when it does not exist."""
    data: list[dict[str, Any]] = json.loads(tools.podman("inspect", container).stdout)
    state = data[0].get("State") or {}
    return ContainerState(
        status=str(state.get("Status", "")),
        exit_code=int(state.get("ExitCode") or 0),
        restarts=int(data[0].get("RestartCount") or 0),
        pid=int(state.get("Pid") or 0),
        image_id=str(data[0].get("Image", "")).removeprefix("sha256:"),
    )


def exit_reason(code: int) -> str:
    """A sentence for a container's exit code (137: killed, likely by the OOM killer)."""
    if code == OOM_EXIT:
        return f"exited with code {code} (SIGKILL: most likely the OOM killer, at the memory limit)"
    return f"exited with code {code}"


class ContainerService:
    """One container of the service, started at construction, removed by ``stop()``.

    ``image_ref``: a local image (run with ``--pull=never``) or ``repo@sha256:...``
    (pulled first with ``pull_args``, e.g. ``--authfile F``, ``--tls-verify=false``).
    ``expect_image_id`` (64 hex, ``sha256:`` optional): the started container must
    run that image, or ServiceError. ``memory_bytes``/``cpus``: podman's limits
    (None: none). ``labels`` (key to value) go on the container beside the owner's.
    Raises ServiceError when the container cannot be created or started; nothing is
    left behind then.
    """

    def __init__(
        self,
        tools: Containers,
        image_ref: str,
        *,
        container_port: int,
        env: Mapping[str, str],
        cpus: float | None,
        memory_bytes: int | None,
        health: str,
        startup_timeout_s: float,
        labels: Mapping[str, str],
        name: str,
        log_path: Path,
        expect_image_id: str | None = None,
        pull_args: Sequence[str] = (),
        secrets: Sequence[str] = (),
    ) -> None:
        self.tools = tools
        self.image_ref = image_ref
        self.name = name
        self.health = health
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self.secrets = tuple(secrets)
        self.container_id = ""
        self.port = 0
        self.state = ContainerState("created", 0, 0, 0, "")
        self._stopped = False
        for secret in self.secrets:
            proc.register_secret(secret)
        # Whatever the service prints (podman logs) goes through redaction.
        proc.register_environment_secrets(env)
        argv = self._run_args(container_port, cpus, memory_bytes, {**labels, **owner_labels()})
        if "@sha256:" in image_ref:
            self._pull(pull_args)
        try:
            self._start(argv, env, container_port)
            state = self.inspect()
            expected = (expect_image_id or "").removeprefix("sha256:")
            if expected and state.image_id != expected:
                raise ServiceError(
                    f"the container runs image {state.image_id[:12]}, not the pushed "
                    f"{expected[:12]} ({image_ref})",
                    hint="another image answered to this reference: run by digest",
                )
        except BaseException:
            self.stop()
            raise
        self.base_url = f"http://{LOOPBACK}:{self.port}"

    def _run_args(
        self, port: int, cpus: float | None, memory: int | None, labels: Mapping[str, str]
    ) -> list[str]:
        argv = ["run", "-d", "--init", "--pull=never", "--name", self.name]
        for key, value in labels.items():
            if not _LABEL_KEY.match(key) or "\n" in value:
                raise ServiceError(f"invalid container label {key!r}")
            argv += ["--label", f"{key}={value}"]
        if cpus is not None:
            argv += ["--cpus", f"{cpus:g}"]
        if memory is not None:
            argv += ["--memory", str(memory)]
        return argv

    def _pull(self, pull_args: Sequence[str]) -> None:
        if self.tools.podman("image", "exists", self.image_ref, check=False).returncode == 0:
            return
        result = self.tools.podman(
            "pull", *pull_args, self.image_ref, timeout=600, check=False, secret=self.secrets
        )
        if result.returncode != 0:
            raise ServiceError(
                f"could not pull {self.image_ref}: {proc.redact(result.stderr.strip())[-800:]}",
                hint="check the registry's address, credentials and TLS settings",
            )

    def _start(self, argv: list[str], env: Mapping[str, str], container_port: int) -> None:
        # The env file sits in a plog-run-* folder named in the open recording, so a
        # killed PLog's file is removed by plog_ci.reaper; here it goes once podman read it.
        folder = Path(tempfile.mkdtemp(prefix="plog-run-env-"))
        proc.record_path(folder)
        try:
            env_file = folder / "env"
            _write_env_file(env_file, env)
            for attempt in range(PORT_TRIES):
                self.port = free_port()
                publish = f"{LOOPBACK}:{self.port}:{container_port}"
                result = self.tools.podman(
                    *argv, "--env-file", str(env_file), "-p", publish, self.image_ref,
                    check=False, secret=self.secrets,
                )  # fmt: skip
                if result.returncode == 0:
                    self.container_id = result.stdout.strip().splitlines()[-1]
                    return
                # A failed start may leave the created container: free the name.
                self.tools.podman("rm", "-f", "-t", "0", "-i", self.name, check=False)
                detail = proc.redact(result.stderr.strip())[-800:]
                if _PORT_TAKEN.search(detail) and attempt + 1 < PORT_TRIES:
                    continue  # another process took the free port meanwhile
                raise ServiceError(
                    f"podman could not start {self.image_ref}: {detail}",
                    hint="check the image reference and the limits in deploy.resources",
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        """The container's main pid (``--init``'s catatonit), as ``Replicas.pids`` gives
        its processes'; empty once it stopped. Resources: ``plog_ci.deploy.cgroup``."""
        return [self.state.pid] if self.state.pid else []

    @property
    def pid(self) -> int:
        return self.state.pid

    def logs(self, lines: int = LOG_TAIL) -> str:
        """The last ``lines`` lines of the container's output, secrets redacted."""
        if not self.container_id:
            return ""
        result = self.tools.podman(
            "logs", "--tail", str(lines), self.container_id, check=False, timeout=30
        )
        return proc.redact(result.stdout + result.stderr, self.secrets).rstrip()

    def inspect(self) -> ContainerState:
        """The container's state now (``ContainerState``)."""
        self.state = inspect_state(self.tools, self.container_id)
        return self.state

    def sampler(self, interval_s: float = 1.0) -> CgroupSampler:
        """A ``CgroupSampler`` of this container (not started; a context manager starts
        it). Raises LookupError when the container has no cgroup (it is not running)."""

        def exit_code() -> int | None:
            try:
                state = self.inspect()
            except proc.ProcessError:
                return None
            return None if state.running else state.exit_code

        return CgroupSampler(self.state.pid, interval_s, exit_code=exit_code)

    def check_running(self) -> None:
        """Raise ServiceError when the container is no longer running (its exit code,
        OOM likely at 137, restarts, last log lines): a failed run during the load."""
        state = self.inspect()
        if state.running and not state.restarts:
            return
        what = exit_reason(state.exit_code) if not state.running else "is running again"
        restarts = f" after {state.restarts} restart(s)" if state.restarts else ""
        raise ServiceError(
            f"the container {self.name} {what}{restarts} during the load "
            f"({self.image_ref})\n--- podman logs --tail {LOG_TAIL} ---\n{self.logs()}",
            hint="see its memory (deploy.resources.memory) and the log above",
        )

    def _alive(self, started: float | None) -> bool:
        return bool(self.state.pid) and proc.same_process(self.state.pid, started)

    def wait_healthy(self) -> float:
        """Block until ``health`` answers 2xx; the seconds it took (from this call).

        Raises ServiceError when the container exits first (its exit code and last
        40 lines) or is not healthy within ``startup_timeout_s`` (the last answer)."""
        url = self.base_url + self.health
        started = proc.start_time(self.state.pid) if self.state.pid else None
        # The pid is checked cheaply; podman is asked only once it is gone.
        health = wait_for_health(
            url,
            self.startup_timeout_s,
            lambda: not self._alive(started) and not self.inspect().running,
        )
        if health.seconds is not None:
            return health.seconds
        if health.exited:
            raise ServiceError(
                f"the container {self.name} {exit_reason(self.state.exit_code)} "
                f"before becoming healthy ({self.image_ref})\n"
                f"--- podman logs --tail {LOG_TAIL} ---\n{self.logs()}",
                hint="run the image by hand (podman run) to see why",
            )
        raise ServiceError(
            f"the container {self.name} did not become healthy within "
            f"{self.startup_timeout_s:g}s ({url}: {health.last})\n"
            f"--- podman logs --tail {LOG_TAIL} ---\n{self.logs()}",
            hint="check service.health, and that the service listens on 0.0.0.0 at the "
            "container port",
        )

    def stop(self) -> None:
        """Keep the container's output in ``log_path`` and remove it (``rm -f -t 0``).
        Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        target = self.container_id or self.name
        if self.container_id:
            with contextlib.suppress(OSError, proc.ProcessError):
                out = self.tools.podman("logs", self.container_id, check=False, timeout=30)
                text = proc.redact(out.stdout + out.stderr, self.secrets)
                self.log_path.write_text(text, encoding="utf-8")
        self.tools.podman("rm", "-f", "-t", "0", "-i", target, check=False, timeout=60)

    def __enter__(self) -> ContainerService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """``KEY=VALUE`` lines, mode 0600. podman takes a value as written (no quotes, no
    expansion), but a line is a variable: a newline in a value cannot be passed."""
    lines = []
    for key, value in env.items():
        if not _ENV_NAME.match(key):
            raise ServiceError(f"service.env: {key!r} is not a variable name")
        if "\n" in value or "\r" in value or "\0" in value:
            raise ServiceError(
                f"service.env: {key} holds a line break, which a container's "
                "environment file cannot carry"
            )
        lines.append(f"{key}={value}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(lines))


def _owner_dead(labels: Mapping[str, str]) -> bool | None:
    """Whether the labelled owner is dead; None when the labels do not say (no owner
    labels, or another host's container, whose pids mean nothing here)."""
    pid, started = labels.get(OWNER_PID_LABEL, ""), labels.get(OWNER_START_LABEL, "")
    if not pid.isdigit() or labels.get(HOST_LABEL) != socket.gethostname():
        return None
    if not started:  # start unknown: alive while the pid exists (never guess a death)
        return proc.start_time(int(pid)) is None
    try:
        return not proc.same_process(int(pid), float(started))
    except ValueError:
        return None


def _orphans(rows: list[dict[str, Any]], older_than_s: float | None) -> list[str]:
    found = []
    for row in rows:
        labels = row.get("Labels") or {}
        dead = _owner_dead(labels)
        if dead is None and older_than_s is not None:
            created = row.get("Created")
            dead = isinstance(created, int | float) and time.time() - created > older_than_s
        if dead:
            found.append(str(row.get("Id", "")))
    return [i for i in found if i]


def reap_containers(
    tools: Containers, label: str, *, older_than_s: float | None = None
) -> list[str]:
    """Remove every container and pod with ``label`` (``key=value``, e.g. ``home_label``)
    whose owner process is dead (owner labels, this host). Containers without owner
    labels (or another host's) go only when ``older_than_s`` is given and they are older.
    Returns the ids removed. Containers of a living owner are left alone.

    What killed builds on this store left (``build.image.reap_builds``: working
    containers, a RUN step still running) goes too; those ids are logged, not returned
    (they belong to no label)."""
    rows = json.loads(
        tools.podman("ps", "-a", "--filter", f"label={label}", "--format", "json").stdout or "[]"
    )
    containers = _orphans(rows, older_than_s)
    if containers:
        tools.podman("rm", "-f", "-t", "0", "-i", *containers, check=False, timeout=120)
    pods_out = tools.podman(
        "pod", "ps", "--filter", f"label={label}", "--format", "json", check=False
    ).stdout
    pods = _orphans(json.loads(pods_out or "[]") or [], older_than_s)
    if pods:
        tools.podman("pod", "rm", "-f", "-i", *pods, check=False, timeout=120)
    reap_builds(tools)
    return containers + pods
