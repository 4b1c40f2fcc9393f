"""plog.yml's ``deploy.helm``: the chart, its values and how the release is reached.

``HelmConfig`` is frozen (``Config.deploy.helm``); ``parse_helm`` reads the section
after the JSON schema has passed and places every problem at its key. The values
pass through to Helm as written (``values_files`` like ``helm -f``, then ``values``
inline, then ``set`` like ``helm --set``: later ones win, as Argo CD's inline values
win over its value files); PLog then sets the built image (by digest) at
``image_values``.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

from plog_ci.config.durations import parse_duration
from plog_ci.config.paths import HINT as PATH_HINT
from plog_ci.config.paths import path_problem
from plog_ci.config.problems import Problems
from plog_ci.yamldoc import scalar_text

DEFAULT_URL = "http://{service}.{namespace}.svc.cluster.local:{port}"
URL_FIELDS = ("service", "namespace", "port", "node_port", "release")
DEFAULT_IMAGE_VALUES = ("image.repository", "image.digest")
MAX_TIMEOUT_S = 3600.0
MIN_TTL_S = 300.0
MAX_TTL_S = 7 * 86400.0
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# A values path as --set writes it: name(.name)*, names of letters, digits, _ and -.
_VALUE_PATH = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True)
class HelmConfig:
    """``deploy.helm``. ``chart``: a chart directory in the repository (None: PLog's
    generic service chart, ``charts/service``); ``values``: inline values (a JSON
    string of a mapping, so the dataclass stays hashable; read it with
    ``values_dict``), applied after ``values_files`` (repository paths merged in order);
    ``set``: (path, value) pairs applied last, as ``helm --set path=value``;
    ``timeout_s``: the rollout wait (seconds); ``ttl_s``: how long the job's
    namespace may outlive a job that never tore it down (the reaper's expiry);
    ``port``: the Service port to reach; ``service``: the Service's name, which may
    hold ``{release}`` (None: the release's only Service, or the one on ``port``);
    ``url``: how PLog and k6 reach a release, a template of
    ``{service} {namespace} {port} {node_port} {release}``; ``image_values``: the
    values paths that get the built image's repository and ``sha256:`` digest."""

    chart: str | None = None
    values: str = "{}"
    values_files: tuple[str, ...] = ()
    set: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 300.0
    ttl_s: float = 6 * 3600.0
    port: int = 8080
    service: str | None = None
    url: str = DEFAULT_URL
    image_values: tuple[str, str] = field(default=DEFAULT_IMAGE_VALUES)

    def values_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.values)
        return data


def url_problem(template: str) -> str | None:
    """Why ``template`` is not a usable ``deploy.helm.url``, or None (a URL with
    credentials is not quoted: they would be a secret in the output)."""
    if not template.startswith(("http://", "https://")):
        return f"{template!r} does not start with http:// or https://"
    if "@" in template.split("://", 1)[1].split("/", 1)[0]:
        return "the URL carries credentials; the service is reached without them"
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"{template!r} is not a template ({exc})"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in URL_FIELDS:
            return (
                f"{{{name}}} is not a placeholder PLog fills "
                f"(it knows {', '.join('{' + f + '}' for f in URL_FIELDS)})"
            )
        if spec or conversion:
            return f"{{{name}}} takes no format spec or conversion"
    return None


def parse_helm(raw: dict[str, Any], problems: Problems) -> HelmConfig:
    """``HelmConfig`` from ``deploy.helm`` as the schema passed it."""
    where: list[str | int] = ["deploy", "helm"]
    chart = raw.get("chart")
    if chart is not None:
        problem = path_problem(chart, no_git=True)
        if problem:
            problems.add([*where, "chart"], problem, PATH_HINT)
    files = tuple(raw.get("values_files", ()))
    for index, path in enumerate(files):
        problem = path_problem(path, no_git=True)
        if problem:
            problems.add([*where, "values_files", index], problem, PATH_HINT)
    pairs: list[tuple[str, str]] = []
    for key, value in raw.get("set", {}).items():
        if not _VALUE_PATH.fullmatch(key):
            problems.add(
                [*where, "set", key],
                f"{key!r} is not a values path",
                "names joined by dots, e.g. resources.limits.cpu (as helm --set writes them)",
                at_key=True,
            )
        text = scalar_text(value)
        if re.search(r"(?<!\\),", text):
            problems.add(
                [*where, "set", key],
                "the value holds a comma, which helm --set reads as the start of another key",
                "escape it as \\, or give the value in deploy.helm.values instead",
            )
        pairs.append((key, text))
    timeout = _duration(raw, "timeout", 300.0, where, problems)
    if not 1 <= timeout <= MAX_TIMEOUT_S:
        problems.add([*where, "timeout"], "must lie between 1s and 1h", "e.g. timeout: 5m")
    ttl = _duration(raw, "ttl", 6 * 3600.0, where, problems)
    if not MIN_TTL_S <= ttl <= MAX_TTL_S:
        problems.add(
            [*where, "ttl"],
            "must lie between 5m and 7 days",
            "longer than the longest job, e.g. ttl: 6h",
        )
    service = raw.get("service")
    if service is not None and not _DNS_LABEL.fullmatch(service.replace("{release}", "head")):
        problems.add(
            [*where, "service"],
            f"{service!r} is not a Service name (a DNS label: a-z, 0-9, '-'; "
            "{release} stands for the release, head or base)",
            "the name of the chart's Service, e.g. petstore or {release}-web",
        )
    url = raw.get("url", DEFAULT_URL)
    url_issue = url_problem(url)
    if url_issue:
        problems.add([*where, "url"], url_issue, f"e.g. {DEFAULT_URL}")
    image = raw.get("image_values", {})
    image_values = (
        image.get("repository", DEFAULT_IMAGE_VALUES[0]),
        image.get("digest", DEFAULT_IMAGE_VALUES[1]),
    )
    for key, path in zip(("repository", "digest"), image_values, strict=True):
        if not _VALUE_PATH.fullmatch(path):
            problems.add(
                [*where, "image_values", key],
                f"{path!r} is not a values path",
                "names joined by dots, e.g. image.repository",
            )
    return HelmConfig(
        chart=chart,
        values=json.dumps(raw.get("values", {}), sort_keys=True),
        values_files=files,
        set=tuple(pairs),
        timeout_s=timeout,
        ttl_s=ttl,
        port=int(raw.get("port", 8080)),
        service=service,
        url=url,
        image_values=image_values,
    )


def _duration(
    raw: dict[str, Any], key: str, default: float, where: list[str | int], problems: Problems
) -> float:
    if key not in raw:
        return default
    try:
        return parse_duration(str(raw[key]))
    except ValueError as exc:
        problems.add([*where, key], str(exc))
        return default
