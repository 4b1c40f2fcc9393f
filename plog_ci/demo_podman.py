"""``plog demo --target podman``: the same two commits, built and run as containers.

Each commit's image is built with buildah from examples/petstore's Containerfile,
pushed to a local OCI registry and run by its digest with podman (``deploy.target:
podman``, the path ``plog_ci.deploy.target`` takes for any repository). The demo
only prepares what that path needs and cannot get here by itself:

- a base image: the Containerfile's ``BASE`` build argument (``--base-image``);
  without one, ``python:3.11-slim``, pulled when absent. Offline, that fails at
  once with the recipe that makes a local base (docs/containers-here.md).
- a registry: the user's (``--registry URL``, anonymous), or Debian's
  docker-registry started on a free loopback port in the demo's folder (plain
  HTTP, no auth) and stopped afterwards; without that binary the images stay in
  the local store, and the demo says so.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from plog_ci import proc
from plog_ci.config.registry_address import url_problem
from plog_ci.deploy.containers import Containers, containers
from plog_ci.deploy.process import LOOPBACK, free_port
from plog_ci.errors import DependencyError, InputError

DEFAULT_BASE = "docker.io/library/python:3.11-slim"
REPOSITORY = "plog-demo/petstore"  # the demo's images in the registry
NO_REGISTRY = "none"  # --registry none: keep the images in the local store
PULL_TIMEOUT_S = 120.0
REGISTRY_START_S = 15.0
LOCAL_BASE = "localhost/plog-base:bookworm-python3"
_ROOTFS = "/tmp/plog-base-rootfs"  # noqa: S108 - a path in a recipe the user runs


@dataclass(frozen=True)
class PodmanDemo:
    """What the demo repository gets for target podman: ``plog_yml`` (the text of its
    plog.yml) and the example files it needs besides the process demo's."""

    plog_yml: str
    extra_files: tuple[str, ...] = ("Containerfile",)


def base_recipe(tools: Containers) -> str:
    """One shell command that makes a local base image (python3 + Flask, Debian
    bookworm by debootstrap, no registry) in PLog's container storage."""
    env = " ".join(
        f"{key}={tools.env[key]}"
        for key in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF")
        if key in tools.env
    )
    return (
        "debootstrap --variant=minbase --include=python3,python3-flask bookworm "
        f"{_ROOTFS} http://deb.debian.org/debian && tar -C {_ROOTFS} --numeric-owner -c . | "
        f"{env} podman import --change 'CMD [\"python3\"]' - {LOCAL_BASE} && rm -rf {_ROOTFS}"
    )


def ensure_base_image(tools: Containers, image: str, *, given: bool) -> None:
    """The base image is in PLog's store, or pulled now.

    Raises InputError (exit 2) for a ``given`` image that is neither here nor
    pullable, DependencyError (exit 4) when the default cannot be pulled (offline);
    both name ``--base-image`` and the recipe of a local base."""
    if not image or any(c.isspace() or not c.isprintable() for c in image):
        raise InputError(f"--base-image {image!r}: an image name has no spaces or control chars")
    if tools.podman("image", "exists", image, check=False).returncode == 0:
        return
    try:
        pulled = tools.podman("pull", "--quiet", image, check=False, timeout=PULL_TIMEOUT_S)
        failed = pulled.returncode != 0
        why = (pulled.stderr.strip().splitlines() or ["no output"])[-1]
    except proc.ProcessError:  # a timeout: check=False
        failed, why = True, f"no answer within {PULL_TIMEOUT_S:g} s"
    if not failed:
        return
    hint = (
        "pass --base-image IMAGE, an image with python3 and Flask in PLog's storage "
        f"(docs/containers-here.md); one command makes one, then --base-image {LOCAL_BASE}:\n"
        f"  {base_recipe(tools)}"
    )
    message = f"the base image {image} is not here and could not be pulled: {why}"
    if given:
        raise InputError(f"--base-image: {message}", hint=hint)
    raise DependencyError(message, hint=hint)


def podman_plog_yml(example: Path, *, base_image: str, registry_url: str | None) -> str:
    """The example's plog.podman.yml with ``deploy.build.args.BASE`` and, when
    ``registry_url`` is set, ``deploy.registry`` (anonymous) added."""
    text = (example / "plog.podman.yml").read_text(encoding="utf-8")
    anchor = "    containerfile: Containerfile\n"
    if anchor not in text:
        raise RuntimeError("demo: plog.podman.yml no longer has deploy.build.containerfile")
    # JSON strings are YAML strings: the name is quoted whatever it holds.
    added = f"    args: {{BASE: {json.dumps(base_image)}}}\n"
    if registry_url is not None:
        added += f"  registry: {{url: {json.dumps(registry_url)}, repository: {REPOSITORY}}}\n"
    return text.replace(anchor, anchor + added, 1)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def local_registry(folder: Path, out: Console) -> Iterator[str | None]:
    """Debian's docker-registry on a free loopback port (plain HTTP, no auth, storage
    in ``folder``), stopped on exit; yields ``http://127.0.0.1:PORT``, or None (said
    on ``out``) when the binary is not installed. Raises DependencyError when it
    does not answer within 15 s."""
    binary = shutil.which("docker-registry")
    if binary is None:
        out.print(
            "registry: docker-registry is not installed (Debian package docker-registry); "
            "the images stay in the local store, not pushed",
            markup=False,
        )
        yield None
        return
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "config.yml").write_text(
        "version: 0.1\n"
        "log: {level: warn, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {json.dumps(str(folder / 'data'))}}}}}\n"
        f"http: {{addr: '{LOOPBACK}:{port}', secret: {secrets.token_hex(16)}}}\n",
        encoding="utf-8",
    )
    server = proc.Process(
        [binary, "serve", str(folder / "config.yml")], log_path=folder / "registry.log"
    )
    try:
        url = f"http://{LOOPBACK}:{port}"
        if not proc.wait_for(lambda: _answers(f"{url}/v2/"), timeout=REGISTRY_START_S):
            raise DependencyError(
                f"docker-registry did not answer on {url} within {REGISTRY_START_S:g} s:\n"
                + server.tail(),
                hint="or pass --registry URL (or --registry none)",
            )
        out.print(f"registry: docker-registry on {url} (for this demo only)", markup=False)
        yield url
    finally:
        server.stop(grace=5.0)


def check_registry(registry: str | None) -> None:
    """InputError (exit 2) unless ``registry`` is None, ``none`` or a registry's
    address (``host[:port]``, ``http://`` or ``https://``)."""
    if registry is None or registry == NO_REGISTRY:
        return
    problem = url_problem(registry)
    if problem is not None:
        raise InputError(f"--registry: {problem[0]}", hint=problem[1])


@contextlib.contextmanager
def registry_for(root: Path, registry: str | None, out: Console) -> Iterator[str | None]:
    """The registry URL the demo pushes to: ``registry`` as given (``none``: no
    registry), or a local one for the demo's duration. InputError for a URL that
    names no registry."""
    if registry is None:
        with local_registry(root / "registry", out) as url:
            yield url
        return
    if registry == NO_REGISTRY:
        out.print("registry: none; the images stay in the local store", markup=False)
        yield None
        return
    check_registry(registry)
    out.print(f"registry: {registry} (anonymous push and pull)", markup=False)
    yield registry


@contextlib.contextmanager
def prepared(
    root: Path, example: Path, *, base_image: str | None, registry: str | None, out: Console
) -> Iterator[PodmanDemo]:
    """Check the tools and the base image, start the registry: what the demo's
    repository needs for target podman, for the ``with`` block's duration.

    Raises DependencyError (exit 4) naming the packages when podman, buildah,
    skopeo, runc or catatonit are missing, and as ``ensure_base_image``."""
    check_registry(registry)
    tools = containers()
    image = base_image or DEFAULT_BASE
    ensure_base_image(tools, image, given=base_image is not None)
    out.print(f"base image: {image}", markup=False)
    with registry_for(root, registry, out) as url:
        yield PodmanDemo(podman_plog_yml(example, base_image=image, registry_url=url))
