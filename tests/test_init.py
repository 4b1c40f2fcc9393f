"""plog init on repositories of several shapes: what it writes (and says where each
value came from), that ``plog validate`` accepts it or points at each placeholder's
key and line, hostile names kept as data, a command never run by init, and one real
smoke run of the example service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from plog_ci.cli import cli
from plog_ci.config.parse import load_config
from testing.repos import commit_files, git

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "petstore"
SWAGGER = """\
swagger: "2.0"
info: {title: demo, version: "1"}
basePath: /v1
paths:
  /items:
    get:
      responses: {"200": {description: ok}}
  /healthz:
    get:
      responses: {"200": {description: ok}}
"""
FLASK_APP = """\
from flask import Flask

application = Flask(__name__)
"""


def _repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def _init(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["init", "--repo", str(root), "--no-input", *args])


def _plog(*args: str) -> subprocess.CompletedProcess[str]:
    """The real ``plog`` command (its exit codes and error lines, as a user sees them)."""
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def _service(root: Path) -> dict[str, object]:
    config = load_config(root / "plog.yml")
    return {
        "run": config.service.run,
        "setup": config.service.setup,
        "cache": config.service.setup_cache,
        "health": config.service.health,
        "port": config.service.port,
        "openapi": config.openapi.path,
    }


def test_flask_app_with_requirements_and_a_swagger_file(tmp_path: Path) -> None:
    root = _repo(
        tmp_path / "svc",
        {
            "app.py": FLASK_APP,
            "requirements.txt": "flask\n",
            "api/swagger.yaml": SWAGGER,
            "api/deeper/other.yaml": "openapi: 3.0.0\n",
            "docs/config.yaml": "name: not a spec\n",
            "node_modules/x/openapi.yaml": "openapi: 3.0.0\n",
        },
    )
    result = _init(root)
    assert result.exit_code == 0, result.output
    found = _service(root)
    assert found["run"] == ".venv/bin/python -m flask --app app:application run --port {port}"
    assert found["setup"] == (
        "python -m venv .venv",
        ".venv/bin/python -m pip install -r requirements.txt",
    )
    assert found["cache"] is not None
    assert found["openapi"] == "api/swagger.yaml"  # the shallowest spec
    assert found["health"] == "/v1/healthz"  # under the Swagger basePath
    text = (root / "plog.yml").read_text()
    assert "# found in requirements.txt" in text
    assert "# guessed: a Flask application 'application' in app.py" in text
    assert "# found in api/swagger.yaml: GET /healthz" in text
    assert "valid" in result.output


def test_procfile_command_rewritten_for_plog(tmp_path: Path) -> None:
    root = _repo(
        tmp_path / "svc",
        {
            "Procfile": "release: ./migrate\nweb: gunicorn app:app --bind 0.0.0.0:$PORT "
            "--workers $WEB_CONCURRENCY\n",
            "requirements.txt": "gunicorn\n",
            "openapi.yaml": "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n",
        },
    )
    assert _init(root).exit_code == 0
    found = _service(root)
    assert found["run"] == (
        ".venv/bin/gunicorn app:app --bind 0.0.0.0:{port} --workers ${WEB_CONCURRENCY}"
    )
    assert found["health"] == "/"
    assert "# guessed: no health path found" in (root / "plog.yml").read_text()


def test_package_json_and_an_openapi_json_with_servers(tmp_path: Path) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "http://{host}/api/{version}", "variables": {
            "host": {"default": "x"}, "version": {"default": "v2"}}}],
        "paths": {"/ping": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }  # fmt: skip
    root = _repo(
        tmp_path / "svc",
        {
            "package.json": json.dumps({"scripts": {"start": "node server.js"}}),
            "package-lock.json": "{}",
            "server.js": "require('http').createServer().listen(process.env.PORT)\n",
            "openapi.json": json.dumps(spec),
        },
    )
    assert _init(root).exit_code == 0
    found = _service(root)
    assert found["run"] == "npm start"
    assert found["setup"] == ("npm ci",)
    cache = found["cache"]
    assert cache is not None and cache.key == ("package.json", "package-lock.json")  # type: ignore[attr-defined]
    assert cache.paths == ("node_modules",)  # type: ignore[attr-defined]
    assert found["health"] == "/api/v2/ping"
    assert found["port"] == 0  # the code reads PORT, which PLog sets


def test_dockerfile_and_pyproject_scripts(tmp_path: Path) -> None:
    docker = _repo(
        tmp_path / "docker",
        {
            "Dockerfile": 'FROM python:3.12\nEXPOSE 8000\nCMD ["gunicorn", "-b", '
            '"0.0.0.0:8000", "app:app"]\n',
            "openapi.yaml": "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
        },
    )
    assert _init(docker).exit_code == 0
    assert _service(docker)["run"] == "gunicorn -b 0.0.0.0:{port} app:app"
    fixed = _repo(
        tmp_path / "fixed",
        {
            "Containerfile": "FROM x\nEXPOSE 8080\nCMD python server.py\n",
            "server.py": "LISTEN = 8080\n",
            "openapi.yaml": "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
        },
    )
    assert _init(fixed).exit_code == 0
    assert _service(fixed)["port"] == 8080
    project = _repo(
        tmp_path / "project",
        {
            "pyproject.toml": '[project]\nname = "x"\nversion = "1"\n[project.scripts]\n'
            'x-admin = "x:admin"\nx-serve = "x:serve"\n',
            "openapi.yaml": "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n",
        },
    )
    assert _init(project).exit_code == 0
    found = _service(project)
    assert found["run"] == ".venv/bin/x-serve"
    assert found["setup"] == ("python -m venv .venv", ".venv/bin/python -m pip install .")


def test_nothing_recognisable_gives_placeholders_validate_points_at(tmp_path: Path) -> None:
    root = _repo(tmp_path / "svc", {"README.md": "hello\n"})
    result = _init(root)
    assert result.exit_code == 2
    text = (root / "plog.yml").read_text()
    run_line = next(i for i, line in enumerate(text.splitlines(), 1) if "  run:" in line)
    spec_line = next(i for i, line in enumerate(text.splitlines(), 1) if "openapi:" in line)
    validate = CliRunner().invoke(cli, ["validate", str(root / "plog.yml")])
    assert validate.exit_code == 2
    errors = validate.output.splitlines()
    assert errors[0].startswith(f"{root / 'plog.yml'}:{run_line}:8: service.run: 'TODO: ")
    assert errors[1].startswith(f"{root / 'plog.yml'}:{spec_line}:10: openapi: 'TODO: ")
    assert "placeholder plog init left" in errors[0]


def test_hostile_names_are_data_and_init_runs_nothing(tmp_path: Path) -> None:
    name = 'we\'ird "${HOME}" $(id).yaml'
    canary = tmp_path / "CANARY"
    root = _repo(
        tmp_path / "svc",
        {
            name: "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n",
            "Procfile": f"web: $(touch {canary}) && python app.py; touch {canary}2\n",
        },
    )
    result = _plog("init", "--repo", str(root), "--run")
    # The command needs a shell: init writes a placeholder (validate refuses it, so
    # there is no smoke run) and keeps the command found in a comment, as data.
    assert result.returncode == 2
    assert "shell syntax" in result.stderr and "TODO     service.run" in result.stderr
    assert "Traceback" not in result.stderr
    assert not canary.exists() and not Path(f"{canary}2").exists()
    text = (root / "plog.yml").read_text()
    assert f"$(touch {canary}) && python app.py; touch {canary}2" in text
    assert _spec_in(text) == name
    validate = CliRunner().invoke(cli, ["validate", str(root / "plog.yml")])
    assert validate.exit_code == 2 and "service.run: 'TODO: " in validate.output


def _spec_in(text: str) -> object:
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(text)
    assert isinstance(doc, dict)
    return doc["openapi"]


def test_a_command_only_a_shell_runs_becomes_a_placeholder_with_it_beside(
    tmp_path: Path,
) -> None:
    root = _repo(
        tmp_path / "svc",
        {
            "Procfile": "web: cd api && python main.py --port $PORT\n",
            "openapi.yaml": "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n",
        },
    )
    result = _init(root)
    assert result.exit_code == 2
    lines = (root / "plog.yml").read_text().splitlines()
    number, run = next((i, line) for i, line in enumerate(lines, 1) if "  run:" in line)
    assert run.startswith("  run: 'TODO: one command that needs no shell")
    assert "# found 'cd api && python main.py --port {port}' in Procfile (web:);" in run
    assert "'&&' is shell syntax, and no shell runs this command" in run
    assert "e.g. 'sh start.sh'; 'cd DIR' is service.workdir" in run
    assert "TODO     service.run: found 'cd api && python" in result.output
    validate = CliRunner().invoke(cli, ["validate", str(root / "plog.yml")])
    assert validate.output.startswith(
        f"{root / 'plog.yml'}:{number}:8: service.run: 'TODO: one command that needs no shell"
    )


BEARER_SPEC = """\
openapi: 3.0.3
info: {title: t, version: "1"}
security: [{bearerAuth: []}]
components:
  securitySchemes:
    bearerAuth: {type: http, scheme: bearer, bearerFormat: JWT}
    keyAuth: {type: apiKey, in: header, name: X-Key}
paths:
  /health:
    get:
      security: []
      responses: {"200": {description: ok}}
  /items:
    get:
      responses: {"200": {description: ok}}
  /other:
    get:
      security: [{keyAuth: []}]
      responses: {"200": {description: ok}}
  /more:
    get:
      responses: {"200": {description: ok}}
"""
QUERY_KEY_SPEC = """\
openapi: 3.1.0
info: {title: t, version: "1"}
components:
  securitySchemes:
    key: {type: apiKey, in: query, name: api_key}
paths:
  /items:
    get:
      security: [{key: []}]
      responses: {"200": {description: ok}}
"""
SWAGGER_BASIC = """\
swagger: "2.0"
info: {title: t, version: "1"}
securityDefinitions:
  basicAuth: {type: basic}
security: [{basicAuth: []}]
paths:
  /items:
    get:
      responses: {"200": {description: ok}}
"""
OAUTH_SPEC = """\
openapi: 3.0.3
info: {title: t, version: "1"}
components:
  securitySchemes:
    oidc: {type: openIdConnect, openIdConnectUrl: "https://id.example.com/.well-known"}
paths:
  /items:
    get:
      security: [{oidc: [read]}]
      responses: {"200": {description: ok}}
"""


@pytest.mark.parametrize(
    ("spec_name", "spec", "auth", "comment"),
    [
        (
            "openapi.yaml",
            BEARER_SPEC,
            {"type": "bearer", "env": "API_TOKEN"},
            "guessed from the spec's securitySchemes.bearerAuth: set API_TOKEN in the environment",
        ),
        (
            "openapi.yaml",
            QUERY_KEY_SPEC,
            {"type": "api_key", "env": "API_KEY", "name": "api_key", "in": "query"},
            "guessed from the spec's securitySchemes.key: set API_KEY in the environment",
        ),
        (
            "swagger.yaml",
            SWAGGER_BASIC,
            {"type": "basic", "username_env": "API_USER", "env": "API_PASSWORD"},
            "guessed from the spec's securitySchemes.basicAuth: set API_USER and "
            "API_PASSWORD in the environment",
        ),
        (
            "openapi.yaml",
            OAUTH_SPEC,
            {"type": "bearer", "env": "API_TOKEN"},
            "guessed from the spec's securitySchemes.oidc: set API_TOKEN in the environment "
            "(a token from the openIdConnect provider: PLog does not fetch it)",
        ),
    ],
)
def test_load_auth_guessed_from_the_specs_security_schemes(
    tmp_path: Path, spec_name: str, spec: str, auth: dict[str, str], comment: str
) -> None:
    root = _repo(
        tmp_path / "svc",
        {spec_name: spec, "Procfile": "web: ./serve --port $PORT\n"},
    )
    result = _init(root)
    assert result.exit_code == 0, result.output
    text = (root / "plog.yml").read_text()
    auth_line = next(line for line in text.splitlines() if line.startswith("  auth:"))
    assert auth_line.endswith(f"# {comment}")
    assert "guessed  load.auth: " in result.output
    config = load_config(root / "plog.yml").load.auth
    assert config is not None
    written = {
        "type": config.type,
        "env": config.env,
        "username_env": config.username_env,
        "name": config.name,
        "in": config.location if config.type == "api_key" else None,
    }
    assert {k: v for k, v in written.items() if v is not None} == auth


def test_no_auth_when_no_operation_asks_for_credentials(tmp_path: Path) -> None:
    spec = BEARER_SPEC.replace("security: [{bearerAuth: []}]\n", "").replace(
        "      security: [{keyAuth: []}]\n", ""
    )
    root = _repo(tmp_path / "svc", {"openapi.yaml": spec, "Procfile": "web: ./serve\n"})
    assert _init(root).exit_code == 0
    assert "auth:" not in (root / "plog.yml").read_text()
    assert load_config(root / "plog.yml").load.auth is None


def test_an_existing_plog_yml_is_kept_unless_force(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    root = _repo(tmp_path / "svc", {"openapi.yaml": "openapi: 3.0.3\n"})
    (root / "plog.yml").symlink_to(outside)
    refused = _plog("init", "--repo", str(root))
    assert refused.returncode == 2 and "already exists" in refused.stderr
    assert "--force" in refused.stderr
    _init(root, "--force")
    assert outside.read_text() == "keep me\n"  # never written through the link
    assert not (root / "plog.yml").is_symlink()


def test_smoke_run_of_the_example_from_a_procfile(tmp_path: Path) -> None:
    """The one real run: the example service, its command in a Procfile, no plog.yml;
    ``plog init --run`` writes it and gives the first verdict from the working tree."""
    root = tmp_path / "svc"
    root.mkdir()
    git(root, "init", "--quiet")
    commit_files(
        root,
        {
            "app.py": (EXAMPLE / "app.py").read_text(),
            "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(),
            "Procfile": "web: python app.py --port $PORT\n",
        },
    )
    done = subprocess.run(
        [sys.executable, "-m", "plog_ci", "init", "--repo", str(root), "--run", "--no-input"],
        env={**os.environ, "PLOG_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[1].startswith("PASS "), done.stdout
    assert "Traceback" not in done.stderr
    assert list((root / "plog-reports").glob("*.md"))
    # Nothing committed in the user's repository: the new files are left to commit.
    assert git(root, "status", "--porcelain").splitlines() == ["?? plog-reports/", "?? plog.yml"]
