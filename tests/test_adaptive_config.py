"""compare.length / compare.max_duration (issue 22): the happy paths into CompareConfig;
the errors are golden cases (tests/golden/config/compare_*)."""

from __future__ import annotations

import pytest

from plog_ci.config import parse_config
from plog_ci.errors import ConfigError

HEAD = b"version: 1\nservice: {run: ./serve}\nopenapi: openapi.yaml\n"


def test_fixed_is_the_default() -> None:
    compare = parse_config(HEAD, "plog.yml").compare
    assert (compare.length, compare.max_duration_s) == ("fixed", None)


def test_adaptive_defaults_to_four_times_the_duration() -> None:
    text = HEAD + b"load: {duration: 20s}\ncompare: {length: adaptive}\n"
    compare = parse_config(text, "plog.yml").compare
    assert (compare.length, compare.max_duration_s) == ("adaptive", 80.0)


def test_the_default_is_cut_to_the_cap() -> None:
    text = HEAD + b"load: {duration: 50s, caps: {duration: 2m}}\ncompare: {length: adaptive}\n"
    assert parse_config(text, "plog.yml").compare.max_duration_s == 120.0


def test_max_duration_written() -> None:
    text = HEAD + b"load: {duration: 30s}\ncompare: {length: adaptive, max_duration: 1m30s}\n"
    assert parse_config(text, "plog.yml").compare.max_duration_s == 90.0


@pytest.mark.parametrize("hostile", ["$(rm -rf /)", "<script>x</script>", "--flag=x"])
def test_hostile_values_are_named_not_run(hostile: str) -> None:
    text = HEAD + f"compare: {{length: adaptive, max_duration: '{hostile}'}}\n".encode()
    with pytest.raises(ConfigError) as info:
        parse_config(text, "plog.yml")
    assert hostile in info.value.message


def test_beta_defaults_to_power_80_and_is_read_when_written() -> None:
    text = HEAD + b"compare: {length: adaptive}\n"
    assert parse_config(text, "plog.yml").compare.beta == 0.2
    text = HEAD + b"compare: {length: adaptive, beta: 0.05}\n"
    assert parse_config(text, "plog.yml").compare.beta == 0.05
