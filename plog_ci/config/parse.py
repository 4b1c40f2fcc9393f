"""Read plog.yml into a Config, or explain precisely what is wrong with it.

Every problem is reported as ``plog.yml:LINE:COL: KEY.PATH: message`` plus a
hint, all problems at once (sorted by position), so one edit fixes them all
(``config.problems``: the collector and the schema's messages).
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plog_ci import yamldoc
from plog_ci.config import shell_syntax
from plog_ci.config.compare_length import parse_compare_length
from plog_ci.config.deploy import parse_deploy, take_secrets
from plog_ci.config.durations import format_duration, parse_duration
from plog_ci.config.hosts import forbidden
from plog_ci.config.metrics import parse_metrics
from plog_ci.config.model import (
    HARD_MAX_DURATION_S,
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
    SetupCache,
    SetupStep,
    Stage,
)
from plog_ci.config.paths import HINT as PATH_HINT
from plog_ci.config.paths import path_problem
from plog_ci.config.placeholders import find as find_placeholders
from plog_ci.config.problems import Problems, check_schema
from plog_ci.config.report_ai import parse_ai
from plog_ci.errors import ConfigError, PlogError
from plog_ci.gate_grammar import Gate, parse_gate

LIMITS = yamldoc.Limits(max_bytes=256 * 1024, max_depth=16, max_nodes=10_000)


def _gates(raw: list[Any], problems: Problems) -> tuple[Gate, ...]:
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


def _compare(raw: dict[str, Any], problems: Problems, length: dict[str, Any]) -> CompareConfig:
    fields: dict[str, Any] = {
        k: raw[k]
        for k in ("mode", "blocks", "replicas", "baseline", "branch", "last_n", "alpha")
        if k in raw
    }
    fields.update(length)  # compare.length, compare.max_duration (config.compare_length)
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


def _stages(raw: list[Any], problems: Problems) -> tuple[Stage, ...]:
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(Stage(parse_duration(item["duration"]), float(item["target"])))
        except ValueError as exc:
            problems.add(["load", "stages", i, "duration"], str(exc))
    return tuple(out)


def _hours(seconds: float) -> str:
    """``seconds`` as written in plog.yml: 45s, 6h, 2h30m (whole minutes past an hour)."""
    if seconds < 3600 or seconds % 60:
        return f"{seconds:g}s" if seconds >= 1 else format_duration(seconds)
    hours, minutes = divmod(int(seconds) // 60, 60)
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"


def _check_path(
    path: list[str | int], value: str, problems: Problems, *, no_git: bool = False
) -> None:
    problem = path_problem(value, no_git=no_git)
    if problem:
        problems.add(path, problem, PATH_HINT)


def _check_hosts(path: list[str | int], hosts: list[str], problems: Problems, hint: str) -> None:
    for i, entry in enumerate(hosts):
        what = forbidden(entry)
        if what:
            problems.add([*path, i], f"{entry!r} is {what}, which no allow-list admits", hint)


def _caps(raw: dict[str, Any], problems: Problems) -> Caps:
    default = Caps()
    duration = default.duration_s
    if "duration" in raw:
        try:
            duration = parse_duration(raw["duration"])
        except ValueError as exc:
            problems.add(["load", "caps", "duration"], str(exc))
        if duration > HARD_MAX_DURATION_S:
            problems.add(
                ["load", "caps", "duration"],
                f"{raw['duration']!r} is over the hard cap of "
                f"{_hours(HARD_MAX_DURATION_S)}: no test runs longer, whatever the caps say",
                f"use at most caps.duration: {_hours(HARD_MAX_DURATION_S)}",
            )
            duration = HARD_MAX_DURATION_S
    return Caps(
        vus=raw.get("vus", default.vus), rate=raw.get("rate", default.rate), duration_s=duration
    )


def _auth(raw: dict[str, Any] | None, problems: Problems) -> AuthConfig | None:
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
        apply=raw.get("apply", "spec"),
    )


def _values(raw: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple((str(k), v) for k, v in (raw or {}).items())


def _overrides(raw: dict[str, Any], problems: Problems) -> tuple[OperationOverride, ...]:
    out = []
    for key, item in raw.items():
        data = item.get("data")
        if data is not None:
            _check_path(["load", "overrides", key, "data"], data, problems)
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
    problems: Problems,
) -> None:
    # Every way of writing the test's length obeys the same cap: load.duration, or
    # the sum of load.stages (which replaces the profile's shape and its duration).
    total = sum(s.duration_s for s in stages) if stages else duration
    if total > caps.duration_s:
        key = ["load", "stages"] if stages else ["load", "duration"]
        hint = (
            "shorten it or raise load.caps.duration"
            if caps.duration_s < HARD_MAX_DURATION_S
            else f"shorten it: {_hours(HARD_MAX_DURATION_S)} is the hard cap"
        )
        written = "the stages add up to" if stages else "the test lasts"
        problems.add(
            key, f"{written} {_hours(total)}, over the cap of {_hours(caps.duration_s)}", hint
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


def _setup(
    service: dict[str, Any], problems: Problems
) -> tuple[tuple[SetupStep, ...], SetupCache | None, float]:
    """``service.setup`` (steps), ``service.setup_cache`` and ``service.setup_timeout``
    (seconds); every problem placed at its key."""
    steps: list[SetupStep] = []
    for i, step in enumerate(service.get("setup", [])):
        if isinstance(step, list):
            steps.append(tuple(step))
            continue
        _check_shell(["service", "setup", i], step, problems)
        try:
            if not shlex.split(step):
                problems.add(["service", "setup", i], "the command is empty")
        except ValueError as exc:
            problems.add(
                ["service", "setup", i],
                f"cannot split {step!r}: {exc}",
                "balance the quotes, or write the step as a list of arguments",
            )
        steps.append(step)
    cache = None
    raw = service.get("setup_cache")
    if raw is not None:
        if not steps:
            problems.add(
                ["service", "setup_cache"],
                "there is no service.setup to cache",
                "add service.setup, or remove setup_cache",
                True,
            )
        for part in ("key", "paths"):
            for i, value in enumerate(raw[part]):
                _check_path(["service", "setup_cache", part, i], value, problems, no_git=True)
                if part == "paths" and Path(value).parts in ((), (".",)):
                    problems.add(
                        ["service", "setup_cache", "paths", i],
                        f"{value!r} is the whole directory; name what setup creates",
                        "e.g. paths: [.venv]",
                    )
        cache = SetupCache(tuple(raw["key"]), tuple(raw["paths"]))
    timeout = 600.0
    if "setup_timeout" in service:
        try:
            timeout = parse_duration(service["setup_timeout"])
        except ValueError as exc:
            problems.add(["service", "setup_timeout"], str(exc))
        if timeout <= 0:
            problems.add(["service", "setup_timeout"], "must be longer than 0", "e.g. 10m")
    return tuple(steps), cache, timeout


def _check_shell(path: list[str | int], command: str, problems: Problems) -> None:
    """Refuse shell syntax in a command no shell runs (``plog_ci.config.shell_syntax``)."""
    message = shell_syntax.problem(command)
    if message is not None:
        problems.add(path, message, shell_syntax.HINT, at_key=True)


def _influx(raw: dict[str, Any] | None, problems: Problems) -> InfluxConfig | None:
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
    problems = Problems(filename, doc)
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else f"{type(doc).__name__}"
        problems.add(
            [],
            f"the document is {kind}, expected a mapping of keys",
            "plog.yml starts with 'version: 1'",
        )
        problems.raise_if_any()
    plain = yamldoc.to_plain(doc)
    secrets = take_secrets(plain, problems)
    check_schema(plain, problems)
    for path, value in find_placeholders(plain):
        problems.add(
            path,
            f"{value!r} is a placeholder plog init left",
            "replace it with the real value",
        )
    if len(problems.items) > secrets:  # a refused secret alone: list the rest with it
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
    stages = _stages(load.get("stages", []), problems)
    caps = _caps(load.get("caps", {}), problems)
    auth = _auth(load.get("auth"), problems)
    overrides = _overrides(load.get("overrides", {}), problems)
    _check_caps(load, duration, stages, caps, problems)
    workdir = service.get("workdir", ".")
    _check_path(["service", "workdir"], workdir, problems)
    _check_shell(["service", "run"], service["run"], problems)
    setup, setup_cache, setup_timeout = _setup(service, problems)
    spec = plain["openapi"]
    if isinstance(spec, str):
        _check_path(["openapi"], spec, problems)
    else:
        _check_path(["openapi", "path"], spec["path"], problems)
        _check_hosts(
            ["openapi", "allow_hosts"],
            spec.get("allow_hosts", []),
            problems,
            "vendor the file into the repository, or name the public host it comes from",
        )
    _check_hosts(
        ["load", "allow_hosts"],
        load.get("allow_hosts", []),
        problems,
        "the deployed service's own address is always allowed; name only other services",
    )
    report = plain.get("report", {})
    if "dir" in report:
        _check_path(["report", "dir"], report["dir"], problems, no_git=True)
    ai = parse_ai(report.get("ai"), problems)
    gates = _gates(plain.get("gates", []), problems)
    influx = _influx(plain.get("influx"), problems)
    compare_raw = plain.get("compare", {})
    length = parse_compare_length(compare_raw, duration, caps.duration_s, problems)
    compare = _compare(compare_raw, problems, length)
    deploy = parse_deploy(plain.get("deploy"), problems)
    metrics = parse_metrics(plain.get("metrics"), problems)
    problems.raise_if_any()

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
            env=tuple((k, yamldoc.scalar_text(v)) for k, v in service.get("env", {}).items()),
            workdir=workdir,
            startup_timeout_s=startup,
            setup=setup,
            setup_cache=setup_cache,
            setup_timeout_s=setup_timeout,
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
            runners=load.get("runners", 1),
        ),
        gates=gates,
        compare=compare,
        allow_forks=bool(plain.get("allow_forks", False)),
        report=ReportConfig(report.get("dir", ReportConfig.dir), ai),
        influx=influx,
        deploy=deploy,
        metrics=metrics,
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
