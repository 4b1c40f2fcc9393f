"""Deploy target "helm": a side (head or base) as a Helm release in the job's namespace.

``start_helm_side`` gives the measurement the surface every target gives
(``base_url``, ``wait_healthy()``, a sampler) for an image already built and pushed:
it enters the job's namespace (created by the first side of the job, shared by the
other, deleted when the last leaves), installs release ``head`` or ``base`` with
Helm's ``--wait`` (watcher) and the timeout, and registers the teardown on the
caller's ExitStack: uninstall, then leave the namespace, on every way out
(errors, Ctrl-C). A rollout that fails or times out raises ServiceError with the
pods' reasons, their Warning events and their last log lines (``rollout``).

Releases go through the Helm v4 SDK (``helm_python``, no binary); ``HELM_CLIENT``
makes the client for a namespace; the job's namespace is ``job_namespace``'s.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from plog_ci.config.helm import HelmConfig
from plog_ci.config.model import ServiceConfig
from plog_ci.deploy import kube
from plog_ci.deploy.health import wait_for_health
from plog_ci.deploy.helm_values import (
    chart_path,
    check_values,
    fill,
    release_values,
    template_fields,
)
from plog_ci.deploy.job_namespace import Connect, JobWhere, enter_job, leave_job
from plog_ci.deploy.resources import Sample
from plog_ci.deploy.rollout import rollout_report
from plog_ci.errors import ConfigError, DependencyError, PlogError, ServiceError
from plog_ci.redaction import redact

UNINSTALL_TIMEOUT_S = 60
CANCEL_WAIT_S = 30.0
_log = logging.getLogger(__name__)


class HelmClient(Protocol):
    """What PLog uses of ``helm_python.Config`` (one per namespace)."""

    def install(
        self,
        chart: Any,
        name: str,
        values: dict[str, Any] | None = None,
        *,
        context: Any = None,
        namespace: str | None = None,
        timeout: int | None = None,
        wait: str | None = None,
    ) -> Any: ...

    def uninstall(
        self, name: str, *, timeout: int | None = None, ignore_not_found: bool = False
    ) -> Any: ...

    def close(self) -> None: ...


def helm_client(access: kube.Access, namespace: str) -> HelmClient:
    """A Helm SDK client on the cluster of ``access``, for ``namespace``."""
    import helm_python

    # A KUBECONFIG list (a:b) is left to Helm's own loading rules, which read it too.
    path = access.kubeconfig if access.kubeconfig and os.pathsep not in access.kubeconfig else None
    client: HelmClient = helm_python.Config(
        kubeconfig_path=path, kube_context=access.context, namespace=namespace
    )
    return client


HELM_CLIENT: Callable[[kube.Access, str], HelmClient] = helm_client


def _chart_errors() -> tuple[type[Exception], ...]:
    import helm_python

    return (
        helm_python.HelmChartLoadError,
        helm_python.HelmChartInvalidError,
        helm_python.HelmRenderError,
        helm_python.HelmValuesError,
    )


def _new_context() -> Any:
    import helm_python

    return helm_python.HelmContext()


def _cancellable(call: Callable[[Any], Any]) -> Any:
    """``call(context)`` in a thread, so that Ctrl-C (which Python only sees between
    bytecodes, never inside the SDK's C call) cancels the Helm action and unwinds."""
    context = _new_context()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call(context)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="plog-helm", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except BaseException:
        context.cancel()
        worker.join(CANCEL_WAIT_S)
        raise
    finally:
        if not worker.is_alive():
            context.close()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class HelmRelease:
    """Release ``name`` of ``chart`` in ``namespace``; ``install()`` waits for it to
    be ready (``timeout_s``), ``uninstall()`` removes it (idempotent, never raises)."""

    def __init__(
        self,
        client: HelmClient,
        cluster: kube.Cluster,
        namespace: str,
        name: str,
        chart: Path,
        values: dict[str, Any],
        timeout_s: float,
    ) -> None:
        self.client = client
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.chart = chart
        self.values = values
        self.timeout_s = timeout_s
        self._removed = False

    def install(self) -> None:
        """Install and wait. Raises ServiceError naming the release, with the pods'
        reasons, Warning events and last log lines, when the rollout fails or times
        out (the release is uninstalled first); DependencyError when the cluster
        cannot be reached."""
        import helm_python

        try:
            _cancellable(
                lambda context: self.client.install(
                    str(self.chart),
                    self.name,
                    self.values,
                    context=context,
                    namespace=self.namespace,
                    timeout=math.ceil(self.timeout_s),
                    wait="watcher",
                )
            )
        except helm_python.HelmError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: Exception) -> PlogError:
        """Helm's error as PLog's, the release uninstalled first: an unreachable
        cluster (DependencyError), a chart that does not render with these values, or
        a rollout that failed or timed out (ServiceError with the pods' state)."""
        import helm_python

        detail = redact(str(exc).strip())[:1500]
        where = f"release {self.name} in namespace {self.namespace}"
        if isinstance(exc, helm_python.HelmKubeError):
            self.uninstall()
            return DependencyError(
                f"Helm could not reach the cluster for {where}: {detail}",
                hint="check KUBECONFIG / PLOG_KUBE_CONTEXT and that the cluster is up",
            )
        if isinstance(exc, _chart_errors()):
            self.uninstall()
            return ServiceError(
                f"{where}: the chart {self.chart.name} does not install with these values: "
                f"{detail}",
                hint="check deploy.helm.values, values_files and set against the chart's "
                "values (and its values.schema.json)",
            )
        try:
            report = rollout_report(self.cluster, self.namespace, self.name)
        except PlogError as why:  # the cluster went away too: say so, keep Helm's error
            report = f"(the pods could not be read: {why.message})"
        self.uninstall()
        return ServiceError(
            f"{where} did not roll out within {self.timeout_s:g}s: {detail}\n{report}",
            hint="see the reasons, events and log lines above; deploy.helm.timeout bounds the wait",
        )

    def uninstall(self) -> None:
        """Remove the release; a failure is logged (deleting the namespace removes
        what is left, and its expiry covers the rest)."""
        import helm_python

        if self._removed:
            return
        self._removed = True
        try:
            self.client.uninstall(self.name, timeout=UNINSTALL_TIMEOUT_S, ignore_not_found=True)
        except (helm_python.HelmError, OSError) as exc:  # the namespace's deletion follows
            _log.warning("uninstalling release %s: %s", self.name, redact(str(exc)))


class EmptySampler:
    """No local resources to sample for a cluster's pods (Prometheus gives them)."""

    def stop(self) -> list[Sample]:
        return []


@dataclass
class HelmSide:
    """A release as the measurement sees it (see ``target.Side``)."""

    release: HelmRelease
    base_url: str
    health: str
    startup_timeout_s: float
    node_port: int | None

    def wait_healthy(self) -> float:
        """Poll the health path until it answers 2xx; the seconds it took. Raises
        ServiceError with the rollout's state when it does not within the timeout."""
        url = self.base_url + self.health
        health = wait_for_health(url, self.startup_timeout_s, lambda: False)
        if health.seconds is not None:
            return health.seconds
        rel = self.release
        raise ServiceError(
            f"release {rel.name} in namespace {rel.namespace} did not answer {url} with 2xx "
            f"within {self.startup_timeout_s:g}s ({health.last})\n"
            + rollout_report(rel.cluster, rel.namespace, rel.name),
            hint="check service.health, deploy.helm.url and that PLog reaches the cluster's "
            "Services from where it runs",
        )

    @contextmanager
    def sampler(self) -> Iterator[EmptySampler]:
        yield EmptySampler()


def start_helm_side(
    helm: HelmConfig,
    service: ServiceConfig,
    tree: Path,
    where: JobWhere,
    stack: ExitStack,
    *,
    image_repository: str,
    image_digest: str,
    container_port: int = 8080,
    stage: Callable[[str], None] = lambda text: None,
    connect: Connect = kube.connect,
    clock: Callable[[], float] = time.time,
) -> HelmSide:
    """Install ``where.side``'s release of the pushed image (``image_repository``,
    ``image_digest`` ``sha256:...``) with ``helm`` (``deploy.helm``) and ``service``
    (health path, startup timeout) in the job's namespace; its teardown is on
    ``stack``. Raises ConfigError (chart, values, url), ServiceError (rollout),
    DependencyError (no cluster access, an API refusal)."""
    chart = chart_path(helm, tree)
    values = release_values(
        helm, tree, image_repository=image_repository, image_digest=image_digest,
        health=service.health, container_port=container_port,
    )  # fmt: skip
    check_values(chart, values)  # before anything is created
    url = helm.url
    template_fields(url, "deploy.helm.url")
    job = enter_job(where, helm.ttl_s, connect, clock())
    stack.callback(leave_job, where)
    client = HELM_CLIENT(job.access, job.namespace)
    stack.callback(client.close)
    release = HelmRelease(client, job.cluster, job.namespace, where.side, chart, values,
                          helm.timeout_s)  # fmt: skip
    stack.callback(release.uninstall)  # first out: before the namespace goes
    stage(f"Installing release {where.side} in namespace {job.namespace}")
    release.install()
    base_url, node_port = _endpoint(helm, job.cluster, job.namespace, where.side, url)
    return HelmSide(release, base_url, service.health, service.startup_timeout_s, node_port)


def _endpoint(
    helm: HelmConfig, cluster: kube.Cluster, namespace: str, release: str, url: str
) -> tuple[str, int | None]:
    """The release's URL from ``deploy.helm.url`` and its Service (by name, or the
    release's Service at ``deploy.helm.port``), and the Service's nodePort."""
    found = _service(helm, cluster, namespace, release)
    port = next((p for p in found.ports if p.port == helm.port), None)
    if port is None:
        raise ServiceError(
            f"Service {found.name} of release {release} has no port {helm.port} "
            f"(its ports: {', '.join(str(p.port) for p in found.ports) or 'none'})",
            hint="set deploy.helm.port to the Service port to reach",
        )
    fields = template_fields(url, "deploy.helm.url")
    if "node_port" in fields and port.node_port is None:
        raise ServiceError(
            f"deploy.helm.url uses {{node_port}}, but Service {found.name} (type "
            f"{found.type}) has no nodePort on port {helm.port}",
            hint="make the Service type NodePort in the chart's values, or use {service}",
        )
    known = {"service": found.name, "namespace": namespace, "port": helm.port,
             "node_port": port.node_port, "release": release}  # fmt: skip
    return fill(url, "deploy.helm.url", known).rstrip("/"), port.node_port


def _service(helm: HelmConfig, cluster: kube.Cluster, namespace: str, release: str) -> kube.Service:
    if helm.service:
        template_fields(helm.service, "deploy.helm.service")
        name = fill(helm.service, "deploy.helm.service", {"release": release})
        found = cluster.service(namespace, name)
        if found is None:
            raise ServiceError(
                f"release {release} made no Service {name} in namespace {namespace}",
                hint="set deploy.helm.service to the Service's name ({release} is the release)",
            )
        return found
    made = cluster.release_services(namespace, release)
    with_port = [s for s in made if any(p.port == helm.port for p in s.ports)]
    if len(with_port) == 1 or len(made) == 1:
        return (with_port or made)[0]
    names = ", ".join(s.name for s in made) or "none"
    raise ConfigError(
        f"plog.yml: deploy.helm.service: release {release} made {len(made)} Services "
        f"({names}); which one to reach is not clear",
        hint="name it: deploy.helm.service (may use {release})",
    )
