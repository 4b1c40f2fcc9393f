"""plog.yml, version 1, as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

from plog_ci.analysis.gates import Gate

PROFILES = ("smoke", "load", "stress", "spike", "soak", "breakpoint")


@dataclass(frozen=True)
class ServiceConfig:
    run: str
    port: int = 0
    health: str = "/"
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = "."
    startup_timeout_s: float = 30.0


@dataclass(frozen=True)
class OpenAPIConfig:
    path: str
    allow_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadConfig:
    profile: str = "load"
    vus: int = 10
    rate: float | None = None
    duration_s: float = 30.0
    operations: str | tuple[str, ...] = "changed"


@dataclass(frozen=True)
class CompareConfig:
    mode: str = "interleaved"  # interleaved | sequential | off
    blocks: int = 20
    baseline: str = "auto"  # auto | base | previous | branch
    branch: str | None = None
    last_n: int = 5
    min_effect: float = 0.05  # fraction
    alpha: float = 0.01


@dataclass(frozen=True)
class ReportConfig:
    dir: str = "plog-reports"


@dataclass(frozen=True)
class InfluxConfig:
    """The InfluxDB sink; secrets are read from the named environment variables."""

    url: str
    api: str = "v1"  # v1 | v2
    database: str = "plog"  # v1
    retention_policy: str = ""  # v1
    org: str = ""  # v2
    bucket: str = ""  # v2
    measurement: str = "plog_requests"
    batch_size: int = 5000
    retries: int = 3
    timeout_s: float = 10.0
    username: str = ""
    password_env: str = ""  # name of the variable, never the password
    token_env: str = ""  # name of the variable, never the token


@dataclass(frozen=True)
class Config:
    service: ServiceConfig
    openapi: OpenAPIConfig
    load: LoadConfig = field(default_factory=LoadConfig)
    gates: tuple[Gate, ...] = ()
    compare: CompareConfig = field(default_factory=CompareConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    influx: InfluxConfig | None = None
    version: int = 1
    source: str = "plog.yml"
    digest: str = ""  # sha256 of the file, for idempotency keys and run fingerprints
