"""Read plog.yml into a Config, or explain precisely what is wrong with it.

Every problem is reported as ``plog.yml:LINE:COL: KEY.PATH: message`` plus a
hint, all problems at once (sorted by position), so one edit fixes them all.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from plog_ci import yamldoc
from plog_ci.config.durations import parse_duration
from plog_ci.config.model import (
    AuthConfig,
    Caps,
    CompareConfig,
    Config,
    InfluxConfig,
    LoadConfig,
    OpenAPIConfig,
    OperationOverride,
    ReportConfig,
    ServiceConfig,
    Stage,
)
from plog_ci.errors import ConfigError, PlogError
from plog_ci.gate_grammar import Gate, parse_gate

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(str(resources.files("plog_ci.config") / "schema" / "plog.schema.json"))
LIMITS = yamldoc.Limits(max_bytes=256 * 1024, max_depth=16, max_nodes=10_000)

_ONEOF_HINTS = {
    "openapi": "give the spec's path, e.g. 'openapi: openapi.yaml', or a mapping with 'path'",
    "operations": "use 'changed', 'all', or a list like ['GET /pets', 'POST /pets']",
    "gates": "write a gate string like 'p95 < 300ms' or a mapping with 'check'",
}


def _quick_check(plain: Any) -> bool:
    """True when ``plain`` matches the schema (compiled validator, first error only)."""
    from fastjsonschema import JsonSchemaException

    from plog_ci.config.schema_validator import (
        validate_https___plog_ci_dev_schema_plog_schema_json as validate,
    )

    try:
        validate(plain)  # type: ignore[no-untyped-call]
    except JsonSchemaException:
        return False
    return True


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def _key_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _subschema(path: Sequence[str | int]) -> dict[str, Any]:
    """The schema object that governs the mapping at ``path`` (for key suggestions)."""
    node = schema()
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            props = node.get("properties", {})
            extra = node.get("additionalProperties")
            # Maps keyed by free names (load.overrides) describe values in additionalProperties.
            node = props[part] if part in props or not isinstance(extra, dict) else extra
        if "$ref" in node and str(node["$ref"]).startswith("#/$defs/"):
            node = schema()["$defs"].get(str(node["$ref"]).rsplit("/", 1)[-1], node)
        if "oneOf" in node:
            node = next((b for b in node["oneOf"] if b.get("type") in ("object", "array")), node)
    return node


class _Problems:
    def __init__(self, filename: str, doc: Any) -> None:
        self.filename = filename
        self.doc = doc
        self.items: list[tuple[tuple[int, int], str]] = []

    def add(
        self, path: Sequence[str | int], message: str, hint: str | None = None, at_key: bool = False
    ) -> None:
        pos = yamldoc.position(self.doc, path, at_key=at_key) or (1, 1)
        text = f"{self.filename}:{pos[0]}:{pos[1]}: {_key_path(path)}: {message}"
        if hint:
            text += f" (hint: {hint})"
        self.items.append((pos, text))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        lines = [text for _, text in sorted(self.items)]
        raise ConfigError(
            lines[0]
            if len(lines) == 1
            else f"{len(lines)} problems in {self.filename}:\n" + "\n".join(lines),
            errors=lines,
        )


def _report_schema_error(problems: _Problems, error: ValidationError) -> None:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(_subschema(path).get("properties", {}))
        instance: Any = error.instance
        extra = [k for k in instance if k not in allowed]
        for key in extra:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"allowed keys here: {', '.join(allowed)}"
            )
            if path == ["influx"] and key in ("token", "password"):
                hint = (
                    f"never put secrets in plog.yml: write '{key}_env: NAME' and set the "
                    "environment variable NAME in CI"
                )
            problems.add([*path, key], f"unknown key '{key}'", hint, at_key=True)
        return
    if error.validator == "oneOf":
        # Report the errors of the branch whose type matches what was written.
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context or []:
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        matching = [
            errs
            for errs in branches.values()
            if not any(e.validator in ("type", "enum") and not e.relative_path for e in errs)
        ]
        if len(matching) == 1:
            for sub in matching[0]:
                _report_schema_error(problems, sub)
            return
        name = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
        problems.add(
            path, f"{json.dumps(error.instance)[:80]} is not accepted here", _ONEOF_HINTS.get(name)
        )
        return
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        desc = _subschema([*path, missing]).get("description")
        problems.add(path, f"missing required key '{missing}'", desc)
        return
    if error.validator == "enum":
        values: Any = error.validator_value
        choices = ", ".join(json.dumps(v) for v in values)
        problems.add(path, f"{json.dumps(error.instance)} is not one of {choices}")
        return
    if error.validator == "const":
        problems.add(
            path,
            f"must be {json.dumps(error.validator_value)}",
            "this PLog reads plog.yml version 1",
        )
        return
    if error.validator == "pattern" and path and "duration" in json.dumps(_subschema(path)).lower():
        problems.add(
            path,
            f"{json.dumps(error.instance)} is not a duration",
            "write e.g. 500ms, 30s, 2m or 1m30s",
        )
        return
    if error.validator == "pattern" and error.validator_value == "^[A-Za-z]+ /":
        problems.add(
            path,
            f"{json.dumps(error.instance)} is not an operation",
            "write 'METHOD /path' as in the spec, e.g. 'GET /pets/{petId}'",
        )
        return
    if error.validator == "type":
        problems.add(
            path,
            f"expected {error.validator_value}, got "
            f"{type(error.instance).__name__} {json.dumps(error.instance)[:60]}",
        )
        return
    problems.add(path, error.message)


def _gates(raw: list[Any], problems: _Problems) -> tuple[Gate, ...]:
    gates: list[Gate] = []
    for i, item in enumerate(raw):
        path: list[str | int]
        opts: dict[str, Any]
        if isinstance(item, str):
            text, opts, path = item, {}, ["gates", i]
        else:
            text = item["check"]
            opts = {k: item[k] for k in ("operation", "level", "key") if k in item}
            path = ["gates", i, "check"]
        try:
            gates.append(parse_gate(text, **opts))
        except PlogError as exc:
            problems.add(path, exc.message, exc.hint)
    return tuple(gates)


# A turn shorter than this holds a handful of requests, and one request's
# latency overlaps the other side's next turn.
MIN_TURN_S = 0.05


def _compare(raw: dict[str, Any], problems: _Problems) -> CompareConfig:
    fields: dict[str, Any] = {
        k: raw[k]
        for k in ("mode", "blocks", "replicas", "baseline", "branch", "last_n", "alpha")
        if k in raw
    }
    if "min_effect" in raw:
        fields["min_effect"] = float(str(raw["min_effect"]).rstrip("%")) / 100
    if "turn" in raw:
        try:
            fields["turn_s"] = parse_duration(str(raw["turn"]))
        except ValueError as exc:
            problems.add(["compare", "turn"], str(exc))
        else:
            if fields["turn_s"] < MIN_TURN_S:
                problems.add(
                    ["compare", "turn"],
                    f"{raw['turn']!r} is shorter than {MIN_TURN_S * 1000:g}ms",
                    "use 50ms or more, e.g. turn: 250ms",
                )
    return CompareConfig(**fields)


def _stages(raw: list[Any], problems: _Problems) -> tuple[Stage, ...]:
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(Stage(parse_duration(item["duration"]), float(item["target"])))
        except ValueError as exc:
            problems.add(["load", "stages", i, "duration"], str(exc))
    return tuple(out)


def _caps(raw: dict[str, Any], problems: _Problems) -> Caps:
    default = Caps()
    duration = default.duration_s
    if "duration" in raw:
        try:
            duration = parse_duration(raw["duration"])
        except ValueError as exc:
            problems.add(["load", "caps", "duration"], str(exc))
    return Caps(
        vus=raw.get("vus", default.vus), rate=raw.get("rate", default.rate), duration_s=duration
    )


def _auth(raw: dict[str, Any] | None, problems: _Problems) -> AuthConfig | None:
    if raw is None:
        return None
    kind = raw["type"]
    if kind == "api_key" and "name" not in raw:
        problems.add(
            ["load", "auth"],
            "api_key needs 'name' (the header, query or cookie name)",
            "e.g. name: X-API-Key",
        )
    if kind == "basic" and "username" not in raw and "username_env" not in raw:
        problems.add(
            ["load", "auth"],
            "basic needs 'username' or 'username_env'",
            "the password comes from 'env'",
        )
    if kind != "api_key" and ("name" in raw or "in" in raw):
        key = "name" if "name" in raw else "in"
        problems.add(["load", "auth", key], f"'{key}' applies to type api_key only", None, True)
    return AuthConfig(
        type=kind,
        env=raw["env"],
        username=raw.get("username"),
        username_env=raw.get("username_env"),
        name=raw.get("name"),
        location=raw.get("in", "header"),
    )


def _values(raw: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple((str(k), v) for k, v in (raw or {}).items())


def _overrides(raw: dict[str, Any], problems: _Problems) -> tuple[OperationOverride, ...]:
    out = []
    for key, item in raw.items():
        data = item.get("data")
        if data is not None and (data.startswith("/") or ".." in Path(data).parts):
            problems.add(
                ["load", "overrides", key, "data"],
                f"{data!r} leaves the repository",
                "use a relative path inside the repository",
            )
        method, _, path = key.partition(" ")
        out.append(
            OperationOverride(
                operation=f"{method.upper()} {path}",
                path=_values(item.get("path")),
                query=_values(item.get("query")),
                headers=_values(item.get("headers")),
                cookies=_values(item.get("cookies")),
                body=item.get("body"),
                has_body="body" in item,
                data=data,
                expect=tuple(item.get("expect", ())),
            )
        )
    return tuple(out)


def _check_caps(
    load: dict[str, Any],
    duration: float,
    stages: tuple[Stage, ...],
    caps: Caps,
    problems: _Problems,
) -> None:
    total = sum(s.duration_s for s in stages) if stages else duration
    if total > caps.duration_s:
        key = ["load", "stages"] if stages else ["load", "duration"]
        problems.add(
            key,
            f"the test lasts {total:g}s, over the cap of {caps.duration_s:g}s",
            "shorten it or raise load.caps.duration",
        )
    if load.get("vus", 10) > caps.vus:
        problems.add(
            ["load", "vus"],
            f"{load['vus']} VUs is over the cap of {caps.vus}",
            "lower vus or raise load.caps.vus",
        )
    if load.get("rate") is not None and load["rate"] > caps.rate:
        problems.add(
            ["load", "rate"],
            f"{load['rate']:g}/s is over the cap of {caps.rate:g}/s",
            "lower rate or raise load.caps.rate",
        )


def _influx(raw: dict[str, Any] | None, problems: _Problems) -> InfluxConfig | None:
    if raw is None:
        return None
    parts = urlsplit(raw["url"])
    if not parts.hostname:
        problems.add(
            ["influx", "url"], f"{raw['url']!r} names no host", "e.g. http://127.0.0.1:8086"
        )
    if parts.username or parts.password:
        problems.add(
            ["influx", "url"],
            "the URL carries credentials",
            "never put secrets in plog.yml: use username and password_env",
        )
    api = raw.get("api", "v1")
    if api == "v2":
        for key in ("org", "bucket"):
            if key not in raw:
                problems.add(["influx", "api"], f"api v2 needs influx.{key}", f"add {key}: NAME")
    try:
        timeout = parse_duration(raw.get("timeout", "10s"))
    except ValueError as exc:
        problems.add(["influx", "timeout"], str(exc))
        timeout = 10.0
    if not 0 < timeout <= 600:
        problems.add(["influx", "timeout"], "must lie between 0 and 10m", "e.g. 10s")
    fields = {
        k: raw[k]
        for k in (
            "url",
            "api",
            "database",
            "retention_policy",
            "org",
            "bucket",
            "measurement",
            "batch_size",
            "retries",
            "username",
            "password_env",
            "token_env",
        )
        if k in raw
    }
    return InfluxConfig(**fields, timeout_s=timeout)


def parse_config(data: str | bytes, filename: str = "plog.yml") -> Config:
    """Parse and validate plog.yml text. Raises ConfigError listing every problem."""
    raw_bytes = data.encode("utf-8") if isinstance(data, str) else data
    if not raw_bytes.strip():
        raise ConfigError(
            f"{filename}: the file is empty",
            hint="start from the example in the README (version: 1, service, openapi)",
        )
    try:
        doc = yamldoc.load(raw_bytes, filename, LIMITS)
    except yamldoc.YamlError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None
    problems = _Problems(filename, doc)
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else f"{type(doc).__name__}"
        problems.add(
            [],
            f"the document is {kind}, expected a mapping of keys",
            "plog.yml starts with 'version: 1'",
        )
        problems.raise_if_any()
    plain = yamldoc.to_plain(doc)
    if not _quick_check(plain):
        # Only an invalid file pays for jsonschema (~0.15 s to import), which lists
        # every problem; a valid one passes the compiled check (pre-receive stays fast).
        import jsonschema

        validator = jsonschema.Draft202012Validator(schema())
        for error in validator.iter_errors(plain):
            _report_schema_error(problems, error)
    problems.raise_if_any()

    service = plain["service"]
    try:
        startup = parse_duration(service.get("startup_timeout", "30s"))
    except ValueError as exc:
        problems.add(["service", "startup_timeout"], str(exc))
        startup = 30.0
    load = plain.get("load", {})
    try:
        duration = parse_duration(load.get("duration", "30s"))
    except ValueError as exc:
        problems.add(["load", "duration"], str(exc))
        duration = 30.0
    if duration > 6 * 3600:
        problems.add(["load", "duration"], "longer than the 6h cap", "shorten the test")
    stages = _stages(load.get("stages", []), problems)
    caps = _caps(load.get("caps", {}), problems)
    auth = _auth(load.get("auth"), problems)
    overrides = _overrides(load.get("overrides", {}), problems)
    _check_caps(load, duration, stages, caps, problems)
    workdir = service.get("workdir", ".")
    if workdir.startswith("/") or ".." in Path(workdir).parts:
        problems.add(
            ["service", "workdir"],
            f"{workdir!r} leaves the repository",
            "use a relative path inside the repository",
        )
    gates = _gates(plain.get("gates", []), problems)
    influx = _influx(plain.get("influx"), problems)
    compare = _compare(plain.get("compare", {}), problems)
    problems.raise_if_any()

    spec = plain["openapi"]
    openapi = (
        OpenAPIConfig(spec)
        if isinstance(spec, str)
        else OpenAPIConfig(spec["path"], tuple(spec.get("allow_hosts", ())))
    )
    operations = load.get("operations", "changed")
    return Config(
        service=ServiceConfig(
            run=service["run"],
            port=service.get("port", 0),
            health=service.get("health", "/"),
            env=tuple(
                (k, str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in service.get("env", {}).items()
            ),
            workdir=workdir,
            startup_timeout_s=startup,
        ),
        openapi=openapi,
        load=LoadConfig(
            profile=load.get("profile", "load"),
            vus=load.get("vus", 10),
            rate=load.get("rate"),
            duration_s=duration,
            operations=tuple(operations) if isinstance(operations, list) else operations,
            model=load.get("model"),
            stages=stages,
            auth=auth,
            overrides=overrides,
            caps=caps,
            allow_hosts=tuple(load.get("allow_hosts", ())),
            setup_resources=load.get("setup_resources", 5),
            cleanup=load.get("cleanup", True),
        ),
        gates=gates,
        compare=compare,
        allow_forks=bool(plain.get("allow_forks", False)),
        report=ReportConfig(**plain.get("report", {})),
        influx=influx,
        source=filename,
        digest=hashlib.sha256(raw_bytes).hexdigest(),
    )


def load_config(path: str | Path) -> Config:
    """Read plog.yml from disk (a directory means its plog.yml)."""
    path = Path(path)
    if path.is_dir():
        path = path / "plog.yml"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file",
            hint="commit a plog.yml at the repository root (see the README)",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(data, str(path))
