import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from plog_ci.cli import cli
from plog_ci.runner.operator import validate_testrun
from testing.k6_tools import k6_inspect
from testing.paths import ROOT
from testing.repos import commit_files

PETS = str(ROOT / "examples/petstore/openapi.yaml")


def test_gen_writes_a_script_and_a_testrun(tmp_path: Path) -> None:
    out, manifest = tmp_path / "script.js", tmp_path / "testrun.json"
    result = CliRunner().invoke(
        cli,
        [
            "gen",
            PETS,
            "--config",
            str(ROOT / "examples/petstore/plog.yml"),
            "--operations",
            "GET /pets,POST /pets",
            "--profile",
            "smoke",
            "-o",
            str(out),
            "--k6-operator",
            str(manifest),
            "--parallelism",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert k6_inspect(out.read_text(), tmp_path).returncode == 0
    config_map, testrun = json.loads(manifest.read_text())
    validate_testrun(testrun)
    assert testrun["spec"]["parallelism"] == 3
    assert config_map["data"]["script.js"] == out.read_text()


def test_gen_changed_needs_a_base_and_unknown_operations_fail(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["gen", PETS, "--operations", "changed"]).exit_code == 2
    bad = runner.invoke(cli, ["gen", PETS, "--operations", "GET /nope"])
    assert bad.exit_code == 2 and "GET /nope" in bad.output
    old = ROOT / "tests/data/openapi/v3/petstore.yaml"
    changed = runner.invoke(
        cli,
        ["gen", PETS, "--operations", "changed", "--base", str(old), "-o", str(tmp_path / "c.js")],
    )
    assert changed.exit_code == 0, changed.output


# -- plog gen --config takes load.operations (issue 16, as a new user met it) ---------

MUSEUM = ROOT / "tests/data/museum/openapi.yaml"
MUSEUM_PLOG = """\
version: 1
service:
  run: python app.py --port {port}
openapi: openapi.yaml
load:
  operations: ["GET /special-events/{id}", "GET /museum-hours"]
"""


def _plan_names(script: str) -> list[str]:
    found = re.search(r"const PLAN = (\{.*?\});\n", script)
    assert found is not None
    return [op["name"] for op in json.loads(found[1])["operations"]]


def _gen(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", "gen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def museum_repo(new_repo: Callable[..., Path]) -> Path:
    repo = new_repo("museum")
    commit_files(repo, {"openapi.yaml": MUSEUM.read_bytes(), "plog.yml": MUSEUM_PLOG})
    return repo


def test_gen_selects_the_configs_load_operations(museum_repo: Path) -> None:
    result = _gen(museum_repo, "openapi.yaml", "--config", "plog.yml", "-o", "s.js")
    assert result.returncode == 0, result.stderr
    assert "wrote s.js (2 operations)" in result.stderr
    names = _plan_names((museum_repo / "s.js").read_text(encoding="utf-8"))
    assert sorted(names) == ["GET /museum-hours", "GET /special-events/{eventId}"]


def test_an_explicit_operations_option_wins_over_the_config(museum_repo: Path) -> None:
    result = _gen(museum_repo, "openapi.yaml", "--config", "plog.yml", "--operations", "all")
    assert result.returncode == 0, result.stderr
    assert len(_plan_names(result.stdout)) == 8
    one = _gen(museum_repo, "openapi.yaml", "--config", "plog.yml", "--operations", "POST /tickets")
    assert _plan_names(one.stdout) == ["POST /tickets"]


def test_changed_in_the_config_is_all_without_a_base_and_changed_with_one(
    museum_repo: Path,
) -> None:
    changed = MUSEUM_PLOG.replace(
        'operations: ["GET /special-events/{id}", "GET /museum-hours"]', "operations: changed"
    )
    commit_files(museum_repo, {"plog.yml": changed})
    result = _gen(museum_repo, "openapi.yaml", "--config", "plog.yml")
    assert result.returncode == 0, result.stderr
    assert len(_plan_names(result.stdout)) == 8
    old = MUSEUM.read_text(encoding="utf-8").replace(
        "  /tickets:\n    post:", "  /tickets:\n    put:"
    )
    (museum_repo / "old.yaml").write_text(old, encoding="utf-8")
    based = _gen(museum_repo, "openapi.yaml", "--config", "plog.yml", "--base", "old.yaml")
    assert based.returncode == 0, based.stderr
    assert _plan_names(based.stdout) == ["POST /tickets"]


def test_gen_help_says_where_operations_come_from() -> None:
    text = " ".join(CliRunner().invoke(cli, ["gen", "--help"]).output.split())
    assert "default: plog.yml's load.operations with --config, else all" in text
    assert "'changed' there means all unless --base is given" in text
    assert (
        "--root DIR Folder that SPEC, --base and every file their $refs name must stay inside"
        in text
    )


# -- plog gen finds the repository root as plog diff does (multi-file specs) ----------

# OAI's petstore-separate example: spec/swagger.yaml refers to ../common/Error.yaml.
SEPARATE = {
    "spec/swagger.yaml": """\
swagger: "2.0"
info: {title: Swagger Petstore, version: "1.0.0"}
host: 127.0.0.1:18082
basePath: /api
schemes: [http]
paths:
  /pets:
    get:
      parameters:
        - $ref: "parameters.yaml#/limitsParam"
      responses:
        "200":
          description: pet response
          schema: {type: array, items: {$ref: "Pet.yaml"}}
        default:
          description: unexpected error
          schema: {$ref: "../common/Error.yaml"}
""",
    "spec/parameters.yaml": """\
limitsParam:
  name: limit
  in: query
  description: maximum number of results to return
  required: true
  type: integer
  format: int32
""",
    "spec/Pet.yaml": "type: object\nrequired: [name]\nproperties: {name: {type: string}}\n",
    "common/Error.yaml": """\
type: object
required: [code, message]
properties: {code: {type: integer, format: int32}, message: {type: string}}
""",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def test_gen_loads_a_multi_file_spec_in_a_git_repository(new_repo: Callable[..., Path]) -> None:
    repo = new_repo("separate")
    commit_files(repo, dict(SEPARATE))
    diffed = subprocess.run(
        [sys.executable, "-m", "plog_ci", "diff", "spec/swagger.yaml", "spec/swagger.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert diffed.returncode == 0, diffed.stderr
    for cwd, spec in ((repo, "spec/swagger.yaml"), (repo / "spec", "swagger.yaml")):
        result = _gen(cwd, spec)
        assert result.returncode == 0, result.stderr
        assert _plan_names(result.stdout) == ["GET /pets"]
        assert '"query": ["limit=' in result.stdout  # parameters.yaml was read


def test_outside_git_the_root_is_the_specs_folder_and_root_widens_it(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(project, SEPARATE)
    refused = _gen(tmp_path, str(project / "spec/swagger.yaml"))
    assert refused.returncode == 2
    said = " ".join(refused.stderr.split())
    assert "$ref '../common/Error.yaml'" in said and "Traceback" not in said
    assert (
        f"hint: no git repository holds the spec, so $refs may only name files under its "
        f"folder {project / 'spec'}; pass --root DIR, a folder that holds the spec and every "
        "file it refers to, to widen that"
    ) in said
    widened = _gen(tmp_path, str(project / "spec/swagger.yaml"), "--root", str(project))
    assert widened.returncode == 0, widened.stderr
    assert _plan_names(widened.stdout) == ["GET /pets"]
    relative = _gen(project / "spec", "swagger.yaml", "--root", "..")
    assert relative.returncode == 0, relative.stderr


def test_root_confines_the_spec_and_its_refs(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(project, SEPARATE)
    # The spec itself outside --root.
    other = tmp_path / "other"
    other.mkdir()
    outside = _gen(tmp_path, str(project / "spec/swagger.yaml"), "--root", str(other))
    assert outside.returncode == 2
    assert f"is not inside --root {other}" in " ".join(outside.stderr.split())
    # A $ref that leaves --root, plainly or through a symlink.
    (project / "spec/swagger.yaml").write_text(
        SEPARATE["spec/swagger.yaml"].replace("../common/Error.yaml", "../../secret.yaml"),
        encoding="utf-8",
    )
    (tmp_path / "secret.yaml").write_text("type: string\n", encoding="utf-8")
    escaped = _gen(tmp_path, str(project / "spec/swagger.yaml"), "--root", str(project))
    assert escaped.returncode == 2
    assert "the path leaves the repository root" in escaped.stderr
    (project / "common/Error.yaml").unlink()
    (project / "common/Error.yaml").symlink_to(tmp_path / "secret.yaml")
    (project / "spec/swagger.yaml").write_text(SEPARATE["spec/swagger.yaml"], encoding="utf-8")
    linked = _gen(tmp_path, str(project / "spec/swagger.yaml"), "--root", str(project))
    assert linked.returncode == 2
    assert "outside the repository root" in linked.stderr
    missing = _gen(tmp_path, str(project / "spec/swagger.yaml"), "--root", str(tmp_path / "nope"))
    assert missing.returncode == 2
