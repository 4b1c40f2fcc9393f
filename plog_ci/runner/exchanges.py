"""Failed exchanges: a few requests per operation that did not get a documented answer.

The generated script writes each one to k6's console output (``--console-output``)
as ``PLOG_EXCHANGE <base64 JSON>``: the request as sent (the credentials PLog adds
already replaced by ``[hidden]``) and the response, bodies cut at 2 KB. Here they
are read back, kept to ``KEPT`` per operation, and every text in them passes
through ``proc.redact`` again (a service may echo a secret in its body), so that
what the run stores and the report shows explains a failure without a
``--http-debug`` run, and leaks nothing (issue 17, item 9).

Shape of one exchange (JSON)::

    {"operation": "GET /pets", "side": "", "request": {"method", "url", "headers",
     "body"}, "response": {"status", "headers", "body", "error", "errorCode", "ms"}}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from plog_ci import proc
from plog_ci.results import SetupTally

KEPT = 3  # per operation (and side)
MARK = "PLOG_EXCHANGE "
_LINE = re.compile(r"PLOG_EXCHANGE ([A-Za-z0-9+/=]+)")
_MAX_FILE = 64 << 20  # the console file of a long run with many VUs stays far below


def _clean(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return proc.redact(value, secrets)
    if isinstance(value, dict):
        return {proc.redact(str(k), secrets): _clean(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, secrets) for v in value]
    return value


def _payloads(path: Path, mark: re.Pattern[str]) -> Iterator[Any]:
    """The JSON of each ``mark`` line (``MARK <base64 JSON>``) in k6's console output at
    ``path``, in order; nothing when the file is missing. Lines that do not decode are
    skipped."""
    try:
        with open(path, "rb") as fh:
            text = fh.read(_MAX_FILE).decode("utf-8", "replace")
    except OSError:
        return
    for found in mark.finditer(text):
        try:
            yield json.loads(base64.b64decode(found.group(1), validate=True))
        except (binascii.Error, ValueError):
            continue


Exchanges = dict[str, dict[str, list[dict[str, Any]]]]  # side -> operation -> exchanges


def read_exchanges(path: Path, secrets: tuple[str, ...] = ()) -> Exchanges:
    """The failed exchanges in k6's console output at ``path``: by side (``""`` for a
    run of one side, else ``"base"``/``"head"``) and operation name, ``KEPT`` each at
    most, redacted; {} when the file is missing. Lines that are not whole exchanges
    are skipped."""
    out: Exchanges = {}
    for exchange in _payloads(path, _LINE):
        if not isinstance(exchange, dict) or not isinstance(exchange.get("operation"), str):
            continue
        side = exchange["side"] if isinstance(exchange.get("side"), str) else ""
        kept = out.setdefault(side, {}).setdefault(exchange["operation"], [])
        if len(kept) < KEPT:
            kept.append(_clean(exchange, secrets))
    return out


_SETUP = re.compile(r"PLOG_SETUP ([A-Za-z0-9+/=]+)")
_MAX_TALLIES = 10_000  # far above any plan's producers x sides


def read_setup(path: Path) -> tuple[SetupTally, ...]:
    """What each producer created before the load, from the script's ``PLOG_SETUP
    <base64 JSON {"producer", "side", "created", "answered", "tried"}>`` lines in
    k6's console output at ``path``; () when the file is missing. Malformed lines (a
    count out of order, not an int) are skipped."""
    out: list[SetupTally] = []
    for line in _payloads(path, _SETUP):
        if not isinstance(line, dict):
            continue
        producer, side = line.get("producer"), line.get("side")
        created, tried, answered = line.get("created"), line.get("tried"), line.get("answered")
        if (
            isinstance(producer, str)
            and isinstance(side, str)
            and type(created) is int
            and type(tried) is int
            and type(answered) is int
            and 0 <= created <= answered <= tried
        ):
            out.append(SetupTally(producer, side, created, tried, answered))
        if len(out) >= _MAX_TALLIES:
            break
    return tuple(out)
