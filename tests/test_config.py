"""plog.yml: golden error messages, and the happy path into dataclasses."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from plog_ci.config import Config, LoadConfig, OpenAPIConfig, ReportConfig, parse_config
from plog_ci.config.hosts import forbidden
from plog_ci.errors import ConfigError
from plog_ci.gitrepo import GitRepo
from plog_ci.report.assemble import report_dir

GOLDEN = Path(__file__).parent / "golden" / "config"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yml"))


def _errors(data: bytes) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "plog.yml")
    text = "\n".join(info.value.errors)
    if info.value.hint and len(info.value.errors) == 1 and "hint:" not in text:
        text += f"\n  hint: {info.value.hint}"
    return text + "\n"


@pytest.mark.parametrize("case", CASES)
def test_golden_error(case: str) -> None:
    got = _errors((GOLDEN / f"{case}.yml").read_bytes())
    expected_path = GOLDEN / f"{case}.txt"
    if os.environ.get("PLOG_UPDATE_GOLDEN") == "1":
        expected_path.write_text(got, encoding="utf-8")
    assert got == expected_path.read_text(encoding="utf-8")


def test_every_golden_case_names_a_position() -> None:
    assert len(CASES) >= 12
    for case in CASES:
        first = (GOLDEN / f"{case}.txt").read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("plog.yml"), case


def test_valid_config_maps_to_dataclasses() -> None:
    config = parse_config(
        b"""version: 1
service:
  run: python app.py --port {port}
  port: 0
  health: /health
  env: {DEBUG: true, WORKERS: 2}
  startup_timeout: 1m30s
openapi: {path: api/openapi.yaml, allow_hosts: [schemas.example.com]}
load:
  profile: smoke
  rate: 12.5
  duration: 500ms
  operations: [GET /pets, POST /pets]
gates:
  - p(95) < 1s
  - {check: error_rate < 1%, operation: POST /pets, level: warn, key: true}
report: {dir: out}
"""
    )
    assert config.service.startup_timeout_s == 90
    assert config.service.env == (("DEBUG", "true"), ("WORKERS", "2"))
    assert config.openapi.path == "api/openapi.yaml"
    assert config.openapi.allow_hosts == ("schemas.example.com",)
    assert config.load.duration_s == 0.5
    assert config.load.rate == 12.5
    assert config.load.operations == ("GET /pets", "POST /pets")
    assert config.gates[0].metric == "p95" and config.gates[0].threshold == 1000
    assert config.gates[1].operation == "POST /pets"
    assert config.gates[1].level == "warn" and config.gates[1].key
    assert config.report.dir == "out"
    assert len(config.digest) == 64


def test_defaults() -> None:
    config = parse_config(b"version: 1\nservice: {run: ./serve}\nopenapi: spec.json\n")
    assert (config.compare.mode, config.compare.blocks, config.compare.replicas) == (
        "interleaved",
        20,
        1,
    )
    duet = parse_config(
        b"version: 1\nservice: {run: ./serve}\nopenapi: spec.json\n"
        b"compare: {mode: duet, replicas: 3}\n"
    )
    assert (duet.compare.mode, duet.compare.replicas) == ("duet", 3)
    assert config.compare.turn_s == 0.25
    turns = parse_config(
        b"version: 1\nservice: {run: ./serve}\nopenapi: spec.json\ncompare: {turn: 2s}\n"
    )
    assert turns.compare.turn_s == 2.0
    assert config.load.operations == "changed"
    assert config.load.duration_s == 30
    assert config.service.health == "/"
    assert config.gates == ()


def test_missing_file(tmp_path: Path) -> None:
    from plog_ci.config import load_config

    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "plog.yml: no such file" in str(info.value)
    assert "commit a plog.yml" in str(info.value)


def test_schema_file_is_valid_json_schema() -> None:
    import jsonschema

    from plog_ci.config.problems import schema

    jsonschema.Draft202012Validator.check_schema(schema())


def test_compiled_validator_matches_the_schema() -> None:
    from plog_ci.config import schema_codegen

    assert schema_codegen.TARGET.read_text(encoding="utf-8") == schema_codegen.generate(), (
        "run: python -m plog_ci.config.schema_codegen"
    )


def test_valid_config_does_not_import_jsonschema() -> None:
    import sys

    code = (
        "import sys; from plog_ci.config import parse_config; "
        "parse_config(b'version: 1\\nservice: {run: x}\\nopenapi: o.yaml\\n'); "
        "print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_allow_forks() -> None:
    assert not parse_config(b"version: 1\nservice: {run: x}\nopenapi: o\n").allow_forks
    assert parse_config(
        b"version: 1\nservice: {run: x}\nopenapi: o\nallow_forks: true\n"
    ).allow_forks


def _with_report(directory: str) -> Config:
    config = parse_config(b"version: 1\nservice: {run: x}\nopenapi: o.yaml\n")
    return replace(config, report=ReportConfig(directory))


def test_report_dir_is_confined_where_it_is_used(
    new_repo: Callable[..., Path], tmp_path: Path, plog_home: Path
) -> None:
    repo = new_repo()
    git = GitRepo(repo)
    assert report_dir(_with_report("plog-reports"), git, plog_home) == repo / "plog-reports"
    # A Config built without parse_config is checked all the same.
    with pytest.raises(ConfigError, match=r"report\.dir: '\.\./x' leaves the repository"):
        report_dir(_with_report("../x"), git, plog_home)
    with pytest.raises(ConfigError, match="is an absolute path"):
        report_dir(_with_report(str(tmp_path / "x")), git, plog_home)
    # plog.yml's text is fine, but the directory is a symlink out of the repository.
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "plog-reports").symlink_to(outside)
    with pytest.raises(
        ConfigError, match=r"resolves to .*outside/sub, outside .*repo \(a symlink\?\)"
    ):
        report_dir(_with_report("plog-reports/sub"), git, plog_home)


def test_report_dir_of_a_bare_repository_stays_under_the_state_directory(
    tmp_path: Path, plog_home: Path
) -> None:
    bare = tmp_path / "server.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    git = GitRepo(bare)
    root = plog_home / "reports" / "server.git"
    assert report_dir(_with_report("r"), git, plog_home) == root / "r"
    with pytest.raises(ConfigError, match="leaves the repository"):
        report_dir(_with_report("../../../escaped"), git, plog_home)
    root.mkdir(parents=True)
    (root / "r").symlink_to(tmp_path)
    with pytest.raises(ConfigError, match="a symlink"):
        report_dir(_with_report("r"), git, plog_home)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "[::1]", "169.254.169.254", "fe80::1", "metadata.google.internal"],
)
def test_allow_lists_refuse_local_addresses_however_the_config_is_built(host: str) -> None:
    with pytest.raises(ConfigError, match=r"openapi\.allow_hosts"):
        OpenAPIConfig("openapi.yaml", (host,))
    with pytest.raises(ConfigError, match=r"load\.allow_hosts"):
        LoadConfig(allow_hosts=(host,))


def test_allow_lists_keep_ordinary_hosts() -> None:
    hosts = ("api.internal", "10.0.0.7", "schemas.example.com", "[2001:db8::1]")
    assert LoadConfig(allow_hosts=hosts).allow_hosts == hosts
    assert all(forbidden(h) is None for h in hosts)


def test_an_allowed_name_that_resolves_to_metadata_is_not_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """openapi.allow_hosts names a public host, whose DNS answers 169.254.169.254."""
    from plog_ci.config import hosts
    from plog_ci.openapi.errors import RefError
    from plog_ci.openapi.load import load_spec_file

    def rebound(host: str, *args: object, **kwargs: object) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]

    monkeypatch.setattr(hosts.socket, "getaddrinfo", rebound)
    spec = (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        '200':\n          description: ok\n          content:\n"
        "            application/json:\n              schema:\n"
        "                $ref: 'https://schemas.example.com/x.yaml'\n"
    )
    (tmp_path / "openapi.yaml").write_text(spec, encoding="utf-8")
    with pytest.raises(RefError, match=r"169\.254\.169\.254, a cloud metadata address"):
        load_spec_file(tmp_path / "openapi.yaml", allow_hosts=("schemas.example.com",))


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ("{type: bearer, env: API_TOKEN}", ("bearer", "API_TOKEN", None, None, "header")),
        ("{type: basic, username: bob, env: PW}", ("basic", "PW", "bob", None, "header")),
        (
            "{type: api_key, env: KEY, name: api_key, in: query}",
            ("api_key", "KEY", None, "api_key", "query"),
        ),
        (
            "{type: api_key, env: KEY, name: X-API-Key}",
            ("api_key", "KEY", None, "X-API-Key", "header"),
        ),
    ],
)
def test_every_auth_type_validates_as_the_readme_writes_it(
    auth: str, expected: tuple[str, str, str | None, str | None, str]
) -> None:
    # The schema gives 'in' no default: a compiled validator that fills defaults in would
    # otherwise add 'in' to bearer and basic, which then fail "'in' applies to api_key only".
    config = parse_config(
        f"version: 1\nservice: {{run: ./serve}}\nopenapi: openapi.yaml\nload:\n  auth: {auth}\n"
    )
    a = config.load.auth
    assert a is not None
    assert (a.type, a.env, a.username, a.name, a.location) == expected


@pytest.mark.parametrize(
    ("command", "found"),
    [
        ("cd app && python main.py", "&&"),
        ("a || b", "||"),
        ("gunicorn app:app | tee log", "|"),
        ("python a.py; python b.py", ";"),
        ("python a.py;", ";"),
        ("python a.py &", "&"),
        ("python a.py > out.log", ">"),
        ("python a.py >> out.log", ">>"),
        ("python a.py < in.txt", "<"),
        ("python a.py 2>&1", "2>&1"),
        ("serve $(cat port)", "$("),
        ("export PORT={port}", "export"),
        ("source .venv/bin/activate", "source"),
        (". .venv/bin/activate", "."),
        ("set -e", "set"),
        ("cd app", "cd"),
        ('python -c "print(1); print(2)"', None),
        ("python app.py --port {port} --name ${NAME} --pid $$", None),
        ("grep 'a|b' 'x > y' \"&&\"", None),
        ("python -m uvicorn app:app --host 127.0.0.1", None),
        ("./cdrom --set x", None),
    ],
)
def test_shell_syntax_outside_quotes(command: str, found: str | None) -> None:
    from plog_ci.config.shell_syntax import shell_syntax

    assert shell_syntax(command) == found
