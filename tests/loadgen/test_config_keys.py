"""plog.yml keys for load generation: parsed values and golden error messages."""

import pytest

from plog_ci.config import parse_config
from plog_ci.errors import ConfigError

HEAD = "version: 1\nservice: {run: x}\nopenapi: a.yaml\n"


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(HEAD + text)
    return info.value.errors


def test_new_keys_parse():
    config = parse_config(
        HEAD
        + """load:
  rate: 5
  model: open
  stages: [{duration: 10s, target: 5}, {duration: 1m, target: 20}]
  auth: {type: api_key, env: API_KEY, name: X-Key, in: query}
  overrides:
    "get /pets/{petId}": {path: {petId: 3}, expect: [200, 404], data: data/ids.csv}
    "POST /pets": {body: {name: Rex}}
  caps: {vus: 50, rate: 100, duration: 2m}
  allow_hosts: [api.internal]
  setup_resources: 3
  cleanup: false
"""
    )
    load = config.load
    assert [(s.duration_s, s.target) for s in load.stages] == [(10, 5), (60, 20)]
    assert load.auth and (load.auth.type, load.auth.env, load.auth.location) == (
        "api_key",
        "API_KEY",
        "query",
    )
    first, second = load.overrides
    assert first.operation == "GET /pets/{petId}" and first.path == (("petId", 3),)
    assert first.expect == (200, 404) and first.data == "data/ids.csv"
    assert second.has_body and second.body == {"name": "Rex"}
    assert (load.caps.vus, load.caps.rate, load.caps.duration_s) == (50, 100, 120)
    assert load.allow_hosts == ("api.internal",) and load.setup_resources == 3
    assert load.cleanup is False


def test_defaults_keep_the_old_behaviour():
    load = parse_config(HEAD).load
    assert load.model is None and load.stages == () and load.auth is None
    assert load.overrides == () and load.caps.vus == 1000 and load.cleanup is True


GOLDEN = [
    (
        "load:\n  auth: {type: bearer, env: 1TOKEN}\n",
        ["plog.yml:5:29: load.auth.env: '1TOKEN' does not match '^[A-Za-z_][A-Za-z0-9_]*$'"],
    ),
    (
        "load:\n  auth: {type: oauth, env: T}\n",
        ['plog.yml:5:16: load.auth.type: "oauth" is not one of "bearer", "basic", "api_key"'],
    ),
    (
        "load:\n  auth: {type: api_key, env: T}\n",
        [
            "plog.yml:5:3: load.auth: api_key needs 'name' (the header, query or cookie name)"
            " (hint: e.g. name: X-API-Key)"
        ],
    ),
    (
        "load:\n  auth: {type: basic, env: T, in: query}\n",
        [
            "plog.yml:5:3: load.auth: basic needs 'username' or 'username_env'"
            " (hint: the password comes from 'env')",
            "plog.yml:5:31: load.auth.in: 'in' applies to type api_key only",
        ],
    ),
    (
        'load:\n  overrides:\n    "GET /a": {pth: {id: 1}}\n',
        [
            "plog.yml:6:16: load.overrides.GET /a.pth: unknown key 'pth'"
            " (hint: did you mean 'path'?)"
        ],
    ),
    (
        'load:\n  overrides:\n    "GET /a": {data: ../secrets.csv}\n',
        [
            "plog.yml:6:22: load.overrides.GET /a.data: '../secrets.csv' leaves the repository"
            " (hint: use a relative path inside the repository)"
        ],
    ),
    (
        'load:\n  overrides:\n    "GET /a": {expect: [700]}\n',
        [
            "plog.yml:6:25: load.overrides.GET /a.expect[0]: 700 is out of range"
            " (hint: write a number from 100 to 599)"
        ],
    ),
    (
        "load:\n  stages: [{duration: soon, target: 5}]\n",
        [
            'plog.yml:5:23: load.stages[0].duration: "soon" is not a duration'
            " (hint: write e.g. 500ms, 30s, 2m or 1m30s)"
        ],
    ),
    (
        "load:\n  rate: 50\n  duration: 1m\n  vus: 20\n  caps: {rate: 10, duration: 30s, vus: 5}\n",
        [
            "plog.yml:5:9: load.rate: 50/s is over the cap of 10/s"
            " (hint: lower rate or raise load.caps.rate)",
            "plog.yml:6:13: load.duration: the test lasts 60s, over the cap of 30s"
            " (hint: shorten it or raise load.caps.duration)",
            "plog.yml:7:8: load.vus: 20 VUs is over the cap of 5"
            " (hint: lower vus or raise load.caps.vus)",
        ],
    ),
    (
        "load:\n  model: half-open\n",
        ['plog.yml:5:10: load.model: "half-open" is not one of "open", "closed"'],
    ),
]


@pytest.mark.parametrize(("text", "expected"), GOLDEN)
def test_golden_errors(text, expected):
    assert errors(text) == expected


def test_stages_obey_the_duration_cap():
    assert errors(
        "load:\n  caps: {duration: 1m}\n"
        "  stages: [{duration: 45s, target: 5}, {duration: 30s, target: 9}]\n"
    ) == [
        "plog.yml:6:3: load.stages: the stages add up to 75s, over the cap of 60s"
        " (hint: shorten it or raise load.caps.duration)"
    ]


def test_the_hard_cap_holds_however_the_config_is_built():
    from plog_ci.config.model import Caps, LoadConfig, Stage
    from plog_ci.loadgen.profiles import scenarios

    huge = Caps(duration_s=100 * 3600.0)
    with pytest.raises(ConfigError, match="over the cap of 21600s"):
        scenarios(LoadConfig(rate=1, duration_s=7 * 3600.0, caps=huge), 1)
    stages = (Stage(4 * 3600.0, 1.0), Stage(3 * 3600.0, 1.0))
    for model in ("open", "closed"):
        with pytest.raises(ConfigError, match="over the cap of 21600s"):
            scenarios(LoadConfig(model=model, stages=stages, caps=huge), 1)
