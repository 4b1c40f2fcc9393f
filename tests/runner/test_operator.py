import copy

import pytest

from plog_ci.config.model import AuthConfig, LoadConfig
from plog_ci.errors import InputError
from plog_ci.loadgen.script import generate
from plog_ci.runner.operator import testrun_manifests as make_manifests
from plog_ci.runner.operator import validate_testrun
from testing.paths import ROOT
from testing.specs import load_any_spec


def _script(**load):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    return generate(
        spec,
        list(spec.operations.values()),
        LoadConfig(rate=5, duration_s=10, **load),
        allow_hosts=("pets.default.svc",),
    )


def test_testrun_is_valid_and_carries_the_script():
    script = _script(auth=AuthConfig("bearer", "PETS_TOKEN"))
    config_map, testrun = make_manifests(
        script,
        name="plog-pets",
        parallelism=4,
        base_url="http://pets.default.svc:8080",
        capture_url="http://plog.ci.svc:9000/write/k8s",
    )
    assert config_map["data"]["script.js"] == script.text
    spec = testrun["spec"]
    assert spec["parallelism"] == 4 and spec["script"]["configMap"]["name"] == "plog-pets-script"
    env = {e["name"]: e for e in spec["runner"]["env"]}
    assert env["BASE_URL"]["value"] == "http://pets.default.svc:8080"
    assert env["K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM"]["value"] == "true"
    assert "--out experimental-prometheus-rw" in spec["arguments"]
    # The secret comes from a Kubernetes Secret, never from the manifest.
    assert env["PETS_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "plog-pets-auth",
        "key": "PETS_TOKEN",
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m["spec"].pop("parallelism"), "'parallelism' is a required property"),
        (lambda m: m["spec"].update(parallelism="4"), "is not of type 'integer'"),
        (lambda m: m["spec"].update(parallelism=2**31), "is greater than the maximum"),
        (lambda m: m["spec"].update(paralellism=4), "'paralellism' was unexpected"),
        (lambda m: m["spec"]["script"]["configMap"].pop("name"), "'name' is a required property"),
        (lambda m: m.update(kind="K6"), "'K6' is not one of"),
        (lambda m: m["spec"].update(cleanup="always"), "'always' is not one of"),
    ],
)
def test_crd_schema_rejects_broken_manifests(mutate, message):
    _, testrun = make_manifests(_script(), name="t", parallelism=2, base_url="http://127.0.0.1:1")
    broken = copy.deepcopy(testrun)
    mutate(broken)
    with pytest.raises(InputError, match=message):
        validate_testrun(broken)


def test_bad_names_and_targets():
    script = _script()
    with pytest.raises(InputError, match="DNS label"):
        make_manifests(script, name="Bad_Name", parallelism=1, base_url="http://127.0.0.1:1")
    with pytest.raises(InputError, match="allow-list"):
        make_manifests(script, name="ok", parallelism=1, base_url="http://evil.example")
    with pytest.raises(InputError, match="parallelism"):
        make_manifests(script, name="ok", parallelism=0, base_url="http://127.0.0.1:1")
