"""Deploy target "process": start the service from plog.yml's ``run`` command.

The command is split like a shell would split it, but no shell runs it:
``{port}`` is substituted per argument, so a port can never inject syntax.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from plog_ci import proc
from plog_ci.config.model import ServiceConfig
from plog_ci.deploy import isolation, setup
from plog_ci.deploy.command import command_argv as command_argv
from plog_ci.deploy.command import expand as expand
from plog_ci.deploy.health import wait_for_health
from plog_ci.errors import ConfigError, ServiceError

LOOPBACK = "127.0.0.1"
# What a service from an untrusted pull request (a fork) inherits: nothing secret.
SAFE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME", "TERM")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def service_env(service: ServiceConfig, port: int, *, inherit_env: bool = True) -> dict[str, str]:
    """The environment PLog passes to the service (and to its setup steps): PLog's own
    (without ``GIT_*``; only ``SAFE_ENV`` when secrets are withheld), ``PATH`` led by
    PLog's interpreter's folder, ``PORT``, ``HOST`` and ``service.env``. Its secrets are
    registered for redaction."""
    env = proc.clean_git_env()
    if not inherit_env:
        env = {k: v for k, v in env.items() if k in SAFE_ENV}
    # "python" in the run command means the interpreter PLog runs on.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PORT"] = str(port)
    env["HOST"] = LOOPBACK
    env.update({k: v.replace("{port}", str(port)) for k, v in service.env})
    # Whatever the service prints goes through proc.redact: its secrets included.
    proc.register_environment_secrets(env)
    return env


class ServiceProcess:
    """A running service under test; stop() (or leaving the with-block) ends its group.

    It dies with PLog (``proc.Process``: ``PR_SET_PDEATHSIG``), and while a recording is
    open (a worker's job, a measurement) its pid, start time and argv are recorded, so a
    new worker reaps its group if PLog was killed (``plog_ci.reaper``). Where the kernel
    allows, it runs in a PID namespace of its own, so whatever it starts stops with it
    (``plog_ci.deploy.isolation``).
    """

    def __init__(
        self,
        service: ServiceConfig,
        root: Path,
        log_path: Path,
        secrets: tuple[str, ...] = (),
        *,
        inherit_env: bool = True,
    ) -> None:
        self.config = service
        self.root = root
        port = service.port or free_port()
        if service.port and not port_is_free(port):
            raise ServiceError(
                f"port {port} on {LOOPBACK} is already in use",
                hint="stop what listens there, or set service.port: 0 in "
                "plog.yml to pick a free port",
            )
        self.port = port
        self.base_url = f"http://{LOOPBACK}:{port}"
        workdir = (root / service.workdir).resolve()
        if not workdir.is_dir() or not workdir.is_relative_to(root.resolve()):
            raise ConfigError(
                f"plog.yml: service.workdir: {service.workdir!r} is not a "
                "directory in the repository"
            )
        env = service_env(service, port, inherit_env=inherit_env)
        self.argv = command_argv(service.run, port, env)
        # In a PID namespace where the kernel allows: what the service starts, even
        # outside its process group, stops with it (plog_ci.deploy.isolation).
        argv = isolation.wrap(self.argv)
        self.isolated = argv != self.argv
        if self.isolated:
            isolation.check_command(self.argv[0], env, workdir)
        self.process = proc.Process(argv, cwd=workdir, env=env, log_path=log_path, secrets=secrets)

    @property
    def pid(self) -> int:
        """The service's own pid (not its namespace's init): what resources are sampled from."""
        return isolation.service_pid(self.process.pid, self.isolated)

    def wait_healthy(self) -> float:
        """Block until the health path answers 2xx; returns the seconds it took."""
        url = self.base_url + self.config.health
        health = wait_for_health(
            url, self.config.startup_timeout_s, lambda: self.process.poll() is not None
        )
        if health.seconds is not None:
            return health.seconds
        if health.exited:
            raise ServiceError(
                f"the service exited with code {self.process.poll()} before becoming healthy "
                f"(command: {shlex.join(self.argv)})\n--- last output ---\n"
                f"{self.process.tail()}",
                hint="run the command by hand in the repository to see why",
            )
        raise ServiceError(
            f"the service did not become healthy within {self.config.startup_timeout_s:g}s "
            f"({url}: {health.last})\n--- last output ---\n{self.process.tail()}",
            hint="check service.health and service.startup_timeout in plog.yml, and that the "
            "command listens on {port}",
        )

    def stop(self) -> None:
        self.process.stop(grace=5.0)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Replicas:
    """Several processes of one service from one tree (the replicas of one side).

    Each listens on its own port; ``base_url`` lists them space-separated, the
    form a generated script takes them in (requests take turns among them).
    The first replica keeps ``service.port``; the others pick free ports.
    ``service.setup`` runs (or is restored from its cache) once for the tree, before
    the first replica starts, in the service's environment (``plog_ci.deploy.setup``);
    its output goes to ``log_path``'s ``-setup`` sibling.
    """

    def __init__(
        self,
        service: ServiceConfig,
        root: Path,
        log_path: Path,
        count: int,
        secrets: tuple[str, ...] = (),
        *,
        inherit_env: bool = True,
    ) -> None:
        self.processes: list[ServiceProcess] = []
        self.setup = setup.Setup()
        if service.setup:
            # PORT during setup: service.port, else a free port (the service picks its own).
            port = service.port or free_port()
            self.setup = setup.prepare(
                service,
                root,
                service_env(service, port, inherit_env=inherit_env),
                port,
                log_path.with_name(f"{log_path.stem}-setup{log_path.suffix}"),
                trusted=inherit_env,
            )
        try:
            for index in range(count):
                self.processes.append(
                    ServiceProcess(
                        service if index == 0 else replace(service, port=0),
                        root,
                        log_path.with_name(f"{log_path.stem}-{index}{log_path.suffix}")
                        if index
                        else log_path,
                        secrets,
                        inherit_env=inherit_env,
                    )
                )
        except BaseException:
            self.stop()
            raise

    @property
    def base_url(self) -> str:
        return " ".join(p.base_url for p in self.processes)

    @property
    def pid(self) -> int:
        return self.processes[0].pid

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def wait_healthy(self) -> float:
        """Block until every replica is healthy; the seconds the slowest took."""
        return max(p.wait_healthy() for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.setup.close()

    def __enter__(self) -> Replicas:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
