"""Where a side (head or base) of a run is deployed: the one place that reads
``deploy.target``, so the measurement never knows which target it got.

``process`` (the default): ``Replicas`` of ``service.run`` from the exported tree.
``podman``: the tree's image is built (``build.image``: layer cache, labels), pushed
when ``deploy.registry`` is set and pulled back by its digest (``build.registry``: what
runs is what was pushed: the pulled image must be the built one), then run by
``deploy.podman.ContainerService`` on a loopback port with ``deploy.resources`` (both
sides alike). With ``deploy.registry.kind: harbor`` the project is checked before the
push and the head's image scan awaited and judged after it (``build.harbor_scan``).
``helm``: the image is built and pushed as for podman (``build_and_push``; a registry
is required: the cluster pulls it by digest), then installed as release ``head`` or
``base`` in the job's namespace (``deploy.helm.start_helm_side``: the namespace is
shared by both sides and deleted with the last one's teardown).
All targets give the measurement the same surface: ``base_url``,
``wait_healthy()``, and a resource sampler (``sampler_for``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from plog_ci import proc
from plog_ci.build.harbor_scan import ImageFacts, await_scan, check_project, harbor_client
from plog_ci.build.image import build_image, image_labels
from plog_ci.build.registry import Access, PushedImage, pull_by_digest, push, registry_host
from plog_ci.config import Config
from plog_ci.config.deploy import BuildConfig
from plog_ci.config.model import ServiceConfig
from plog_ci.deploy.cgroup import ContainerSample, oom_killed
from plog_ci.deploy.containers import Containers, containers
from plog_ci.deploy.containers import missing as containers_missing
from plog_ci.deploy.podman import ContainerService, home_label, reap_containers
from plog_ci.deploy.process import Replicas
from plog_ci.deploy.resources import ResourceSampler, Sample
from plog_ci.errors import InputError, ServiceError

BUILD_TIMEOUT_S = 1800.0


class Side(Protocol):
    """A deployed side, as the measurement uses it."""

    @property
    def base_url(self) -> str: ...

    def wait_healthy(self) -> float: ...


class Sampler(Protocol):
    def stop(self) -> list[Sample]: ...


@dataclass(frozen=True)
class Where:
    """What a side's deployment needs besides the config: the commit, the run, the
    state directory (its containers carry its label for the reaper), the workdir
    for logs, the repository's name for the image's labels, and the pull request
    (None: a push) for the helm target's namespace name."""

    commit: str
    side: str  # "head" | "base"
    run_id: int
    home: Path
    workdir: Path
    repository: str
    pr_number: int | None = None  # the helm target names the job's namespace after it


def start_side(
    config: Config,
    service: ServiceConfig,
    tree: Path,
    where: Where,
    stack: ExitStack,
    *,
    replicas: int = 1,
    inherit_env: bool = True,
    stage: Callable[[str], None] = lambda text: None,
    on_image: Callable[[ImageFacts], None] = lambda image: None,
) -> Side:
    """Deploy ``tree`` (the exported commit) as ``where.side``; its teardown is on
    ``stack``. A pushed image is given to ``on_image`` (with the head's judged Harbor
    scan: a failed scan gate does not raise, the run's verdict takes it). Raises
    ServiceError, BuildError, RegistryError or DependencyError with what went wrong
    (the failing build step, a refused password's variable, a missing Harbor
    project: then before anything is pushed)."""
    log = where.workdir / f"{where.side}.log"
    if config.deploy.target not in ("podman", "helm"):
        return stack.enter_context(Replicas(service, tree, log, replicas, inherit_env=inherit_env))
    deploy = config.deploy
    tools = containers()
    built = build_and_push(config, tree, where, tools=tools, stage=stage, on_image=on_image)
    if deploy.target == "helm":
        from plog_ci.deploy.helm import start_helm_side

        assert deploy.helm is not None and built.pushed is not None  # the config requires both
        assert deploy.registry is not None
        return start_helm_side(
            deploy.helm,
            service,
            tree,
            where,
            stack,
            image_repository=deploy.registry.image,
            image_digest=built.pushed.digest,
            container_port=deploy.container_port,
            stage=stage,
        )
    image = built.image_id
    if built.pushed is not None and built.access is not None:
        # Run what the registry holds: pulled by its digest, and checked to be the build.
        image = pull_by_digest(
            tools,
            built.pushed.reference,
            access=built.access,
            log_path=where.workdir / f"{where.side}-push.log",
        )
    stage(f"Starting the {where.side} container")
    env = {"PORT": str(deploy.container_port), "HOST": "0.0.0.0"}  # noqa: S104 - in its netns
    env.update({k: v.replace("{port}", str(deploy.container_port)) for k, v in service.env})
    if not inherit_env:  # a fork's pull request: no secrets, as for processes
        env = {k: v for k, v in env.items() if k in ("PORT", "HOST")}
    label_key, _, label_value = home_label(where.home).partition("=")
    resources = deploy.resources
    return stack.enter_context(
        ContainerService(
            tools,
            image,
            container_port=deploy.container_port,
            env=env,
            cpus=resources.cpus if resources else None,
            memory_bytes=resources.memory_bytes if resources else None,
            health=service.health,
            startup_timeout_s=service.startup_timeout_s,
            labels={label_key: label_value, "plog.run": str(where.run_id), "plog.side": where.side},
            name=f"plog-{where.run_id}-{where.side}-{os.getpid()}",
            log_path=log,
            expect_image_id=built.image_id,
        )
    )


@dataclass(frozen=True)
class BuiltImage:
    """The side's image: ``image_id`` (local, ``sha256:...``), and when
    ``deploy.registry`` is set, where it was pushed (``pushed``) with the ``access``
    used."""

    image_id: str
    pushed: PushedImage | None = None
    access: Access | None = None


def build_and_push(
    config: Config,
    tree: Path,
    where: Where,
    *,
    tools: Containers,
    stage: Callable[[str], None],
    on_image: Callable[[ImageFacts], None],
) -> BuiltImage:
    """Build the tree's image (``deploy.build``) and push it to ``deploy.registry``
    when set (Harbor: the project checked first, the head's scan awaited after);
    the pushed image goes to ``on_image``. Raises BuildError, RegistryError,
    InputError (a password variable not set), DependencyError."""
    deploy = config.deploy
    build = deploy.build or BuildConfig()
    stage(f"Building the {where.side} image ({where.commit[:12]})")
    built = build_image(
        tools,
        tree,
        containerfile=build.containerfile,
        context=build.context,
        args=dict(build.args),
        target=build.target,
        tag=f"localhost/plog/{_image_name(where.repository)}:{where.commit[:12]}",
        labels=image_labels(repository=where.repository, commit=where.commit),
        log_path=where.workdir / f"{where.side}-build.log",
        timeout_s=BUILD_TIMEOUT_S,
    )
    registry = deploy.registry
    if registry is None:
        return BuiltImage(built.id)
    access = registry_access(registry, tree)
    with ExitStack() as harbor_stack:
        harbor = None
        if registry.kind == "harbor":
            harbor = harbor_stack.enter_context(harbor_client(registry, access))
            stage(f"Checking the project in Harbor at {access.host}")
            check_project(harbor, registry)
        stage(f"Pushing the {where.side} image to {access.host}")
        pushed = push(
            tools,
            built.id,
            access=access,
            repository=registry.repository,
            tag=where.commit,
            log_path=where.workdir / f"{where.side}-push.log",
        )
        facts = ImageFacts(pushed.reference, pushed.digest, registry.kind)
        # Only the head is judged: the gate is about the commit under test.
        if harbor is not None and registry.scan is not None and where.side == "head":
            stage(f"Waiting for Harbor's scan of the head image ({registry.scan.wait_s:g} s)")
            facts = replace(facts, scan=await_scan(harbor, registry, pushed.digest))
        else:
            facts = replace(facts, note=_no_scan(registry, where.side))
    on_image(facts)
    return BuiltImage(built.id, pushed, access)


def _no_scan(registry: Any, side: str) -> str:
    """Why an image gets no scan verdict (shown in the report)."""
    if registry.kind == "harbor" and registry.scan is not None and side != "head":
        return "only the head's image is scanned"
    if registry.kind != "harbor":
        return f"the registry is of kind {registry.kind}: it has no vulnerability scan to wait for"
    return "deploy.registry.scan is not set: the scan was not waited for"


def registry_access(registry: Any, tree: Path) -> Access:
    """``deploy.registry`` as ``build.registry.Access``: the password from the variable
    it names (registered for redaction), the CA file inside the exported tree."""
    password = os.environ.get(registry.password_env) if registry.password_env else None
    if registry.password_env and not password:
        raise InputError(
            f"deploy.registry.password_env: ${registry.password_env} is not set",
            hint=f"export {registry.password_env} with the registry's password or token",
        )
    proc.register_secret(password)
    ca_file = None
    if registry.ca_file:
        ca_file = (tree / registry.ca_file).resolve()
        if not ca_file.is_relative_to(tree.resolve()) or not ca_file.is_file():
            raise InputError(f"deploy.registry.ca_file: {registry.ca_file!r} is not a file here")
    return Access(
        host=registry_host(registry.url),
        username=registry.username,
        password=password,
        password_env=registry.password_env,
        # http://host: a registry without TLS (podman's --tls-verify=false speaks HTTP)
        tls_verify=registry.tls_verify and registry.secure,
        ca_file=ca_file,
    )


def sampler_for(side: Side, stack: ExitStack) -> Sampler:
    """The side's resource sampler, started: its container's cgroup, or its processes;
    none for a Helm release (its pods' resources come from the cluster's Prometheus)."""
    from plog_ci.deploy.helm import HelmSide

    if isinstance(side, ContainerService | HelmSide):
        made: AbstractContextManager[Any] = side.sampler()
    else:
        assert isinstance(side, Replicas)
        made = ResourceSampler(side.pids)
    sampler: Sampler = stack.enter_context(made)
    return sampler


def check_after_load(side: Side, samples: Sequence[Sample]) -> None:
    """A container OOM-killed, exited or restarted during the load fails the run with
    that reason (ServiceError); a process side is checked by the load itself."""
    if not isinstance(side, ContainerService):
        return
    if oom_killed([s for s in samples if isinstance(s, ContainerSample)]):
        raise ServiceError(
            f"the container {side.name} was OOM-killed during the load "
            f"(deploy.resources.memory)\n--- podman logs ---\n{side.logs()}",
            hint="raise deploy.resources.memory, or find what grows (the report's memory)",
        )
    side.check_running()


def reap_leftover_containers(home: Path) -> list[str]:
    """Remove the containers a killed PLog of ``home`` left (their owner is dead);
    nothing when the container tools are not installed. Returns the ids removed."""
    if containers_missing() is not None:
        return []
    return reap_containers(containers(), home_label(home))


def reap_expired_namespaces(now: float | None = None) -> list[str]:
    """Delete the expired namespaces of PLog's Helm jobs (``namespaces.reap_namespaces``)
    on the cluster the installation names; nothing when it names none. Returns the
    names removed. Raises DependencyError when the cluster refuses or does not answer."""
    import time

    from plog_ci.deploy import kube, namespaces

    if not kube.access_configured():
        return []
    with kube.connect() as api:
        return namespaces.reap_namespaces(api, time.time() if now is None else now)


def _image_name(repository: str) -> str:
    """A repository's name as an image name component (lowercase, [a-z0-9._-])."""
    name = re.sub(r"[^a-z0-9._-]+", "-", Path(repository).name.lower()).strip("._-")
    return name or "service"


def reap_pull_request_namespaces(repository: str, pr_number: int) -> list[str]:
    """Delete the job namespaces of a closed pull request (``namespaces.reap_pull_request``;
    ``repository`` as the job named it: a forge's owner/name) on the installation's
    cluster; nothing when it names none. Raises DependencyError as the reaper does."""
    from plog_ci.deploy import kube, namespaces

    if not kube.access_configured():
        return []
    with kube.connect() as api:
        return namespaces.reap_pull_request(api, repository, pr_number)
