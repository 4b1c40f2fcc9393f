"""Rootful podman/buildah/skopeo, a base image and a local OCI registry for tests.

docs/containers-here.md says why each setting is there. In short: podman reads
``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF`` (buildah and skopeo too), so
PLog's own files select runc, ulimits the host allows and a storage of its own
under ~/.cache/plog-containers; nothing global is edited. The base image
(Debian bookworm minbase with python3 and python3-flask, made by debootstrap from
the Debian mirror, no registry pull) is built once and cached as a tarball.

Missing tools skip the tests, and fail them under CI=true, as elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from plog_ci import proc
from plog_ci.deploy.containers import CATATONIT, Containers, cache_dir
from plog_ci.deploy.containers import containers as production_containers
from plog_ci.deploy.process import free_port
from testing.influx_servers import require_binary

BASE_IMAGE = "localhost/plog-base:bookworm-python3"
BASE_PACKAGES = ("python3", "python3-flask")
DEBIAN_MIRROR = os.environ.get("PLOG_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Removed from the base rootfs: ~130 MB of 270 MB, nothing a service needs.
_TRIM = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
)


def _require(condition: bool, message: str) -> None:
    """Skip with ``message`` unless ``condition``; fail instead under CI=true."""
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (parallel test sessions build the base once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def containers() -> Containers:
    """podman, buildah and skopeo configured by PLog (``plog_ci.deploy.containers``);
    skips (fails under CI) when absent."""
    _require(os.geteuid() == 0, "rootful podman needs root (rootless is not set up here)")
    for name in ("podman", "buildah", "skopeo", "runc"):
        require_binary(name)
    # --init (a PID 1 that forwards SIGTERM): Debian's catatonit, a podman Recommends.
    _require(os.path.exists(CATATONIT), "catatonit is not installed (Debian package)")
    return production_containers()


def _base_tarball() -> Path:
    """The base rootfs tarball, made by debootstrap on first use (about 2 min, 135 MB)."""
    tarball = cache_dir() / f"bookworm-{'-'.join(BASE_PACKAGES)}.tar"
    if tarball.exists():
        return tarball
    debootstrap = require_binary("debootstrap")
    work = cache_dir() / "rootfs.partial"
    shutil.rmtree(work, ignore_errors=True)
    argv = [debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}"]
    proc.run([*argv, "bookworm", str(work), DEBIAN_MIRROR], timeout=900)
    for sub in _TRIM:
        shutil.rmtree(work / sub, ignore_errors=True)
    partial = tarball.with_suffix(".partial")
    proc.run(["tar", "-C", str(work), "--numeric-owner", "-cf", str(partial), "."], timeout=300)
    os.replace(partial, tarball)
    shutil.rmtree(work, ignore_errors=True)
    return tarball


def base_image(tools: Containers) -> str:
    """Name of the local base image (python3 + flask), imported into PLog's storage once."""
    with _locked(cache_dir() / "base.lock"):
        if tools.podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
            tarball = _base_tarball()
            tools.podman("import", "--change", 'CMD ["python3"]', str(tarball), BASE_IMAGE)
    return BASE_IMAGE


def http_ready(url: str, timeout: float, verify: ssl.SSLContext | bool = True) -> bool:
    """Whether ``url`` answers (any status) within ``timeout`` seconds."""

    def answers() -> bool:
        try:
            httpx.get(url, timeout=1.0, verify=verify)
        except httpx.HTTPError:
            return False
        return True

    return proc.wait_for(answers, timeout=timeout, interval=0.1)


@dataclass(frozen=True)
class Registry:
    """A running distribution registry: ``host`` is ``127.0.0.1:PORT``."""

    host: str
    username: str
    password: str = field(repr=False)
    cert_dir: Path | None
    directory: Path

    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify``: trusts the test CA (False without TLS)."""
        if self.cert_dir is None:
            return False
        return ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt"))

    def tls_args(self) -> list[str]:
        """Flags for podman/skopeo: trust the test CA, or plain HTTP without TLS."""
        if self.cert_dir is None:
            return ["--tls-verify=false"]
        return ["--cert-dir", str(self.cert_dir)]

    @contextlib.contextmanager
    def authfile(self, password: str | None = None) -> Iterator[Path]:
        """An auth file (mode 0600, removed on exit) for ``--authfile``; ``password``
        overrides the right one (to test a refusal)."""
        secret = self.password if password is None else password
        token = base64.b64encode(f"{self.username}:{secret}".encode()).decode()
        path = self.directory / f"auth-{secrets.token_hex(4)}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"auths": {self.host: {"auth": token}}}, fh)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)


def _test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (2 days); (ca.crt, server.crt, server.key)."""
    openssl = require_binary("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    crt, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    ext = directory / "server.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        encoding="utf-8",
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    days = ["-days", "2"]
    proc.run([openssl, "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), *days,
              "-subj", "/CN=plog-test-ca"])  # fmt: skip
    proc.run([openssl, "req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"])
    proc.run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
              "-CAcreateserial", "-out", str(crt), *days, "-extfile", str(ext)])  # fmt: skip
    return ca, crt, key


@contextlib.contextmanager
def registry(directory: Path, *, tls: bool = True) -> Iterator[Registry]:
    """Debian's docker-registry (distribution 2.8) on a free loopback port.

    htpasswd (bcrypt) auth with a random password, filesystem storage in
    ``directory``; with ``tls`` a test CA whose ``ca.crt`` sits in ``cert_dir``.
    Stopped on exit. Raises RuntimeError when it does not answer in 15 s.
    """
    binary = require_binary("docker-registry")
    htpasswd = require_binary("htpasswd")
    directory.mkdir(parents=True, exist_ok=True)
    username, password = "plog", secrets.token_urlsafe(18)
    # -i: the password on stdin, never in argv.
    entry = proc.run(
        [htpasswd, "-niB", username], input_text=password + "\n", secrets=[password]
    ).stdout
    (directory / "htpasswd").write_text(entry, encoding="utf-8")
    port = free_port()
    lines = [
        "version: 0.1",
        "log: {level: warn, accesslog: {disabled: true}}",
        "storage:",
        f"  filesystem: {{rootdirectory: {directory / 'data'}}}",
        "  delete: {enabled: true}",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    cert_dir: Path | None = None
    verify: ssl.SSLContext | bool = False
    if tls:
        ca, crt, key = _test_ca(directory / "tls")
        lines.append(f"  tls: {{certificate: {crt}, key: {key}}}")
        cert_dir = directory / "certs"  # podman's --cert-dir wants only *.crt here
        cert_dir.mkdir(exist_ok=True)
        shutil.copy(ca, cert_dir / "ca.crt")
        verify = ssl.create_default_context(cafile=str(ca))
    lines.append(f"auth: {{htpasswd: {{realm: plog-registry, path: {directory / 'htpasswd'}}}}}")
    config = directory / "config.yml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    server = proc.Process([binary, "serve", str(config)], log_path=directory / "registry.log")
    try:
        scheme = "https" if tls else "http"
        if not http_ready(f"{scheme}://127.0.0.1:{port}/v2/", 15, verify):
            raise RuntimeError(f"docker-registry did not start:\n{server.tail()}")
        yield Registry(f"127.0.0.1:{port}", username, password, cert_dir, directory)
    finally:
        server.stop(grace=5.0)


def image_labels(tools: Containers, image: str) -> Mapping[str, str]:
    """The labels of a local image."""
    out = tools.podman("image", "inspect", "--format", "{{json .Labels}}", image).stdout
    labels: dict[str, str] = json.loads(out) or {}
    return labels
