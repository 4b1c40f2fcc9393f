"""``report.ai`` inputs a new user tried (issue 20): a malformed URL is an error at its
key, not a crash; a secret pasted in a URL or in place of a variable's name is never
quoted back; a port out of range or spaces in the URL are refused before any run."""

from __future__ import annotations

import pytest

from plog_ci.config.parse import parse_config
from plog_ci.errors import ConfigError

BASE = """\
version: 1
service:
  run: python app.py --port {{port}}
openapi: openapi.yaml
report:
  ai:
    url: "{url}"
    model: m
    api_key_env: {var}
"""


def problems(url: str, var: str = "PLOG_LLM_KEY") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE.format(url=url, var=var))
    return str(info.value)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://[::1:8000/v1", "plog.yml:7:10: report.ai.url: not a URL (Invalid IPv6 URL)"),
        ("http://h:99999/v1", "report.ai.url: not a URL (Port out of range 0-65535)"),
        ("http://h:abc/v1", "report.ai.url: not a URL (Port could not be cast"),
        ("http://h h/v1", "report.ai.url: the URL holds spaces or control characters"),
        ("http://bob:hunter2secret@/v1", "report.ai.url: the URL carries credentials"),
        ("http://:tok3nSECRET@:8000/v1", "report.ai.url: the URL carries credentials"),
    ],
)
def test_a_bad_url_is_an_error_at_its_key_without_its_secret(url: str, said: str) -> None:
    text = problems(url)
    assert said in text
    assert "hunter2secret" not in text and "tok3nSECRET" not in text


def test_a_key_pasted_in_place_of_a_variable_name_is_not_quoted() -> None:
    text = problems("http://127.0.0.1:8000/v1", var="sk-live-SUPERSECRET123")
    assert "plog.yml:9:18: report.ai.api_key_env: is not the name of an environment" in text
    assert "SUPERSECRET" not in text and "e.g. MY_SERVICE_TOKEN" in text


def test_an_ipv6_loopback_url_is_fine() -> None:
    config = parse_config(BASE.format(url="http://[::1]:8000/v1", var="KEY"))
    assert config.report.ai is not None and config.report.ai.url == "http://[::1]:8000/v1"
