"""Generated scripts: valid for k6, safe with hostile specs, realistic against the example."""

import json

import pytest

from plog_ci.config.model import AuthConfig, Caps, LoadConfig, OperationOverride, Stage
from plog_ci.errors import ConfigError, InputError, InternalError
from plog_ci.gate_grammar import parse_gate
from plog_ci.loadgen.script import Schedule, generate
from plog_ci.runner.k6 import run_k6
from testing.k6_tools import k6_inspect, need_k6, script_options
from testing.paths import ROOT
from testing.servers import petstore, recording_server
from testing.specs import load_any_spec, spec_files, spec_from_dict

SPECS = spec_files()
EVIL = '"); http.get("http://evil/"); ("'
QUICK = LoadConfig(profile="smoke", rate=2, duration_s=2, vus=2)


def test_copied_specs_are_all_there():
    names = {p.name for p in SPECS}
    assert {"petstore-expanded.yaml", "link-example.yaml", "realworld-conduit.yml"} <= names
    assert (ROOT / "tests/data/openapi/LICENSE-OAI-examples").is_file()
    assert (ROOT / "tests/data/openapi/LICENSE-realworld").is_file()


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_spec_generates_a_script_k6_accepts(path, tmp_path):
    spec = load_any_spec(path)
    if not spec.operations:  # webhooks only: nothing to load, and PLog says so
        with pytest.raises(InputError, match="no operation"):
            generate(spec, [], LoadConfig(rate=1, duration_s=1))
        return
    script = generate(spec, list(spec.operations.values()), LoadConfig(rate=1, duration_s=1))
    result = k6_inspect(script.text, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    options = json.loads(result.stdout)
    assert len(options["scenarios"]) == len(spec.operations)


def _hostile_spec() -> dict:
    line_sep = "\u2028"
    return {
        "openapi": "3.0.3",
        "info": {"title": "</script>" + EVIL, "version": "1"},
        "servers": [{"url": "http://127.0.0.1:9"}],
        "paths": {
            '/a"b/{x`y}/`${1+1}`': {
                "get": {
                    "operationId": EVIL,
                    "parameters": [
                        {
                            "name": "x`y",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "example": "${globalThis.x}</script>" + line_sep,
                        },
                        {
                            "name": EVIL,
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                            "example": "</script><script>alert(1)</script>",
                        },
                        {"name": "X-${}", "in": "header", "required": True, "example": "v"},
                        {"name": "X-Ok", "in": "header", "required": True, "example": EVIL},
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            },
            "/p</script>" + line_sep: {
                "post": {
                    "operationId": "`${x}`",
                    "requestBody": {
                        "content": {"application/json": {"example": {EVIL: "`${x}`" + line_sep}}}
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            },
        },
    }


def test_hostile_names_stay_data(tmp_path):
    spec = spec_from_dict(_hostile_spec())
    script = generate(spec, list(spec.operations.values()), QUICK)
    assert "</script>" not in script.text
    assert "\u2028" not in script.text
    assert 'http.get("http://evil/")' not in script.text
    assert "evil" in script.text  # present, but only inside JSON strings
    assert any("X-${}" in w for w in script.warnings)  # not a header token: dropped, said so
    result = k6_inspect(script.text, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_hostile_requests_reach_only_the_target(tmp_path):
    spec = spec_from_dict(_hostile_spec())
    with recording_server() as (url, rec):
        script = generate(spec, list(spec.operations.values()), QUICK, url)
        result = run_k6(script, url, tmp_path / "k6", timeout_s=60)
    log = (tmp_path / "k6" / "k6.log").read_text()
    assert "evil" not in log.lower()
    assert result.total.count == len(rec.requests) > 0
    paths = {p for _, p, _, _ in rec.requests}
    assert any(p.startswith("/a%22b/%24%7BglobalThis.x%7D%3C%2Fscript%3E%E2%80%A8/") for p in paths)
    assert all(p.startswith(("/a%22b/", "/p%3C/script%3E%E2%80%A8")) for p in paths)
    gets = [r for r in rec.requests if r[0] == "GET"]
    assert gets[0][2]["X-Ok"] == EVIL


def test_allow_list_refuses_other_targets(tmp_path):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    script = generate(spec, list(spec.operations.values()), QUICK)
    refused = k6_inspect(script.text, tmp_path, "BASE_URL=http://evil.example:80")
    assert refused.returncode != 0 and "allow-list" in refused.stderr
    userinfo = k6_inspect(script.text, tmp_path, "BASE_URL=http://127.0.0.1:80@evil.example")
    assert userinfo.returncode != 0
    with pytest.raises(InputError, match="allow-list"):
        run_k6(script, "http://evil.example", tmp_path / "k6", timeout_s=5)
    ok = k6_inspect(script.text, tmp_path, "BASE_URL=http://127.0.0.1:8080")
    options = json.loads(ok.stdout)
    assert options["blockHostnames"] == ["*"]
    blocked = options["blacklistIPs"]
    assert "::/0" in blocked and "127.0.0.2/31" in blocked and len(blocked) == 33
    assert not any(b.endswith("/32") and b != "127.0.0.0/32" for b in blocked)
    wider = generate(spec, list(spec.operations.values()), QUICK, allow_hosts=("api.internal",))
    assert k6_inspect(wider.text, tmp_path, "BASE_URL=http://api.internal:80").returncode == 0


def test_dependencies_inferred_and_from_links():
    pets = load_any_spec(ROOT / "tests/data/openapi/v3/petstore-expanded.yaml")
    script = generate(pets, list(pets.operations.values()), QUICK)
    assert "POST /pets -> GET /pets/{id} (id from /id, inferred)" in script.dependencies
    links = load_any_spec(ROOT / "tests/data/openapi/v3/link-example.yaml")
    script = generate(links, list(links.operations.values()), QUICK)
    assert any("(slug from /slug, link)" in d for d in script.dependencies)
    conduit = load_any_spec(ROOT / "tests/data/openapi/v3/realworld-conduit.yml")
    script = generate(conduit, list(conduit.operations.values()), QUICK)
    assert any(d.startswith("POST /articles -> GET /articles/{slug}") for d in script.dependencies)


@pytest.mark.slow
def test_petstore_realism_and_setup_ids(tmp_path):
    """Zero hand-written data: every request gets a documented success status."""
    need_k6()
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    load = LoadConfig(profile="load", rate=5, duration_s=2, vus=2)
    with petstore() as url:
        script = generate(spec, list(spec.operations.values()), load, url)
        result = run_k6(script, url, tmp_path / "k6", timeout_s=60)
    assert result.total.count >= 30
    assert result.total.failures == 0, result.total.errors_by_status
    assert result.setup_requests == 5  # POST /pets in setup, ids for GET /pets/{petId}


def test_profiles_caps_and_stages():
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    ops = list(spec.operations.values())

    def executors(load):
        options = script_options(generate(spec, ops, load).text)
        return {s["executor"] for s in options["scenarios"].values()}, options

    assert executors(LoadConfig(profile="smoke", rate=1))[0] == {"constant-arrival-rate"}
    assert executors(LoadConfig(profile="load", rate=5))[0] == {"constant-arrival-rate"}
    kinds, options = executors(LoadConfig(profile="load"))  # no rate: still the open model
    assert kinds == {"constant-arrival-rate"}
    assert {s["rate"] for s in options["scenarios"].values()} == {10}
    assert executors(LoadConfig(profile="load", model="closed"))[0] == {"constant-vus"}
    for profile in ("stress", "spike", "breakpoint"):
        assert executors(LoadConfig(profile=profile, rate=5))[0] == {"ramping-arrival-rate"}
    kinds, options = executors(LoadConfig(rate=5, stages=(Stage(5, 10), Stage(5, 0))))
    assert kinds == {"ramping-arrival-rate"}
    assert options["scenarios"]["op0"]["stages"] == [
        {"duration": "5s", "target": 10},
        {"duration": "5s", "target": 0},
    ]
    _, options = executors(LoadConfig(profile="breakpoint", rate=5, caps=Caps(rate=400)))
    assert options["scenarios"]["op0"]["stages"][-1]["target"] == 100  # rate cap / 4 operations
    with pytest.raises(ConfigError, match="cap"):
        generate(spec, ops, LoadConfig(rate=100, caps=Caps(rate=50)))
    with pytest.raises(ConfigError, match="cap"):
        generate(spec, ops, LoadConfig(rate=1, duration_s=100, caps=Caps(duration_s=10)))
    _, options = executors(LoadConfig(rate=1, vus=500, caps=Caps(vus=40)))
    assert sum(s["maxVUs"] for s in options["scenarios"].values()) <= 40


def test_gates_become_thresholds():
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    gates = (
        parse_gate("p95 < 300ms"),
        parse_gate("error_rate < 1%", operation="GET /pets"),
        parse_gate("p99 <= +10%"),  # relative: PLog's, not k6's
        parse_gate("rps > 5", level="warn"),
    )
    script = generate(spec, list(spec.operations.values()), LoadConfig(rate=5), gates=gates)
    assert script.selectors["GET /pets"] == "scenario:op1"
    limits = script_options(script.text)["thresholds"]
    assert limits["http_req_duration{scenario:op0}"] == ["p(95)<300"]
    assert limits["http_req_duration{scenario:op3}"] == ["p(95)<300"]
    assert limits["http_req_failed{scenario:op1}"] == ["rate<0.01"]
    assert "http_req_failed{scenario:op0}" not in limits
    assert not any("+10" in str(v) or "rate>5" in str(v) for v in limits.values())
    catastrophic = limits["http_req_failed"][0]
    assert catastrophic["abortOnFail"] is True and catastrophic["threshold"] == "rate<0.5"
    breakpoint = generate(
        spec, list(spec.operations.values()), LoadConfig(profile="breakpoint"), gates=gates
    )
    entry = script_options(breakpoint.text)["thresholds"]["http_req_duration{scenario:op0}"][0]
    assert entry["abortOnFail"] is True
    # Side by side, one k6 process loads both: every threshold watches the head only.
    twin = generate(
        spec,
        list(spec.operations.values()),
        LoadConfig(rate=5),
        gates=gates,
        schedule=Schedule(("head", "base"), on_base=("GET /pets",)),
    )
    limits = script_options(twin.text)["thresholds"]
    assert limits["http_req_duration{scenario:op0,plog_side:head}"] == ["p(95)<300"]
    assert limits["http_req_failed{plog_side:head}"][0]["abortOnFail"] is True
    assert not any("base" in key for key in limits) and "http_req_failed" not in limits


def test_auth_secret_never_in_script_and_config_errors(tmp_path):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    load = LoadConfig(rate=1, auth=AuthConfig(type="bearer", env="PLOG_TEST_TOKEN"))
    script = generate(spec, list(spec.operations.values()), load)
    assert '"env": "PLOG_TEST_TOKEN"' in script.text
    assert script.secret_env == ("PLOG_TEST_TOKEN",)
    with pytest.raises(InputError, match="not an operation"):
        generate(
            spec,
            list(spec.operations.values()),
            LoadConfig(overrides=(OperationOverride("GET /nope"),)),
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("auth", "check"),
    [
        (
            AuthConfig("bearer", "PLOG_T_SECRET"),
            lambda h, p: h["Authorization"] == "Bearer s3cr3t-v",
        ),
        (
            AuthConfig("basic", "PLOG_T_SECRET", username="ann"),
            lambda h, p: h["Authorization"] == "Basic YW5uOnMzY3IzdC12",
        ),
        (
            AuthConfig("api_key", "PLOG_T_SECRET", name="X-Key"),
            lambda h, p: h["X-Key"] == "s3cr3t-v",
        ),
        (
            AuthConfig("api_key", "PLOG_T_SECRET", name="key", location="query"),
            lambda h, p: p.endswith("key=s3cr3t-v"),
        ),
    ],
    ids=["bearer", "basic", "header", "query"],
)
def test_auth_reaches_the_server_from_the_environment(auth, check, tmp_path):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    op = spec.operations["GET /pets"]
    load = LoadConfig(profile="smoke", rate=2, duration_s=1, auth=auth)
    with recording_server() as (url, rec):
        script = generate(spec, [op], load, url)
        assert "s3cr3t" not in script.text
        run_k6(script, url, tmp_path / "k6", timeout_s=60, extra_env={"PLOG_T_SECRET": "s3cr3t-v"})
    assert rec.requests and all(check(h, p) for _, p, h, _ in rec.requests)


@pytest.mark.slow
def test_missing_secret_stops_in_setup(tmp_path, monkeypatch):
    monkeypatch.delenv("PLOG_T_ABSENT", raising=False)
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    load = LoadConfig(
        profile="smoke", rate=1, duration_s=1, auth=AuthConfig("bearer", "PLOG_T_ABSENT")
    )
    with recording_server() as (url, rec):
        script = generate(spec, [spec.operations["GET /pets"]], load, url)
        with pytest.raises(InternalError, match="PLOG_T_ABSENT"):
            run_k6(script, url, tmp_path / "k6", timeout_s=60)
    assert rec.requests == []


@pytest.mark.slow
def test_overrides_and_data_files(tmp_path):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "pets.csv").write_text("petId,trace\n3,a\n4,b\n")
    load = LoadConfig(
        profile="smoke",
        rate=4,
        duration_s=1,
        cleanup=False,
        overrides=(
            OperationOverride("GET /pets/{petId}", data="data/pets.csv", expect=(200, 404)),
            OperationOverride(
                "POST /pets", body={"name": "Fixed"}, has_body=True, headers=(("X-A", 1),)
            ),
        ),
    )
    ops = [spec.operations["GET /pets/{petId}"], spec.operations["POST /pets"]]
    with recording_server(status=201) as (url, rec):
        script = generate(spec, ops, load, url, data_root=tmp_path)
        run_k6(script, url, tmp_path / "k6", timeout_s=60)
    gets = [(p, h) for m, p, h, _ in rec.requests if m == "GET"]
    posts = [(h, b) for m, _, h, b in rec.requests if m == "POST"]
    assert gets and {p for p, _ in gets} <= {"/pets/3?trace=a", "/pets/4?trace=b"}
    assert posts and all(json.loads(b) == {"name": "Fixed"} and h["X-A"] == "1" for h, b in posts)
    with pytest.raises(InputError, match="inside the repository"):
        bad = LoadConfig(
            overrides=(OperationOverride("GET /pets/{petId}", data="../../etc/passwd"),)
        )
        generate(spec, ops, bad, data_root=tmp_path)


def test_duet_script_has_a_scenario_per_operation_and_side(tmp_path):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    ops = list(spec.operations.values())
    on_base = tuple(op.key for op in ops if op.key != "GET /health")  # new in the head
    script = generate(spec, ops, LoadConfig(rate=5, duration_s=2), duet_base=on_base)
    assert script.sides == ("head", "base")
    urls = ("PLOG_URL_HEAD=http://127.0.0.1:8081", "PLOG_URL_BASE=http://127.0.0.1:8082")
    result = k6_inspect(script.text, tmp_path, *urls)
    assert result.returncode == 0, result.stderr[-2000:]
    scenarios = json.loads(result.stdout)["scenarios"]
    health = [op.key for op in ops].index("GET /health")
    # The head keeps its scenario names (thresholds select them); the base's twins
    # run at the same rate, and the operation the base lacks has none.
    assert {n for n in scenarios if not n.startswith("base_")} == {f"op{i}" for i in range(4)}
    assert set(scenarios) - {f"op{i}" for i in range(4)} == {
        f"base_op{i}" for i in range(4) if i != health
    }
    for name, scenario in scenarios.items():
        twin = scenarios[name.removeprefix("base_")]
        assert scenario["env"]["PLOG_SIDE"] == ("1" if name.startswith("base_") else "0")
        assert scenario["env"]["PLOG_OP"] == twin["env"]["PLOG_OP"]
        assert scenario["rate"] == twin["rate"] == 5
    # Both targets must be given, and on one host (the guard admits one address).
    missing = k6_inspect(script.text, tmp_path, urls[0])
    assert missing.returncode != 0 and "set PLOG_URL_BASE" in missing.stderr
    apart = k6_inspect(script.text, tmp_path, urls[0], "PLOG_URL_BASE=http://localhost:8082")
    assert apart.returncode != 0 and "share one host" in apart.stderr
    evil = k6_inspect(script.text, tmp_path, urls[0], "PLOG_URL_BASE=http://evil.example:80")
    assert evil.returncode != 0 and "allow-list" in evil.stderr
    with pytest.raises(InputError, match="open model"):
        generate(spec, ops, LoadConfig(model="closed", duration_s=2), duet_base=on_base)


def test_replicas_take_turns_and_stay_on_one_host(tmp_path):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    script = generate(spec, list(spec.operations.values()), QUICK)
    two = "BASE_URL=http://127.0.0.1:8081 http://127.0.0.1:8082/"
    assert k6_inspect(script.text, tmp_path, two).returncode == 0
    apart = k6_inspect(script.text, tmp_path, "BASE_URL=http://127.0.0.1:1 http://localhost:2")
    assert apart.returncode != 0 and "share one host" in apart.stderr
    evil = k6_inspect(script.text, tmp_path, "BASE_URL=http://127.0.0.1:1 http://evil.example")
    assert evil.returncode != 0 and "allow-list" in evil.stderr
    with pytest.raises(InputError, match="allow-list"):
        run_k6(script, "http://127.0.0.1:1 http://evil.example", tmp_path / "k6", timeout_s=5)
    with pytest.raises(InputError, match="different addresses"):
        run_k6(script, "http://127.0.0.1:1 http://localhost:1", tmp_path / "k6", timeout_s=5)


@pytest.mark.slow
def test_replicas_each_get_their_share_and_their_own_setup(tmp_path):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    ops = [spec.operations["GET /pets"], spec.operations["GET /pets/{petId}"]]
    load = LoadConfig(rate=20, duration_s=2, vus=4)
    with recording_server() as (one, first), recording_server() as (two, second):
        script = generate(spec, ops, load, one)
        result = run_k6(script, f"{one} {two}", tmp_path / "k6", timeout_s=60)
    assert result.setup_requests == 10  # 5 ids created on each replica
    for rec in (first, second):
        posts = [r for r in rec.requests if r[0] == "POST"]
        gets = [r for r in rec.requests if r[0] == "GET"]
        assert len(posts) == 5
        # Turns alternate: each replica takes half of each operation's 40 requests.
        assert 36 <= len(gets) <= 44, len(gets)
    assert len(first.requests) + len(second.requests) == result.total.count + 10
