"""What a Helm release of the helm target is given: its chart, its values, its URL.

Values merge as Helm merges ``-f`` files and ``--set``: for PLog's own chart first
what PLog knows (probe path, ports), then ``values_files`` in order, the inline
``values``, each ``set`` expression, and last the built image (``image_values``:
repository and digest: what runs is what was built). Maps merge key by key;
anything else replaces. A ``set`` expression is one key: a comma in its value that
would make Helm set a second key is refused (write ``\\,`` for a literal comma), so
no value can reach another key.

The URL template (``deploy.helm.url``) knows ``{service}``, ``{namespace}``,
``{port}``, ``{node_port}`` and ``{release}`` only; a field with an attribute,
an index, a conversion or a format spec is a ConfigError, never evaluated.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plog_ci.config.helm import HelmConfig
from plog_ci.config.paths import resolve_inside
from plog_ci.errors import ConfigError

URL_KEYS = ("service", "namespace", "port", "node_port", "release")
# Where PLog's chart (charts/service) takes the readiness probe's path, the port its
# container listens on (and gets as PORT), and its Service's port.
HEALTH_VALUE = "probes.path"
CONTAINER_PORT_VALUE = "containerPort"
SERVICE_PORT_VALUE = "service.port"
MAX_VALUES_BYTES = 1 << 20


def chart_path(helm: HelmConfig, tree: Path) -> Path:
    """The chart directory: ``deploy.helm.chart`` inside the exported ``tree``, or
    PLog's generic service chart. Raises ConfigError for a path outside the tree."""
    if helm.chart is None:
        from plog_ci.deploy.charts import service_chart_path

        return service_chart_path()
    path = resolve_inside(tree, helm.chart, "deploy.helm.chart", no_git=True)
    if not (path / "Chart.yaml").is_file():
        raise ConfigError(
            f"plog.yml: deploy.helm.chart: {helm.chart!r} has no Chart.yaml at this commit",
            hint="the directory of the chart in the repository, e.g. deploy/chart",
        )
    return path


def check_values(chart: Path, values: dict[str, Any]) -> None:
    """Load ``chart`` and check ``values`` against its values.schema.json (when it has
    one), before anything is created. Raises ConfigError (at deploy.helm) with Helm's
    words: the chart does not load, or which value the schema refuses."""
    import helm_python

    try:
        with helm_python.Chart.load(chart) as loaded:
            loaded.validate_schema(values)
    except helm_python.HelmError as exc:
        raise ConfigError(
            f"plog.yml: deploy.helm: the chart {chart.name} refuses these values: "
            f"{str(exc).strip()[:1500]}",
            hint="check deploy.helm.values, values_files and set against the chart's values "
            "(and its values.schema.json)",
        ) from None


def merge(into: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` merged into ``into`` (in place, returned): maps key by key, else replaced."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            merge(into[key], value)
        elif isinstance(value, Mapping):
            into[key] = merge({}, value)
        else:
            into[key] = value
    return into


def set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    """``values[a][b] = value`` for ``dotted`` ``a.b``, making the maps on the way."""
    *parents, leaf = dotted.split(".")
    node = values
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value


def _leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values())
    return 1


def parse_set(key: str, value: str, index: int) -> dict[str, Any]:
    """One ``set`` pair as Helm's ``--set key=value`` parses it (lists ``{a,b}``,
    numbers, booleans). Raises ConfigError (at deploy.helm.set) for a malformed one,
    or one whose value would set a second key."""
    import helm_python

    where = f"plog.yml: deploy.helm.set[{index}] ({key})"
    if not key or "=" in key or "," in key:
        raise ConfigError(f"{where}: not a values key", hint="a dotted key, e.g. image.tag")
    try:
        parsed = helm_python.parse_set_string(f"{key}={value}")
    except helm_python.HelmError as exc:
        raise ConfigError(f"{where}: Helm cannot parse it: {exc}") from None
    if len(parsed) != 1 or _leaves(parsed) != 1:
        raise ConfigError(
            f"{where}: the value would set more than this key (an unescaped comma)",
            hint=r"write \, for a comma inside a value",
        )
    return parsed


def load_values_file(tree: Path, name: str, index: int) -> dict[str, Any]:
    """A values file of the exported tree, read as safe YAML (size, depth and alias
    limits). Raises ConfigError for a path outside the tree or a file that is not a map."""
    from plog_ci import yamldoc

    key = f"deploy.helm.values_files[{index}]"
    path = resolve_inside(tree, name, key, no_git=True)
    if not path.is_file():
        raise ConfigError(f"plog.yml: {key}: {name!r} is not a file at this commit")
    data = path.read_bytes()
    doc = yamldoc.to_plain(yamldoc.load(data, name, yamldoc.Limits(max_bytes=MAX_VALUES_BYTES)))
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"plog.yml: {key}: {name} is not a map of values")
    return doc


def release_values(
    helm: HelmConfig,
    tree: Path,
    *,
    image_repository: str,
    image_digest: str,
    health: str,
    container_port: int,
) -> dict[str, Any]:
    """The release's values, merged in Helm's order (see the module's docstring).
    For PLog's chart (no ``chart``) also ``health`` (the readiness probe's path),
    ``container_port`` (deploy.container_port) and the Service port (``helm.port``),
    set before ``set`` so that a ``set`` expression still wins."""
    values: dict[str, Any] = {}
    if helm.chart is None:
        set_path(values, HEALTH_VALUE, health)
        set_path(values, CONTAINER_PORT_VALUE, container_port)
        set_path(values, SERVICE_PORT_VALUE, helm.port)
    for index, name in enumerate(helm.values_files):
        merge(values, load_values_file(tree, name, index))
    merge(values, helm.values_dict())
    for index, (key, value) in enumerate(helm.set):
        merge(values, parse_set(key, value, index))
    repository_key, digest_key = helm.image_values
    set_path(values, repository_key, image_repository)
    set_path(values, digest_key, image_digest)
    return values


def template_fields(template: str, key: str) -> set[str]:
    """The fields of ``template`` (``str.format`` syntax); ConfigError at ``key`` for
    one that is not a plain known name, or for a malformed template."""
    fields = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"plog.yml: {key}: {exc}", hint="write {{ and }} for braces") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in URL_KEYS or spec or conversion:
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ConfigError(
                f"plog.yml: {key}: unknown placeholder {{{shown}}}",
                hint="use "
                + ", ".join("{" + k + "}" for k in URL_KEYS)
                + " (write {{ for a brace)",
            )
        fields.add(field)
    return fields


def fill(template: str, key: str, known: Mapping[str, object]) -> str:
    """``template`` with its fields from ``known``; ConfigError at ``key`` for a field
    ``template_fields`` refuses or one ``known`` lacks here."""
    fields = template_fields(template, key)
    missing = sorted(fields - set(known))
    if missing:
        raise ConfigError(
            f"plog.yml: {key}: {{{missing[0]}}} is not known here",
            hint="use " + ", ".join("{" + k + "}" for k in sorted(known)),
        )
    return template.format_map({k: known[k] for k in fields})
