"""Push an image to an OCI registry and pull it back by digest, with podman.

Credentials travel only in an auth file (``{"auths": {HOST: {"auth": base64(user:pass)}}}``,
mode 0600) in a private folder (mode 0700, ``plog-run-auth-*``: the reaper removes
it should PLog be killed) that is removed when the call ends, however it ends. The
password is registered with ``plog_ci.redaction`` first, so no message, log or
record carries it. Anonymous access gets an empty auth file, so podman never falls
back to credentials found elsewhere on the machine.

The digest is the one the registry has (``--digestfile`` of this push): the pushed
manifest's layers are compressed, so a local digest names another manifest
(docs/containers-here.md).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from plog_ci import proc
from plog_ci.build.errors import RegistryAuthError, RegistryError
from plog_ci.deploy.containers import Containers
from plog_ci.errors import DependencyError, InputError

TEMP_PREFIX = "plog-run-auth-"  # plog_ci.reaper removes plog-run-* folders of dead owners
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_REFUSED = ("unauthorized", "authentication required", "invalid username/password")
_DENIED = ("denied", "forbidden", "not authorized")
_UNREACHABLE = (
    "connection refused",
    "no such host",
    "i/o timeout",
    "connection reset",
    "network is unreachable",
    "no route to host",
    "tls handshake timeout",
    "server misbehaving",
    ": eof",
)
_UNTRUSTED = ("x509:", "certificate", "server gave http response to https client")


@dataclass(frozen=True)
class Access:
    """How to reach a registry: ``host`` (``name[:port]``), credentials (``password``
    None: anonymous), ``password_env`` (the variable's name, for messages), TLS."""

    host: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None
    tls_verify: bool = True
    ca_file: Path | None = None

    def who(self) -> str:
        source = f" (password from ${self.password_env})" if self.password_env else ""
        return f"{self.username}{source}"


@dataclass(frozen=True)
class PushedImage:
    """``reference``: ``HOST/REPOSITORY@sha256:...`` (what to pull and run);
    ``digest``: the registry's manifest digest; ``tagged``: ``HOST/REPOSITORY:TAG``."""

    reference: str
    digest: str
    tagged: str


def registry_host(url: str) -> str:
    """``https://harbor.example.com/`` or ``harbor.example.com`` -> ``harbor.example.com``."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip(), flags=re.IGNORECASE).rstrip("/")
    if not host or "/" in host or any(c.isspace() for c in host):
        raise InputError(f"registry url {url!r}: expected a host such as harbor.example.com:443")
    return host


@contextlib.contextmanager
def _session(access: Access) -> Iterator[tuple[Path, list[str]]]:
    """(a private folder, podman's ``--authfile`` and TLS flags); removed on exit."""
    if access.password is not None and not access.username:
        raise InputError(f"registry {access.host}: a password without a username")
    proc.register_basic_auth(access.username, access.password)
    if access.ca_file is not None and not access.ca_file.is_file():
        raise InputError(f"registry {access.host}: ca_file {access.ca_file} is not a file")
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))  # mode 0700
    proc.record_path(folder)
    try:
        auths: dict[str, dict[str, str]] = {}
        if access.username and access.password is not None:
            token = f"{access.username}:{access.password}".encode()
            auths[access.host] = {"auth": base64.b64encode(token).decode("ascii")}
        authfile = folder / "auth.json"
        fd = os.open(authfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"auths": auths}, fh)
        flags = ["--authfile", str(authfile)]
        if not access.tls_verify:
            flags.append("--tls-verify=false")
        elif access.ca_file is not None:
            certs = folder / "certs"  # podman reads every *.crt (and key pairs) in it
            certs.mkdir()
            shutil.copyfile(access.ca_file, certs / "ca.crt")
            flags += ["--cert-dir", str(certs)]
        yield folder, flags
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fail(access: Access, action: str, result: proc.Result) -> Exception:
    """The error for a podman push/pull that exited non-zero, from what it printed."""
    output = proc.redact((result.stderr or "") + (result.stdout or ""))
    lines = [line for line in output.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit status {result.returncode}"
    low = "\n".join(lines[-5:]).lower()
    host = access.host
    if any(word in low for word in _REFUSED):
        if not access.username:
            return RegistryAuthError(
                f"registry {host} requires credentials to {action}: {last}",
                hint="set deploy.registry.username and password_env",
            )
        return RegistryAuthError(
            f"registry {host} refused the credentials of {access.who()}",
            hint="check the user and the password in that variable",
        )
    if any(word in low for word in _DENIED):
        return RegistryAuthError(
            f"registry {host} does not let {access.who()} {action}: {last}",
            hint="give the user push and pull rights on the repository (a Harbor project member)",
        )
    if any(word in low for word in _UNTRUSTED):
        return RegistryError(
            f"registry {host}: its TLS certificate is not trusted: {last}",
            hint="set deploy.registry.ca_file to the registry's CA, or tls_verify: false",
        )
    if any(word in low for word in _UNREACHABLE):
        return DependencyError(f"registry {host} is unreachable: {last}")
    return RegistryError(f"could not {action} with registry {host}: {last}")


def _checked_repository(repository: str) -> str:
    if not re.match(
        r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", repository
    ):
        raise InputError(
            f"registry repository {repository!r}: lower-case path such as team/service"
        )
    return repository


def push(
    tools: Containers,
    image: str,
    *,
    access: Access,
    repository: str,
    tag: str,
    log_path: Path | None = None,
    timeout_s: float = 600,
) -> PushedImage:
    """Push ``image`` (a local id or tag) as ``HOST/REPOSITORY:TAG``.

    Returns the registry's digest (from ``--digestfile``). Appends podman's output
    (redacted) to ``log_path`` when given. Raises RegistryAuthError (exit 2) for
    refused credentials (the message names the user and the variable, never the
    password), RegistryError for an untrusted certificate or another refusal,
    DependencyError (exit 4) for an unreachable registry or a timeout.
    """
    tagged = f"{access.host}/{_checked_repository(repository)}:{tag}"
    with _session(access) as (folder, flags):
        digestfile = folder / "digest"
        argv = ["push", *flags, "--digestfile", str(digestfile), image, tagged]
        result = _run(tools, access, argv, "push", timeout_s, log_path)
        digest = digestfile.read_text(encoding="utf-8").strip() if digestfile.exists() else ""
    if result.returncode != 0:
        raise _fail(access, "push", result)
    if not DIGEST_RE.match(digest):
        raise RegistryError(f"registry {access.host}: podman push gave no digest ({digest!r})")
    reference = f"{access.host}/{repository}@{digest}"
    return PushedImage(reference, digest, tagged)


def pull_by_digest(
    tools: Containers,
    reference: str,
    *,
    access: Access,
    log_path: Path | None = None,
    timeout_s: float = 600,
) -> str:
    """Pull ``HOST/REPOSITORY@sha256:...``; returns the local image id (``sha256:...``).

    Raises InputError for a reference without a digest, and as ``push`` otherwise.
    """
    name, _, digest = reference.partition("@")
    if not DIGEST_RE.match(digest) or not name.startswith(f"{access.host}/"):
        raise InputError(f"{reference!r}: expected {access.host}/REPOSITORY@sha256:<64 hex>")
    with _session(access) as (_, flags):
        result = _run(tools, access, ["pull", "--quiet", *flags, reference], "pull", timeout_s,
                      log_path)  # fmt: skip
    if result.returncode != 0:
        raise _fail(access, "pull", result)
    image_id = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def _run(
    tools: Containers,
    access: Access,
    argv: list[str],
    action: str,
    timeout_s: float,
    log_path: Path | None,
) -> proc.Result:
    secrets = [access.password] if access.password else []
    try:
        result = tools.podman(*argv, timeout=timeout_s, check=False, secret=secrets)
    except proc.ProcessError as exc:  # only a timeout: check=False
        raise DependencyError(
            f"registry {access.host}: {action} did not finish within {timeout_s:g} s"
        ) from exc
    if log_path is not None:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(proc.redact(f"$ podman {action} {argv[-1]}\n{result.stderr}{result.stdout}"))
    return result
