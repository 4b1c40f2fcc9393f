"""plog.yml's ``deploy:`` section: how the service under test is built, pushed and run.

``DeployConfig`` and its parts are frozen dataclasses (``Config.deploy``);
``parse_deploy`` reads the section after the JSON schema has passed and places
every problem at its key; ``take_secrets`` runs before the schema so that a
``password`` written into the file is refused with advice, never echoed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from plog_ci.config.durations import parse_duration
from plog_ci.config.helm import HelmConfig, parse_helm
from plog_ci.config.paths import HINT as PATH_HINT
from plog_ci.config.paths import path_problem
from plog_ci.config.problems import Problems
from plog_ci.config.registry_address import repository_problem, url_problem
from plog_ci.config.sizes import HINT as SIZE_HINT
from plog_ci.config.sizes import parse_size
from plog_ci.errors import ConfigError
from plog_ci.yamldoc import scalar_text

TARGETS = ("process", "podman", "helm")
# Targets that build an image and so take build and registry.
IMAGE_TARGETS = ("podman", "helm")
REGISTRY_KINDS = ("oci", "harbor")
FAIL_ON = ("critical", "high", "medium", "low", "none")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,127}")
# runc refuses less: a CPU quota under 1% of a period, a memory limit under 6 MiB.
MIN_CPUS = 0.01
MIN_MEMORY = 6 * 1024**2
MAX_SCAN_WAIT_S = 3600.0
_SECRET_KEYS = ("password", "token")


@dataclass(frozen=True)
class ScanConfig:
    """``deploy.registry.scan`` (Harbor only): wait up to ``wait_s`` seconds for the
    pushed artifact's vulnerability scan, and fail on a finding of ``fail_on``
    severity or worse (``none``: report, never fail)."""

    wait_s: float = 120.0
    fail_on: str = "critical"  # critical | high | medium | low | none


@dataclass(frozen=True)
class BuildConfig:
    """``deploy.build``: ``context`` is relative to the repository root,
    ``containerfile`` to ``context`` (both checked by ``path_problem``; resolve them
    with ``paths.resolve_inside`` where they are used). ``args`` are (name, value)
    pairs passed as separate argv items, never through a shell."""

    containerfile: str = "Containerfile"
    context: str = "."
    args: tuple[tuple[str, str], ...] = ()
    target: str | None = None  # the stage of a multi-stage build

    def __post_init__(self) -> None:
        # However the config was built, the build never reads outside the repository.
        for key, value in (("context", self.context), ("containerfile", self.containerfile)):
            problem = path_problem(value, no_git=True)
            if problem:
                raise ConfigError(f"plog.yml: deploy.build.{key}: {problem}", hint=PATH_HINT)
        for name, _ in self.args:
            if not ENV_NAME.fullmatch(name):
                raise ConfigError(f"plog.yml: deploy.build.args: {name!r} is not an argument name")


@dataclass(frozen=True)
class RegistryConfig:
    """``deploy.registry``: where the image is pushed. ``url`` is ``host[:port]``,
    ``https://host[:port]`` or ``http://host[:port]`` (no TLS); the password only
    by the name of the environment variable ``password_env``."""

    url: str
    repository: str
    username: str | None = None
    password_env: str | None = None
    kind: str = "oci"  # oci | harbor
    tls_verify: bool = True
    ca_file: str | None = None  # relative to the repository root
    scan: ScanConfig | None = None  # kind harbor only

    @property
    def host(self) -> str:
        """``url`` without its scheme: ``host[:port]``, as podman and skopeo name it."""
        return self.url.split("://", 1)[-1]

    @property
    def secure(self) -> bool:
        """True for ``https://`` or no scheme (TLS); False for ``http://``."""
        scheme, sep, _ = self.url.partition("://")
        return not sep or scheme.lower() == "https"

    @property
    def image(self) -> str:
        """``host[:port]/repository``, the name a tag or digest is appended to."""
        return f"{self.host}/{self.repository}"


@dataclass(frozen=True)
class ResourcesConfig:
    """``deploy.resources``: limits each container gets (base and head alike);
    ``cpus`` in CPUs (1.5: one and a half), ``memory_bytes`` in bytes."""

    cpus: float | None = None
    memory_bytes: int | None = None


@dataclass(frozen=True)
class DeployConfig:
    """``deploy``: ``target`` process (``service.run`` from the exported tree),
    podman (an image built with ``build``, pushed to ``registry`` when set, run
    with ``container_port`` published on 127.0.0.1 and ``PORT`` set to it) or
    helm (the image built and pushed to ``registry``, installed by ``helm``'s chart
    into a namespace per job; ``container_port`` goes to PLog's generic chart)."""

    target: str = "process"  # process | podman | helm
    container_port: int = 8080
    build: BuildConfig | None = None  # BuildConfig() for podman and helm when not written
    registry: RegistryConfig | None = None  # None: the image stays local (podman only)
    resources: ResourcesConfig | None = None
    helm: HelmConfig | None = None  # target helm only (HelmConfig() when not written)


def take_secrets(plain: Any, problems: Problems) -> int:
    """Refuse (and remove, so the schema does not refuse them again) keys that would
    hold a registry secret in plog.yml; their values are never quoted. Returns how
    many problems it added (the rest of the file is still checked after them)."""
    deploy = plain.get("deploy") if isinstance(plain, dict) else None
    registry = deploy.get("registry") if isinstance(deploy, dict) else None
    if not isinstance(registry, dict):
        return 0
    found = [key for key in _SECRET_KEYS if key in registry]
    for key in found:
        del registry[key]
        problems.add(
            ["deploy", "registry", key],
            f"unknown key '{key}': plog.yml never holds the registry's secret",
            "write 'password_env: NAME' and set the environment variable NAME in CI",
            at_key=True,
        )
    return len(found)


def _target(raw: dict[str, Any], problems: Problems) -> str:
    target = str(raw.get("target", "process"))
    own: dict[str, tuple[str, str]] = {
        "container_port": ("podman or helm", "add 'target: podman' under deploy"),
        "build": ("podman or helm", "add 'target: podman' under deploy"),
        "registry": ("podman or helm", "add 'target: podman' under deploy"),
        "resources": (
            "podman",
            "with helm, give the chart its resources in deploy.helm.values "
            "(e.g. resources: {limits: {cpu: '1'}})",
        ),
        "helm": ("helm", "add 'target: helm' under deploy"),
    }
    for key, (targets, hint) in own.items():
        if key in raw and target not in targets.split(" or "):
            problems.add(
                ["deploy", key],
                f"'{key}' applies to target {targets} only (the target is {target})",
                f"{hint}, or remove the key",
                at_key=True,
            )
    if target == "helm" and "registry" not in raw:
        problems.add(
            ["deploy", "target"],
            "target helm needs deploy.registry: the cluster pulls the image from it",
            "add deploy.registry with the url and repository your cluster can pull from",
        )
    return target


def _container_port(raw: dict[str, Any], problems: Problems) -> int:
    port = int(raw.get("container_port", 8080))
    if not 1 <= port <= 65535:
        problems.add(
            ["deploy", "container_port"],
            f"{port} is not a port (1 to 65535)",
            "the port the service listens on inside the container, e.g. 8080",
        )
    return port


def _build(raw: dict[str, Any], problems: Problems) -> BuildConfig:
    where = ["deploy", "build"]
    for key in ("context", "containerfile"):
        if key in raw:
            problem = path_problem(raw[key], no_git=True)
            if problem:
                problems.add([*where, key], problem, PATH_HINT)
    args: list[tuple[str, str]] = []
    for name, value in raw.get("args", {}).items():
        if not ENV_NAME.fullmatch(name):
            problems.add(
                [*where, "args", name],
                f"{name!r} is not a build argument name",
                "letters, digits and _, not starting with a digit, e.g. PYTHON_VERSION",
                at_key=True,
            )
        text = scalar_text(value)
        if "\x00" in text:
            problems.add([*where, "args", name], "contains a NUL byte", "remove it")
        args.append((name, text))
    target = raw.get("target")
    if target is not None and not STAGE_NAME.fullmatch(target):
        problems.add(
            [*where, "target"],
            f"{target!r} is not a stage name",
            "the name after AS in the Containerfile's FROM line, e.g. runtime",
        )
    try:
        return BuildConfig(
            containerfile=raw.get("containerfile", "Containerfile"),
            context=raw.get("context", "."),
            args=tuple(args),
            target=target,
        )
    except ConfigError:
        return BuildConfig()  # already placed at its line above


def _scan(raw: dict[str, Any], kind: str, problems: Problems) -> ScanConfig:
    where = ["deploy", "registry", "scan"]
    if kind != "harbor":
        problems.add(
            where,
            f"a scan needs kind: harbor (the registry's kind is {kind})",
            "add 'kind: harbor' to deploy.registry, or remove scan: an OCI registry has no "
            "scan to wait for",
            at_key=True,
        )
    wait = 120.0
    if "wait" in raw:
        try:
            wait = parse_duration(raw["wait"])
        except ValueError as exc:
            problems.add([*where, "wait"], str(exc))
        if wait > MAX_SCAN_WAIT_S:
            problems.add([*where, "wait"], f"{raw['wait']!r} is over 1h", "e.g. wait: 2m")
    return ScanConfig(wait_s=wait, fail_on=raw.get("fail_on", "critical"))


def _registry(raw: dict[str, Any], problems: Problems) -> RegistryConfig:
    where = ["deploy", "registry"]
    url_issue = url_problem(raw["url"])
    if url_issue:
        problems.add([*where, "url"], *url_issue)
    repo_issue = repository_problem(raw["repository"])
    if repo_issue:
        problems.add([*where, "repository"], *repo_issue)
    username = raw.get("username")
    if username is not None and (
        ":" in username or any(c.isspace() or not c.isprintable() for c in username)
    ):
        problems.add(
            [*where, "username"],
            "contains ':', a space or a control character",
            "the registry's user name, e.g. robot$ci (the password goes in password_env)",
        )
    password_env = raw.get("password_env")
    if password_env is not None and not ENV_NAME.fullmatch(password_env):
        # Not quoted: a value that is no variable name may be the password itself.
        problems.add(
            [*where, "password_env"],
            "is not an environment variable name",
            "write the NAME of the variable that holds the password (letters, digits, _), "
            "e.g. REGISTRY_PASSWORD, never the password itself",
        )
    kind = raw.get("kind", "oci")
    tls_verify = bool(raw.get("tls_verify", True))
    ca_file = raw.get("ca_file")
    if ca_file is not None:
        problem = path_problem(ca_file, no_git=True)
        if problem:
            problems.add([*where, "ca_file"], problem, PATH_HINT)
        elif not tls_verify or raw["url"].lower().startswith("http://"):
            problems.add(
                [*where, "ca_file"],
                "a CA file needs TLS that is verified (tls_verify: true and no http://)",
                "remove ca_file, or verify TLS",
                at_key=True,
            )
    scan = _scan(raw["scan"], kind, problems) if "scan" in raw else None
    return RegistryConfig(
        url=raw["url"],
        repository=raw["repository"],
        username=username,
        password_env=password_env,
        kind=kind,
        tls_verify=tls_verify,
        ca_file=ca_file,
        scan=scan,
    )


def _resources(raw: dict[str, Any], problems: Problems) -> ResourcesConfig:
    where = ["deploy", "resources"]
    cpus = float(raw["cpus"]) if "cpus" in raw else None
    if cpus is not None and not cpus >= MIN_CPUS:
        problems.add(
            [*where, "cpus"],
            f"{cpus:g} CPUs is not more than 0" if cpus <= 0 else f"{cpus:g} CPUs is under 0.01",
            "a number of CPUs, at least 0.01, e.g. 1 or 0.5",
        )
    memory = None
    if "memory" in raw:
        try:
            memory = parse_size(raw["memory"])
        except ValueError as exc:
            problems.add([*where, "memory"], str(exc), SIZE_HINT)
        else:
            if memory < MIN_MEMORY:
                problems.add(
                    [*where, "memory"],
                    f"{raw['memory']!r} is under 6Mi, the least a container runs with",
                    "e.g. memory: 512Mi",
                )
    return ResourcesConfig(cpus=cpus, memory_bytes=memory)


def parse_deploy(raw: dict[str, Any] | None, problems: Problems) -> DeployConfig:
    """``DeployConfig`` from the section as the schema passed it (None: no section);
    every problem goes to ``problems`` at its key."""
    if raw is None:
        return DeployConfig()
    target = _target(raw, problems)
    build = raw.get("build")
    registry = raw.get("registry")
    resources = raw.get("resources")
    helm = raw.get("helm")
    return DeployConfig(
        target=target,
        container_port=_container_port(raw, problems),
        build=_build(build or {}, problems) if target in IMAGE_TARGETS or build else None,
        registry=_registry(registry, problems) if registry is not None else None,
        resources=_resources(resources, problems) if resources is not None else None,
        helm=parse_helm(helm or {}, problems) if target == "helm" or helm else None,
    )
