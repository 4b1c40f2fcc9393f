"""``format: uri`` / ``uri-reference`` are checked (RFC 3986), so a spec's example that is
no URI is not sent: Twilio's ``POST .../Streams.json`` example ``Url: myUrl`` was, and
Prism's mock rejected it (``body.Url: must match format "uri"``; bench prism_conformance)."""

from __future__ import annotations

import pytest

from plog_ci.loadgen.validity import errors, is_uri
from plog_ci.loadgen.values import for_media
from plog_ci.openapi.model import MediaType

URI = {"type": "string", "format": "uri"}
REF = {"type": "string", "format": "uri-reference"}


@pytest.mark.parametrize(
    ("text", "absolute", "relative"),
    [
        ("https://example.com/", True, True),
        ("mailto:test@example.com", True, True),
        ("urn:isbn:0451450523", True, True),
        ("https://example.com/a%20b?q=1#frag", True, True),
        ("myUrl", False, True),  # a relative reference (RFC 3986 section 4.2), no URI
        ("/2010-04-01/Accounts.json", False, True),
        ("https://example.com/a b", False, False),  # a space is no URI character
        ("https://example.com/%zz", False, False),  # "%" not followed by two hex digits
        ("1http://example.com/", False, True),  # a scheme starts with a letter
        ("", False, True),
    ],
)
def test_uri_and_uri_reference(text: str, absolute: bool, relative: bool) -> None:
    assert is_uri(text, absolute=True) is absolute
    assert is_uri(text, absolute=False) is relative
    assert (errors(text, URI) == []) is absolute
    assert (errors(text, REF) == []) is relative


def test_non_strings_are_left_to_type() -> None:
    assert errors(3, {"format": "uri"}) == []


def test_an_example_that_is_no_uri_is_replaced_and_said() -> None:
    media = MediaType(
        "application/x-www-form-urlencoded",
        {"type": "object", "required": ["Url"], "properties": {"Url": URI}},
        examples=({"Url": "myUrl"},),
    )
    warnings: list[str] = []
    assert for_media(media, warnings=warnings) == {"Url": "https://example.com/"}
    assert warnings == [
        'application/x-www-form-urlencoded body example {"Url":"myUrl"} does not match its '
        "schema (/Url: 'myUrl' is not a 'uri'); generated "
        '{"Url":"https://example.com/"} from the schema'
    ]


def test_an_example_that_is_a_uri_is_kept() -> None:
    media = MediaType(
        "application/json",
        {"type": "object", "properties": {"Url": URI}},
        examples=({"Url": "wss://example.com/stream"},),
    )
    assert for_media(media) == {"Url": "wss://example.com/stream"}
