"""Webhook signatures: HMAC-SHA256 over the raw body, compared as bytes in constant time.

GitHub sends ``X-Hub-Signature-256: sha256=<hex>``; Gitea sends
``X-Gitea-Signature: <hex>`` (Forgejo: ``X-Forgejo-Signature``). Header
values arrive as WSGI latin-1 strings; encoding them back to latin-1 gives the
exact bytes on the wire, so a non-ASCII header is simply a mismatch.
"""

from __future__ import annotations

import hashlib
import hmac


def expected(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")


def verify_github(secret: bytes, body: bytes, header: bytes | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(b"sha256=" + expected(secret, body), header)


def verify_gitea(secret: bytes, body: bytes, header: bytes | None) -> bool:
    if not header:
        return False
    return hmac.compare_digest(expected(secret, body), header)
