"""plog.yml's deploy: section (issue 19): the dataclasses it parses to, every rule's
message, and ``plog validate`` reporting them. The golden files
``tests/golden/config/deploy_*`` (run by tests/test_config.py) hold the messages as
printed; here the rules are asserted directly, with the values that sit at each
rule's edge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from plog_ci.cli import cli
from plog_ci.config import parse_config
from plog_ci.config.deploy import BuildConfig, DeployConfig
from plog_ci.config.helm import HelmConfig
from plog_ci.config.model import MetricsConfig, RegistryConfig, ResourcesConfig, ScanConfig
from plog_ci.config.registry_address import repository_problem, url_problem
from plog_ci.config.sizes import format_size, parse_size
from plog_ci.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "petstore"
HEAD = "version: 1\nservice: {run: ./serve}\nopenapi: openapi.yaml\n"
HOSTILE = '${HOME}"\'; rm -rf / <script>alert(1)</script> "><img onerror=x>'

FULL = (
    HEAD
    + """deploy:
  target: podman
  container_port: 9090
  build:
    containerfile: docker/Containerfile
    context: service
    args:
      PYTHON_VERSION: "3.11"
      WORKERS: 4
      DEBUG: false
      _RAW: '"""
    + HOSTILE.replace("'", "''")
    + """'
    target: runtime
  registry:
    url: https://registry.example.com:8443
    repository: team/petstore
    username: robot$ci
    password_env: REGISTRY_PASSWORD
    kind: harbor
    tls_verify: true
    ca_file: certs/ca.pem
    scan: {wait: 1m30s, fail_on: high}
  resources: {cpus: 1.5, memory: 512Mi}
"""
)


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text.encode(), "plog.yml")
    return info.value.errors


def _one_error(text: str) -> str:
    (line,) = _errors(text)
    return line


def test_full_section_parses_to_the_exact_dataclasses() -> None:
    assert parse_config(FULL.encode()).deploy == DeployConfig(
        target="podman",
        container_port=9090,
        build=BuildConfig(
            containerfile="docker/Containerfile",
            context="service",
            args=(
                ("PYTHON_VERSION", "3.11"),
                ("WORKERS", "4"),
                ("DEBUG", "false"),
                ("_RAW", HOSTILE),
            ),
            target="runtime",
        ),
        registry=RegistryConfig(
            url="https://registry.example.com:8443",
            repository="team/petstore",
            username="robot$ci",
            password_env="REGISTRY_PASSWORD",
            kind="harbor",
            tls_verify=True,
            ca_file="certs/ca.pem",
            scan=ScanConfig(wait_s=90.0, fail_on="high"),
        ),
        resources=ResourcesConfig(cpus=1.5, memory_bytes=512 * 1024**2),
    )


def test_without_the_section_the_target_is_process() -> None:
    assert parse_config(HEAD.encode()).deploy == DeployConfig()
    assert DeployConfig() == DeployConfig("process", 8080, None, None, None)
    for section in ("deploy: {}\n", "deploy: {target: process}\n"):
        assert parse_config((HEAD + section).encode()).deploy == DeployConfig()


def test_podman_without_build_gets_the_default_build() -> None:
    deploy = parse_config((HEAD + "deploy: {target: podman}\n").encode()).deploy
    assert deploy == DeployConfig(target="podman", build=BuildConfig())
    assert (deploy.build is not None) and (deploy.build.containerfile, deploy.build.context) == (
        "Containerfile",
        ".",
    )
    scan = parse_config(
        (
            HEAD + "deploy:\n  target: podman\n  registry:\n    url: h.example\n"
            "    repository: a/b\n    kind: harbor\n    scan: {}\n"
        ).encode()
    ).deploy.registry
    assert scan is not None and scan.scan == ScanConfig(wait_s=120.0, fail_on="critical")
    assert (scan.kind, scan.tls_verify, scan.username, scan.password_env) == (
        "harbor",
        True,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("url", "host", "secure"),
    [
        ("127.0.0.1:5000", "127.0.0.1:5000", True),
        ("https://registry.example.com", "registry.example.com", True),
        ("HTTPS://registry.example.com:443", "registry.example.com:443", True),
        ("http://localhost:5000", "localhost:5000", False),
        ("[::1]:5000", "[::1]:5000", True),
    ],
)
def test_registry_host_and_secure(url: str, host: str, secure: bool) -> None:
    registry = RegistryConfig(url=url, repository="team/petstore")
    assert (registry.host, registry.secure) == (host, secure)
    assert registry.image == f"{host}/team/petstore"
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://ci:hunter2@registry.example.com", "the URL carries credentials"),
        ("ci@registry.example.com", "the URL carries credentials"),
        ("oci://registry.example.com", "the scheme 'oci' is not http or https"),
        ("registry.example.com/v2/", "has a path"),
        ("registry.example.com/team/petstore", "has a path"),
        ("https://registry.example.com/", "has a path"),
        ("registry.example.com:70000", "70000 is not a port"),
        ("registry.example.com:0", "0 is not a port"),
        ("https://", "names no host"),
        ("reg istry", "names no host"),
        ("-registry.example.com", "names no host"),
        ("${REGISTRY}", "names no host"),
    ],
)
def test_registry_url_problems(url: str, message: str) -> None:
    problem = url_problem(url)
    assert problem is not None and message in problem[0]
    assert "hunter2" not in problem[0] + problem[1]


@pytest.mark.parametrize(
    ("repository", "message"),
    [
        ("team/petstore", None),
        ("a", None),
        ("team/sub.group/my_app__x--y", None),
        ("Team/Petstore", "has capital letters"),
        ("team/petstore:latest", "carries a tag or digest"),
        ("team/petstore@sha256:abcd", "carries a tag or digest"),
        ("registry.example.com:5000/team/petstore", "starts with a registry's address"),
        ("/team", "is not a repository name"),
        ("team//petstore", "is not a repository name"),
        ("team/-petstore", "is not a repository name"),
        ("team/petstore/", "is not a repository name"),
        ("team/$(id)", "is not a repository name"),
        ("a" * 201, "is longer than 200 characters"),
    ],
)
def test_repository_names(repository: str, message: str | None) -> None:
    problem = repository_problem(repository)
    if message is None:
        assert problem is None
    else:
        assert problem is not None and message in problem[0]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (512, 512),
        ("512Mi", 512 * 1024**2),
        ("1Gi", 1024**3),
        ("1.5Gi", 1536 * 1024**2),
        ("64Ki", 65536),
        ("500M", 500_000_000),
        ("2G", 2_000_000_000),
        ("1K", 1000),
        ("1048576", 1048576),
    ],
)
def test_memory_sizes(text: int | str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["512MB", "512mi", "1Ti", "1.5", "Mi", "", "-1Mi", "0", 0, True])
def test_memory_sizes_refused(text: int | str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_format_size() -> None:
    sizes = (512 * 1024**2, 2 * 1024**3, 1536, 1000)
    assert [format_size(n) for n in sizes] == ["512Mi", "2Gi", "1536", "1000"]
    assert format_size(3 * 1024) == "3Ki"


def _podman(section: str) -> str:
    return HEAD + "deploy:\n  target: podman\n" + section


HELM = """\
deploy:
  target: helm
  registry: {url: registry.example.com, repository: team/petstore}
  helm:
    chart: deploy/chart
    values: {replicaCount: 2, env: {GREETING: "$(rm -rf /) ${HOME}"}}
    values_files: [deploy/values-ci.yaml, deploy/values-perf.yaml]
    set: {resources.limits.cpu: 500m, autoscaling.enabled: true, replicaCount: 3}
    timeout: 2m
    ttl: 2h
    port: 80
    service: petstore
    url: "http://{node_port}.example:{node_port}"
    image_values: {repository: app.image.name, digest: app.image.digest}
"""


def test_helm_section_parses_to_the_exact_dataclasses() -> None:
    deploy = parse_config((HEAD + HELM).encode()).deploy
    assert deploy.target == "helm"
    assert deploy.build == BuildConfig()  # the image is built as for podman
    assert deploy.registry is not None and deploy.registry.repository == "team/petstore"
    assert deploy.helm == HelmConfig(
        chart="deploy/chart",
        values=json.dumps(
            {"env": {"GREETING": "$(rm -rf /) ${HOME}"}, "replicaCount": 2}, sort_keys=True
        ),
        values_files=("deploy/values-ci.yaml", "deploy/values-perf.yaml"),
        set=(
            ("resources.limits.cpu", "500m"),
            ("autoscaling.enabled", "true"),
            ("replicaCount", "3"),
        ),
        timeout_s=120.0,
        ttl_s=7200.0,
        port=80,
        service="petstore",
        url="http://{node_port}.example:{node_port}",
        image_values=("app.image.name", "app.image.digest"),
    )
    assert deploy.helm.values_dict()["env"]["GREETING"] == "$(rm -rf /) ${HOME}"


def test_helm_defaults() -> None:
    text = HEAD + "deploy:\n  target: helm\n  registry: {url: r.example, repository: a/b}\n"
    helm = parse_config(text.encode()).deploy.helm
    assert helm == HelmConfig()
    assert helm.url == "http://{service}.{namespace}.svc.cluster.local:{port}"
    assert (helm.chart, helm.timeout_s, helm.ttl_s, helm.port) == (None, 300.0, 21600.0, 8080)


def test_helm_needs_a_registry() -> None:
    line = _one_error(HEAD + "deploy: {target: helm}\n")
    assert line.startswith("plog.yml:4:18: deploy.target: target helm needs deploy.registry")


def test_unknown_target_lists_the_values() -> None:
    line = _one_error(HEAD + "deploy:\n  target: docker\n")
    assert (
        line == 'plog.yml:5:11: deploy.target: "docker" is not one of "process", "podman", "helm"'
    )


@pytest.mark.parametrize(("port", "ok"), [(1, True), (65535, True), (0, False), (65536, False)])
def test_container_port_range(port: int, ok: bool) -> None:
    text = _podman(f"  container_port: {port}\n")
    if ok:
        assert parse_config(text.encode()).deploy.container_port == port
    else:
        assert _one_error(text).startswith(
            f"plog.yml:6:19: deploy.container_port: {port} is not a port (1 to 65535)"
        )


def test_registry_without_repository() -> None:
    line = _one_error(_podman("  registry: {url: registry.example.com}\n"))
    assert line.startswith(
        "plog.yml:6:3: deploy.registry: missing required key 'repository' (hint: The image's name"
    )


def test_secrets_are_refused_never_echoed_and_the_rest_still_listed() -> None:
    errors = _errors(
        _podman(
            "  registry:\n"
            "    url: https://ci:hunter2@registry.example.com\n"
            "    repository: team/petstore\n"
            "    password: hunter2\n"
            "    password_env: hunter2!\n"
            "  resources: {cpus: 0}\n"
        )
    )
    assert [e.split(": ", 2)[1] for e in errors] == [
        "deploy.registry.url",
        "deploy.registry.password",
        "deploy.registry.password_env",
        "deploy.resources.cpus",
    ]
    assert "write 'password_env: NAME'" in errors[1]
    assert not any("hunter2" in e for e in errors)
    # A refused password beside a schema error: both at once, still unechoed.
    errors = _errors(
        _podman("  registry:\n    url: r.example\n    repository: a/b\n    password: hunter2\n")
        + "  unknown: 1\n"
    )
    assert len(errors) == 2 and not any("hunter2" in e for e in errors)


def test_scan_needs_harbor() -> None:
    text = _podman("  registry:\n    url: r.example\n    repository: a/b\n    scan: {wait: 2m}\n")
    assert _one_error(text).startswith(
        "plog.yml:9:5: deploy.registry.scan: a scan needs kind: harbor (the registry's kind is oci)"
    )
    harbor = text.replace("    scan:", "    kind: harbor\n    scan:")
    registry = parse_config(harbor.encode()).deploy.registry
    assert registry is not None and registry.scan == ScanConfig(wait_s=120.0)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ("{cpus: 0}", "deploy.resources.cpus: 0 CPUs is not more than 0"),
        ("{cpus: -2}", "deploy.resources.cpus: -2 CPUs is not more than 0"),
        ("{cpus: 0.001}", "deploy.resources.cpus: 0.001 CPUs is under 0.01"),
        ("{memory: 512MB}", "deploy.resources.memory: '512MB' is not a size"),
        ("{memory: 5Mi}", "deploy.resources.memory: '5Mi' is under 6Mi"),
        ("{memory: 0}", "deploy.resources.memory: 0 is not more than 0 bytes"),
        ("{memory: true}", "deploy.resources.memory: expected ['string', 'integer']"),
        ("{cpus: many}", "deploy.resources.cpus: expected number"),
    ],
)
def test_resources_rules(resources: str, message: str) -> None:
    assert message in _one_error(_podman(f"  resources: {resources}\n"))


def test_resources_edges_pass() -> None:
    text = _podman("  resources: {cpus: 0.01, memory: 6Mi}\n")
    assert parse_config(text.encode()).deploy.resources == ResourcesConfig(0.01, 6 * 1024**2)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("context", "..", "'..' leaves the repository"),
        ("context", "a/../../b", "leaves the repository"),
        ("context", "/srv/app", "is an absolute path"),
        ("context", ".git", "is inside .git"),
        ("containerfile", "../Containerfile", "leaves the repository"),
        ("containerfile", "~/Containerfile", "names a home directory"),
    ],
)
def test_build_paths_stay_inside(key: str, value: str, message: str) -> None:
    line = _one_error(_podman(f"  build:\n    {key}: '{value}'\n"))
    assert f"deploy.build.{key}: " in line and message in line


def test_build_paths_are_checked_however_the_config_is_made() -> None:
    with pytest.raises(ConfigError, match="leaves the repository"):
        BuildConfig(context="../x")
    with pytest.raises(ConfigError, match="not an argument name"):
        BuildConfig(args=(("A B", "x"),))


def test_build_arg_names_and_hostile_values() -> None:
    errors = _errors(
        _podman(
            "  build:\n    args:\n      '${X}': 1\n      'A-B': 2\n      '1A': 3\n"
            "      OK: '${Y}'\n"
        )
    )
    hint = " (hint: letters, digits and _, not starting with a digit, e.g. PYTHON_VERSION)"
    assert [e.split(": ", 1)[1] for e in errors] == [
        f"deploy.build.args.{name}: '{name}' is not a build argument name{hint}"
        for name in ("${X}", "A-B", "1A")
    ]
    assert errors[0].startswith("plog.yml:8:7:")
    nul = _errors(_podman('  build:\n    args: {A: "x\\0y"}\n'))
    assert nul == ["plog.yml:7:15: deploy.build.args.A: contains a NUL byte (hint: remove it)"]


@pytest.mark.parametrize("target", ["--privileged", "-x", "a b", "$(id)"])
def test_build_target_is_a_stage_name(target: str) -> None:
    line = _one_error(_podman(f"  build: {{target: '{target}'}}\n"))
    assert "deploy.build.target: " in line and "is not a stage name" in line


def test_ca_file_rules() -> None:
    base = "  registry:\n    url: {url}\n    repository: a/b\n    ca_file: {ca}\n{extra}"
    ok = _podman(base.format(url="r.example", ca="certs/ca.pem", extra=""))
    assert parse_config(ok.encode()).deploy.registry == RegistryConfig(
        "r.example", "a/b", ca_file="certs/ca.pem"
    )
    for url, extra in (("http://r.example", ""), ("r.example", "    tls_verify: false\n")):
        line = _one_error(_podman(base.format(url=url, ca="certs/ca.pem", extra=extra)))
        assert "deploy.registry.ca_file: a CA file needs TLS that is verified" in line
    line = _one_error(_podman(base.format(url="r.example", ca="../ca.pem", extra="")))
    assert "deploy.registry.ca_file: '../ca.pem' leaves the repository" in line


def test_username_refuses_a_colon() -> None:
    text = _podman("  registry: {url: r.example, repository: a/b, username: 'ci:secret'}\n")
    line = _one_error(text)
    assert "deploy.registry.username: contains ':'" in line and "secret" not in line


def test_process_target_refuses_container_keys() -> None:
    errors = _errors(HEAD + "deploy:\n  container_port: 80\n  resources: {cpus: 1}\n")
    assert errors == [
        "plog.yml:5:3: deploy.container_port: 'container_port' applies to target podman or "
        "helm only (the target is process) (hint: add 'target: podman' under deploy, or "
        "remove the key)",
        "plog.yml:6:3: deploy.resources: 'resources' applies to target podman only (the target "
        "is process) (hint: with helm, give the chart its resources in deploy.helm.values (e.g. "
        "resources: {limits: {cpu: '1'}}), or remove the key)",
    ]


def test_unknown_keys_suggest_the_close_one() -> None:
    line = _one_error(_podman("  registry: {url: r.example, repository: a/b, tls_verfy: false}\n"))
    assert line.endswith("unknown key 'tls_verfy' (hint: did you mean 'tls_verify'?)")


def _repo(root: Path, config: str) -> Path:
    root.mkdir()
    shutil.copy(EXAMPLE / "openapi.yaml", root / "openapi.yaml")
    (root / "plog.yml").write_text(config)
    return root


def test_plog_validate_reports_the_deploy_rules(tmp_path: Path) -> None:
    good = _repo(tmp_path / "good", FULL)
    done = CliRunner().invoke(cli, ["validate", str(good / "plog.yml")])
    assert done.exit_code == 0, done.output
    bad = _repo(
        tmp_path / "bad",
        _podman(
            "  container_port: 0\n  registry: {url: r.example, repository: a/b, password: x}\n"
        ),
    )
    done = CliRunner().invoke(cli, ["validate", str(bad / "plog.yml")])
    assert done.exit_code == 2
    assert "plog.yml:6:19: deploy.container_port: 0 is not a port" in done.output
    assert "deploy.registry.password: unknown key 'password'" in done.output


def test_metrics_and_runners_parse() -> None:
    text = HEAD + "load: {runners: 4}\nmetrics: {prometheus: 'http://prom:9090/', token_env: T}\n"
    config = parse_config(text.encode())
    assert config.load.runners == 4
    assert config.metrics == MetricsConfig(prometheus="http://prom:9090", token_env="T")
    bare = parse_config((HEAD + "metrics: {prometheus: http://prom:9090}\n").encode())
    assert bare.metrics == MetricsConfig("http://prom:9090", None)
    assert (
        parse_config(HEAD.encode()).metrics is None
        and parse_config(HEAD.encode()).load.runners == 1
    )
