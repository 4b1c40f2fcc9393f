"""podman, buildah and skopeo as PLog runs them: rootful, with PLog's own configuration.

The three tools read ``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF``; PLog writes
both under its state (``containers/`` in the cache directory), so nothing global is
edited: runc (crun refuses hybrid-cgroup hosts), ulimits no higher than the host
allows (podman's default nofile=1048576 fails where root lacks CAP_SYS_RESOURCE:
"error setting rlimit type 7"), overlay storage of its own. docs/containers-here.md
has the recipe and what did not work.

Every call goes through ``plog_ci.proc`` (argv only, timeouts, redaction): a registry
password is passed as a secret to redact and only ever in an auth file.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from plog_ci import proc
from plog_ci.errors import DependencyError

TOOLS = ("podman", "buildah", "skopeo")
RUN_DIR = Path("/run/plog-containers")  # mount state and podman's temporary files
CATATONIT = "/usr/libexec/podman/catatonit"  # --init: a PID 1 that forwards SIGTERM


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/plog-containers`` (default ``~/.cache/plog-containers``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "plog-containers"


def host_ulimits() -> list[str]:
    """``nofile``/``nproc`` ulimits no higher than this host's hard limits."""
    out = []
    for name, limit, cap in (
        ("nofile", resource.RLIMIT_NOFILE, 1048576),
        ("nproc", resource.RLIMIT_NPROC, 32768),
    ):
        hard = resource.getrlimit(limit)[1]
        value = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        out.append(f"{name}={value}:{value}")
    return out


def write_config(directory: Path, run_directory: Path = RUN_DIR) -> dict[str, str]:
    """Write containers.conf and storage.conf in ``directory``; returns the two
    ``CONTAINERS_*`` variables to merge into the tools' environment. Storage (overlay)
    lives in ``directory``/storage; mount state in ``run_directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "containers.conf"
    storage = directory / "storage.conf"
    conf.write_text(
        "[containers]\n"
        f"default_ulimits = {json.dumps(host_ulimits())}\n"
        "[engine]\n"
        'runtime = "runc"\n'
        f'tmp_dir = "{run_directory}/libpod"\n'
        'events_logger = "file"\n'
        "[network]\n"
        f'network_config_dir = "{directory}/cni"\n',
        encoding="utf-8",
    )
    storage.write_text(
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{directory}/storage"\n'
        f'runroot = "{run_directory}/storage"\n',
        encoding="utf-8",
    )
    return {"CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}


@dataclass(frozen=True)
class Containers:
    """The three tools with PLog's configuration in their environment."""

    podman_path: str
    buildah_path: str
    skopeo_path: str
    env: dict[str, str] = field(repr=False)

    def _run(
        self,
        argv: Sequence[str],
        timeout: float,
        check: bool,
        secret: Sequence[str],
        input_text: str | None = None,
    ) -> proc.Result:
        # conmon writes files (an "oom" marker) into its working directory: PLog's own
        # config folder, never the caller's (a repository's root).
        conf = self.env.get("CONTAINERS_CONF")
        cwd = Path(conf).parent if conf else None
        return proc.run(
            argv,
            cwd=cwd,
            env=self.env,
            timeout=timeout,
            check=check,
            secrets=secret,
            input_text=input_text,
        )

    def podman(
        self,
        *args: str,
        timeout: float = 120,
        check: bool = True,
        secret: Sequence[str] = (),
        input_text: str | None = None,
    ) -> proc.Result:
        return self._run((self.podman_path, *args), timeout, check, secret, input_text)

    def buildah(
        self, *args: str, timeout: float = 600, check: bool = True, secret: Sequence[str] = ()
    ) -> proc.Result:
        return self._run((self.buildah_path, *args), timeout, check, secret)

    def skopeo(
        self, *args: str, timeout: float = 120, check: bool = True, secret: Sequence[str] = ()
    ) -> proc.Result:
        return self._run((self.skopeo_path, *args), timeout, check, secret)

    def labelled(self, label: str) -> list[str]:
        """Ids of every container (running or not) with ``label`` (``key=value``)."""
        out = self.podman("ps", "-a", "-q", "--no-trunc", "--filter", f"label={label}").stdout
        return out.split()

    def remove_labelled(self, label: str) -> None:
        """Remove every container with ``label`` at once (-t 0: no grace; they are ours)."""
        self.podman("rm", "-f", "-t", "0", "--filter", f"label={label}", check=False)


def missing() -> str | None:
    """Why the container tools cannot run here (a sentence), or None when they can."""
    if os.geteuid() != 0:
        return "rootful podman needs root (rootless podman is not set up by PLog)"
    absent = [name for name in (*TOOLS, "runc") if shutil.which(name) is None]
    if absent:
        return f"{', '.join(absent)} not installed (Debian packages podman buildah skopeo runc)"
    if not os.path.exists(CATATONIT):
        return "catatonit is not installed (Debian package catatonit, for podman --init)"
    return None


def containers(config_dir: Path | None = None) -> Containers:
    """The tools configured by PLog (config under ``config_dir``, default the cache's).

    Raises DependencyError (exit 4) saying what to install when they cannot run."""
    why = missing()
    if why is not None:
        raise DependencyError(
            f"target: podman needs the container tools: {why}",
            hint="apt-get install podman buildah skopeo runc catatonit (as root), "
            "or use deploy.target: process",
        )
    directory = config_dir or cache_dir() / "config"
    env = dict(os.environ) | write_config(directory)
    paths = [shutil.which(name) or name for name in TOOLS]
    return Containers(paths[0], paths[1], paths[2], env)
