"""Values the chart tests share: an image by digest, hostile text."""

from __future__ import annotations

from typing import Any

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = {"repository": "registry.example.com/team/petstore", "digest": DIGEST}
# Quotes, a flag, shell and template expansions, markup, a line break: must stay one value.
HOSTILE = "v\" --flag=x; $(rm -rf /) ${HOME} `id` {{ .Values }} <script>\nalert(1)</script>'"


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, maps merged key by key (as helm -f does)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
