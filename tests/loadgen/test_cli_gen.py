import json

from click.testing import CliRunner

from plog_ci.cli import cli
from plog_ci.runner.operator import validate_testrun
from testing.k6_tools import k6_inspect
from testing.paths import ROOT

PETS = str(ROOT / "examples/petstore/openapi.yaml")


def test_gen_writes_a_script_and_a_testrun(tmp_path):
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


def test_gen_changed_needs_a_base_and_unknown_operations_fail(tmp_path):
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
