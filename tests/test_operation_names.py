"""Operation names in plog.yml (issue 16, item 6): one matcher for load.operations, gates
and load.overrides; a name the spec lacks is refused at plog.yml:LINE:COL with a
did-you-mean, by ``plog validate`` and before ``plog run`` loads anything.

Field cases: tests/data/field-cases/gate-names/ (README beside).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from plog_ci.analysis.gates import evaluate
from plog_ci.config import parse_config
from plog_ci.config.operations import bind_operations
from plog_ci.errors import ConfigError
from plog_ci.gate_grammar import parse_gate
from plog_ci.loadgen.thresholds import thresholds
from plog_ci.openapi.load import load_spec_file
from plog_ci.openapi.model import Spec
from plog_ci.openapi.names import closest, find_operation, same_operation
from plog_ci.results import OperationStats

CASES = Path(__file__).parent / "data" / "field-cases" / "gate-names"
RENAMED = (CASES / "plog.renamed-param.yml").read_bytes()
UNKNOWN = (CASES / "plog.unknown-operation.yml").read_bytes()


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec_file(CASES / "openapi.yaml")


def plog(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("GET /jobs/{id}", "GET /jobs/{jobId}"),
        ("GET /jobs/{jobId}", "GET /jobs/{jobId}"),
        ("get  /jobs/{x} ", "GET /jobs/{jobId}"),
        ("POST /jobs/{id}:cancel", "POST /jobs/{jobId}:cancel"),
        ("GET /jobs/{id}:cancel", None),  # the path exists, not with GET
        ("GET /jobs/", None),  # a trailing slash is another path
        ("GET /jobs", None),
        ("GET jobs/{id}", None),  # not METHOD /path
        ("FETCH /jobs/{id}", None),  # not a method of OpenAPI
    ],
)
def test_names_match_templates_whatever_the_parameter_names(
    spec: Spec, name: str, key: str | None
) -> None:
    op = find_operation(spec, name)
    assert (op.key if op else None) == key


def test_same_operation_is_the_rule_of_every_place() -> None:
    assert same_operation("GET /jobs/{id}", "GET /jobs/{jobId}")
    assert same_operation("get /a/{x}/b/{y}", "GET /a/{p}/b/{q}")
    assert not same_operation("GET /jobs/{id}", "POST /jobs/{jobId}")
    assert not same_operation("GET /jobs/{id}", "GET /jobs/{id}/x")


def test_did_you_mean_puts_the_same_path_under_another_method_first(spec: Spec) -> None:
    assert closest(spec.operations, "GET /jobs/{id}:cancel") == [
        "POST /jobs/{jobId}:cancel",
        "GET /jobs/{jobId}",
    ]
    assert closest(spec.operations, "DELETE /jobs/{id}")[0] == "GET /jobs/{jobId}"
    assert closest(spec.operations, "GET /completely/else") == []


def test_renamed_parameter_gate_binds_to_the_specs_operation(spec: Spec) -> None:
    config = bind_operations(parse_config(RENAMED), spec, RENAMED)
    assert [g.operation for g in config.gates] == ["GET /jobs/{jobId}"]


def test_unknown_operation_is_refused_with_position_and_hint(spec: Spec) -> None:
    with pytest.raises(ConfigError) as info:
        bind_operations(parse_config(UNKNOWN), spec, UNKNOWN)
    assert info.value.errors == [
        "plog.yml:10:43: gates[0].operation: 'GET /jobs/{id}:cancel' is not an operation of "
        "openapi.yaml (hint: did you mean 'POST /jobs/{jobId}:cancel' or 'GET /jobs/{jobId}'?)"
    ]


EVERY_PLACE = """\
version: 1
service:
  run: python app.py --port {port}
openapi: openapi.yaml
load:
  operations: ['GET /jobs/{id}', 'PUT /jobs/{id}']
  overrides:
    get /jobs/{x}:
      path: {x: from-override}
    GET /jobs/{jobId}:
      path: {jobId: twice}
    POST /job/{id}:cancel:
      path: {jobId: j-2}
gates:
  - p95 < 300ms
  - {check: "p95 < 1ms", operation: "GET /jobs/{id}"}
  - {check: "p95 < 1ms", operation: "GET /jobz/{id}"}
"""


def test_every_place_that_names_an_operation_is_checked(spec: Spec) -> None:
    with pytest.raises(ConfigError) as info:
        bind_operations(parse_config(EVERY_PLACE), spec, EVERY_PLACE)
    assert info.value.errors == [
        "plog.yml:6:34: load.operations[1]: 'PUT /jobs/{id}' is not an operation of "
        "openapi.yaml (hint: did you mean 'GET /jobs/{jobId}' or 'POST /jobs/{jobId}:cancel'?)",
        "plog.yml:10:5: load.overrides.GET /jobs/{jobId}: names the same operation as "
        "load.overrides['get /jobs/{x}'] (GET /jobs/{jobId} in openapi.yaml) "
        "(hint: merge the two entries into one)",
        "plog.yml:12:5: load.overrides.POST /job/{id}:cancel: 'POST /job/{id}:cancel' is not an "
        "operation of openapi.yaml (hint: did you mean 'POST /jobs/{jobId}:cancel'?)",
        "plog.yml:17:37: gates[2].operation: 'GET /jobz/{id}' is not an operation of "
        "openapi.yaml (hint: did you mean 'GET /jobs/{jobId}'?)",
    ]


def test_bound_names_reach_the_scripts_thresholds_and_overrides(spec: Spec) -> None:
    from plog_ci.loadgen.script import generate

    text = EVERY_PLACE.replace("    GET /jobs/{jobId}:\n      path: {jobId: twice}\n", "")
    text = text.replace("POST /job/", "POST /jobs/").replace("GET /jobz/", "GET /jobs/")
    text = text.replace(", 'PUT /jobs/{id}'", "")
    config = bind_operations(parse_config(text), spec, text)
    assert config.load.operations == ("GET /jobs/{jobId}",)
    assert [o.operation for o in config.load.overrides] == [
        "GET /jobs/{jobId}",
        "POST /jobs/{jobId}:cancel",
    ]
    # {x} is the spec's jobId by its place in the override's key.
    assert [o.path for o in config.load.overrides] == [
        (("jobId", "from-override"),),
        (("jobId", "j-2"),),
    ]
    ops = list(spec.operations.values())
    script = generate(spec, ops, config.load, gates=config.gates)
    found = re.search(r"export const options = Object.assign\((\{.*?\}), guardOptions", script.text)
    assert found is not None
    options = json.loads(found[1])
    selector = script.selectors["GET /jobs/{jobId}"]
    assert options["thresholds"][f"http_req_duration{{{selector}}}"].count("p(95)<1") == 2
    plan = re.search(r"const PLAN = (\{.*?\});\n", script.text)
    assert plan is not None
    assert "from-override" in plan[1] and "j-2" in plan[1]


def test_thresholds_and_verdict_match_names_without_binding() -> None:
    # The same matcher where gates meet the script and the measurements, whatever
    # the caller bound: plog.yml's {id} is the spec's {jobId}.
    gate = parse_gate("p95 < 1ms", operation="GET /jobs/{id}")
    limits = thresholds((gate,), {"GET /jobs/{jobId}": "scenario:op0"})
    assert limits["http_req_duration{scenario:op0}"] == ["p(95)<1"]
    measured = OperationStats("GET /jobs/{jobId}", 20, 0, 10.0, 1.0, 9, 9, 10, 12, 13, 14)
    verdict = evaluate((gate,), {"GET /jobs/{jobId}": measured}, measured)
    assert verdict.status == "fail"
    assert "p95 = 12.0ms" in verdict.reason


# -- plog validate, as a user runs it --------------------------------------------


def _project(tmp_path: Path, plog_yml: bytes) -> Path:
    (tmp_path / "openapi.yaml").write_bytes((CASES / "openapi.yaml").read_bytes())
    (tmp_path / "plog.yml").write_bytes(plog_yml)
    return tmp_path


def test_validate_refuses_the_unknown_operation_field_case(tmp_path: Path) -> None:
    result = plog("validate", cwd=_project(tmp_path, UNKNOWN))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines()[0] == (
        "plog.yml:10:43: gates[0].operation: 'GET /jobs/{id}:cancel' is not an operation of "
        "openapi.yaml (hint: did you mean 'POST /jobs/{jobId}:cancel' or 'GET /jobs/{jobId}'?)"
    )


def test_validate_accepts_the_renamed_parameter_field_case(tmp_path: Path) -> None:
    result = plog("validate", cwd=_project(tmp_path, RENAMED))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "plog.yml: valid"


def test_validate_says_when_the_spec_cannot_be_loaded(tmp_path: Path) -> None:
    project = _project(tmp_path, RENAMED.replace(b"openapi: openapi.yaml", b"openapi: gone.yaml"))
    result = plog("validate", cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith("plog.yml:4:10: openapi: cannot load the spec: gone.yaml")
    (project / "plog.yml").write_bytes(RENAMED)
    (project / "openapi.yaml").write_text("openapi: 3.0.3\npaths: [\n")
    result = plog("validate", str(project / "plog.yml"), cwd=tmp_path.parent)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{project / 'plog.yml'}:4:10: openapi: cannot load the spec")
    assert "Traceback" not in result.stderr


def test_gen_with_a_config_applies_the_gate_and_refuses_an_unknown_name(tmp_path: Path) -> None:
    project = _project(tmp_path, RENAMED)
    result = plog("gen", "openapi.yaml", "--config", "plog.yml", cwd=project)
    assert result.returncode == 0, result.stderr
    assert '"http_req_duration{scenario:op1}":["p(95)\\u003c1"]' in result.stdout.replace(" ", "")
    (project / "plog.yml").write_bytes(UNKNOWN)
    result = plog("gen", "openapi.yaml", "--config", "plog.yml", cwd=project)
    assert result.returncode == 2
    assert "plog.yml:10:43: gates[0].operation: 'GET /jobs/{id}:cancel' is not an operation" in (
        " ".join(result.stderr.split())
    )
