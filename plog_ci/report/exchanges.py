"""Failed exchanges as the report shows them: one plain-text block per exchange.

The request line, its headers (credentials already ``[hidden]``) and body, then the
response's status, time, headers and body, as ``curl -v`` users read them. Text
from the service is made inert: control and format characters are dropped (no
terminal escape, no bidi override), and the block is fenced so nothing in it can
end it (``templating.fenced``).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from plog_ci.templating import plain_text


def _body(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    kept = "".join(
        c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co")
    )
    return kept.rstrip()


def _headers(headers: Any) -> list[str]:
    if not isinstance(headers, dict):
        return []
    return [f"{plain_text(k)}: {plain_text(v)}" for k, v in sorted(headers.items())]


def _part(exchange: dict[str, Any], key: str) -> dict[str, Any]:
    value = exchange.get(key)
    return value if isinstance(value, dict) else {}


def exchange_text(exchange: dict[str, Any]) -> str:
    """One exchange (``plog_ci.runner.exchanges`` shape) as plain text."""
    request = _part(exchange, "request")
    response = _part(exchange, "response")
    lines = [f"{plain_text(request.get('method', ''))} {plain_text(request.get('url', ''))}"]
    lines += _headers(request.get("headers"))
    body = _body(request.get("body"))
    if body:
        lines += ["", body]
    status = response.get("status")
    took = response.get("ms")
    said = f"→ {status if status else 'no response'}"
    if isinstance(took, int | float):
        said += f" ({took:.1f} ms)"
    if response.get("error"):
        said += f": {plain_text(response['error'])}"
    lines += ["", said]
    lines += _headers(response.get("headers"))
    body = _body(response.get("body"))
    if body:
        lines += ["", body]
    if exchange.get("note"):  # why PLog kept an answer that was documented
        lines += ["", f"# {plain_text(str(exchange['note']))}"]
    return "\n".join(lines)


def exchange_texts(exchanges: Any) -> dict[str, list[str]]:
    """Stored failed exchanges (operation -> list of ``plog_ci.runner.exchanges``
    shapes; anything else is ignored) as ``exchange_text`` by operation: the reason
    beside each error status on the dashboard."""
    if not isinstance(exchanges, dict):
        return {}
    return {
        str(op): [exchange_text(e) for e in kept if isinstance(e, dict)]
        for op, kept in exchanges.items()
        if isinstance(kept, list)
    }


def exchange_sections(
    exchanges: dict[str, list[dict[str, Any]]],
) -> list[tuple[str, list[str]]]:
    """(operation, texts) for every operation with failed exchanges, in name order."""
    return [
        (op, [exchange_text(e) for e in kept]) for op, kept in sorted(exchanges.items()) if kept
    ]
