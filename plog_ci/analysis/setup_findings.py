"""Findings on what setup made: producers that created fewer resources than asked,
and the operations that therefore had no real id (issue 17, item 10).

An operation whose path needs an id (``GET /buckets/{bucket_id}``) reads the ids
its producer (``POST /buckets``) created before the load. When the producer
created none, the script falls back to the generated value, and the operation's
404s measure a resource that does not exist: the report must say so rather than
show an error rate with no cause. No I/O; the tallies come from the script's
``PLOG_SETUP`` lines (``plog_ci.runner.exchanges.read_setup``).
"""

from __future__ import annotations

from collections.abc import Sequence

from plog_ci.analysis.findings import Finding
from plog_ci.results import SetupTally

Feed = tuple[str, str, str]  # (producer, consumer, path parameter)


def _where(side: str) -> str:
    return f" on the {side}" if side else ""


def setup_findings(tallies: Sequence[SetupTally], feeds: Sequence[Feed]) -> list[Finding]:
    """One warning per producer that created nothing (and one per operation left with
    no real id by it), a note per producer that created some but not all; in the
    order the tallies came (the script's setup order)."""
    readers: dict[str, list[tuple[str, str]]] = {}
    for producer, consumer, param in dict.fromkeys(feeds):
        readers.setdefault(producer, []).append((consumer, param))
    out: list[Finding] = []
    for tally in tallies:
        data = {
            "side": tally.side,
            "created": tally.created,
            "answered": tally.answered,
            "tried": tally.tried,
        }
        who = readers.get(tally.producer, [])
        named = ", ".join(f"{c} ({p})" for c, p in who) or "no measured operation"
        if tally.created == 0:
            if tally.answered:
                why = (
                    f"answered {tally.answered} of {tally.tried} as documented, but no id "
                    f"was found in the answers{_where(tally.side)}, so {named} had no real "
                    f"id; 'setup {tally.producer}' under Failed exchanges shows an answer "
                    "and where PLog looked (an OpenAPI link on the response names the field)"
                )
            else:
                why = (
                    f"created none of the {tally.tried} resources setup asked for"
                    f"{_where(tally.side)}, so {named} had no real id; see its failed "
                    f"exchanges under 'setup {tally.producer}'"
                )
            out.append(Finding("setup", why, tally.producer, "warning", data))
            for consumer, param in who:
                out.append(
                    Finding(
                        "setup",
                        f"no real id for {param}{_where(tally.side)}: {tally.producer} "
                        "gave none, so a generated value was sent and the answers "
                        "measure a resource that does not exist",
                        consumer,
                        "warning",
                        {**data, "producer": tally.producer, "param": param},
                    )
                )
        elif tally.created < tally.tried:
            out.append(
                Finding(
                    "setup",
                    f"created {tally.created} of {tally.tried} resources{_where(tally.side)}; "
                    f"{named} took turns among those",
                    tally.producer,
                    "info",
                    data,
                )
            )
    return out
