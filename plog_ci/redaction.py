"""The secret registry: every secret PLog holds, in each form it passes it, and
``redact``, which removes them all from any text PLog shows or keeps (issue 15).

``register_secret`` adds a value raw, base64 (standard and URL-safe, padded or
not) and URL-encoded; ``register_basic_auth`` adds ``user:pass`` as basic auth
carries it; ``register_environment_secrets`` adds variables named like secrets.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

REDACTED = "***"

# Every secret this process holds, in each form PLog passes it (see ``register_secret``):
# ``redact`` applies them all, whatever else it is given. Only ever grows.
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_SORTED: tuple[str, ...] = ()  # longest first, so a secret inside another goes whole
MIN_SECRET = 3
# Variables whose values are secrets by their name (forge tokens, the webhook secret,
# InfluxDB and cloud credentials): a service that prints its environment leaks them.
SECRET_NAME_RE = re.compile(
    r"TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH",
    re.IGNORECASE,
)
# Values of secret-named variables shorter than this are not secrets ("1", "true").
MIN_NAMED_SECRET = 6


def secret_forms(value: str) -> set[str]:
    """``value`` in the forms PLog passes it: raw, base64 (as basic auth carries
    ``user:pass``), URL-encoded (a query parameter or cookie)."""
    if len(value) < MIN_SECRET:
        return set()
    raw = value.encode("utf-8", "surrogateescape")
    forms = {
        value,
        quote(value, safe=""),
        quote(value, safe="-_.!~*'()"),  # JavaScript's encodeURIComponent
        quote_plus(value, safe=""),
    }
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        # Padded (replaced first: longer) and not: without its "=", a prefix.
        text = encoded.decode("ascii")
        forms.update((text, text.rstrip("=")))
    return {f for f in forms if len(f) >= MIN_SECRET}


def register_secret(value: str | None) -> None:
    """Redact ``value`` (in each of its ``secret_forms``) from everything PLog shows or keeps."""
    global _SORTED
    if not value:
        return
    forms = secret_forms(value)
    with _SECRETS_LOCK:
        if forms <= _SECRETS:
            return
        _SECRETS.update(forms)
        _SORTED = tuple(sorted(_SECRETS, key=lambda s: (-len(s), s)))


def register_basic_auth(username: str | None, password: str | None) -> None:
    """Basic auth travels as base64 of ``user:pass``: register that whole, and the password."""
    register_secret(password)
    if password and username:
        register_secret(f"{username}:{password}")


def register_environment_secrets(env: Mapping[str, str] | None = None) -> None:
    """Register the values of variables named like secrets (``SECRET_NAME_RE``)."""
    for name, value in (os.environ if env is None else env).items():
        if SECRET_NAME_RE.search(name) and len(value) >= MIN_NAMED_SECRET:
            register_secret(value)


def registered_secrets() -> tuple[str, ...]:
    return _SORTED


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without any registered secret (each form) or any of ``secrets``."""
    extra = sorted((s for s in secrets if s and len(s) >= MIN_SECRET), key=len, reverse=True)
    for secret in (*extra, *_SORTED):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
