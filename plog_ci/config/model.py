"""plog.yml, version 1, as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plog_ci.config.deploy import BuildConfig as BuildConfig
from plog_ci.config.deploy import DeployConfig as DeployConfig
from plog_ci.config.deploy import RegistryConfig as RegistryConfig
from plog_ci.config.deploy import ResourcesConfig as ResourcesConfig
from plog_ci.config.deploy import ScanConfig as ScanConfig
from plog_ci.config.hosts import forbidden
from plog_ci.errors import ConfigError
from plog_ci.gate_grammar import Gate

PROFILES = ("smoke", "load", "stress", "spike", "soak", "breakpoint")

# No test runs longer, whatever load.caps.duration says (nor whatever load.duration
# or the sum of load.stages asks for).
HARD_MAX_DURATION_S = 6 * 3600.0


def _check_hosts(key: str, hosts: tuple[str, ...]) -> None:
    """Allow-lists never admit loopback, link-local or metadata addresses, however
    the config was built (plog.yml reports them at their line first)."""
    for entry in hosts:
        what = forbidden(entry)
        if what:
            raise ConfigError(f"plog.yml: {key}: {entry!r} is {what}, which no allow-list admits")


@dataclass(frozen=True)
class SetupCache:
    """``service.setup_cache``: ``key`` globs (relative to the workdir) whose files'
    content decides whether setup runs again; ``paths`` (relative to the workdir) are
    what setup makes and the cache keeps (``plog_ci.deploy.setup``)."""

    key: tuple[str, ...]
    paths: tuple[str, ...]


# One step of service.setup: a command split like a shell would, or its argv as written.
SetupStep = str | tuple[str, ...]


@dataclass(frozen=True)
class ServiceConfig:
    run: str
    port: int = 0
    health: str = "/"
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = "."
    startup_timeout_s: float = 30.0
    setup: tuple[SetupStep, ...] = ()
    setup_cache: SetupCache | None = None
    setup_timeout_s: float = 600.0


@dataclass(frozen=True)
class OpenAPIConfig:
    path: str
    allow_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_hosts("openapi.allow_hosts", self.allow_hosts)


@dataclass(frozen=True)
class AuthConfig:
    """Credentials for the load test; only environment variable *names* live here."""

    type: str  # bearer | basic | api_key
    env: str  # variable holding the token, password or key
    username: str | None = None  # basic: a literal user name ...
    username_env: str | None = None  # ... or the variable holding it
    name: str | None = None  # api_key: header, query or cookie name
    location: str = "header"  # api_key: header | query | cookie
    apply: str = "spec"  # spec: as the operations' security says | always: every operation


@dataclass(frozen=True)
class OperationOverride:
    """Values a spec cannot express, for one operation ("METHOD /path")."""

    operation: str
    path: tuple[tuple[str, Any], ...] = ()
    query: tuple[tuple[str, Any], ...] = ()
    headers: tuple[tuple[str, Any], ...] = ()
    cookies: tuple[tuple[str, Any], ...] = ()
    body: Any = None
    has_body: bool = False
    data: str | None = None  # CSV or JSON file in the repository, one request per row
    expect: tuple[int, ...] = ()


@dataclass(frozen=True)
class Stage:
    duration_s: float
    target: float  # requests per second per operation (open) or VUs (closed)


@dataclass(frozen=True)
class Caps:
    """Hard limits whatever the profile asks for; k6 is killed past duration."""

    vus: int = 1000
    rate: float = 20000.0  # requests per second, all operations together
    duration_s: float = 6 * 3600.0


@dataclass(frozen=True)
class LoadConfig:
    profile: str = "load"
    vus: int = 10
    rate: float | None = None
    duration_s: float = 30.0
    operations: str | tuple[str, ...] = "changed"
    model: str | None = None  # open | closed; None: open when rate is set or profile needs it
    stages: tuple[Stage, ...] = ()
    auth: AuthConfig | None = None
    overrides: tuple[OperationOverride, ...] = ()
    caps: Caps = field(default_factory=Caps)
    allow_hosts: tuple[str, ...] = ()  # extra hosts the load may target
    setup_resources: int = 5  # resources each producer creates before the load
    cleanup: bool = True  # delete what setup created, when the API has a DELETE
    runners: int = 1  # k6 execution segments (local processes, or TestRun pods with helm)

    def __post_init__(self) -> None:
        _check_hosts("load.allow_hosts", self.allow_hosts)


@dataclass(frozen=True)
class CompareConfig:
    mode: str = "interleaved"  # interleaved | duet | sequential | off
    blocks: int = 20
    replicas: int = 1  # processes per side when base and head run side by side
    turn_s: float = 0.25  # interleaved: how long one side is loaded at a time
    baseline: str = "auto"  # auto | base | previous | branch
    branch: str | None = None
    last_n: int = 5
    min_effect: float = 0.05  # fraction
    alpha: float = 0.01
    # fixed: compare.blocks rounds over load.duration; adaptive (interleaved only): stop
    # once every relative gate is decided, at most max_duration_s seconds per side.
    length: str = "fixed"
    max_duration_s: float | None = None  # None with length fixed
    # adaptive: the level of "within" decisions (a change beyond a gate called within it).
    beta: float = 0.2


@dataclass(frozen=True)
class AiConfig:
    """``report.ai``: an OpenAI-compatible server that narrates the evidence
    (``plog_ci.report.narrative``). The key is read from the environment variable
    named ``api_key_env``, never written in plog.yml."""

    url: str  # the API's base URL, e.g. http://127.0.0.1:8000/v1
    model: str  # the served model, e.g. openai/gpt-oss-20b
    adapter: str = ""  # a LoRA adapter the server serves by this name (vLLM --lora-modules)
    timeout_s: float = 60.0  # the whole request, connection to last byte
    max_tokens: int = 1024
    api_key_env: str = ""  # name of the variable, never the key
    evidence_tokens: int = 3000  # the evidence bundle's budget


@dataclass(frozen=True)
class ReportConfig:
    dir: str = "plog-reports"
    ai: AiConfig | None = None  # no narrative without it


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
class MetricsConfig:
    """``metrics``: the cluster's Prometheus (cAdvisor, kube-state-metrics); a bearer
    token is read from the environment variable named ``token_env``."""

    prometheus: str  # base URL, before /api/v1
    token_env: str | None = None  # name of the variable, never the token


@dataclass(frozen=True)
class Config:
    service: ServiceConfig
    openapi: OpenAPIConfig
    load: LoadConfig = field(default_factory=LoadConfig)
    gates: tuple[Gate, ...] = ()
    compare: CompareConfig = field(default_factory=CompareConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    allow_forks: bool = False
    influx: InfluxConfig | None = None
    deploy: DeployConfig = field(default_factory=DeployConfig)
    metrics: MetricsConfig | None = None
    version: int = 1
    source: str = "plog.yml"
    digest: str = ""  # sha256 of the file, for idempotency keys and run fingerprints
