"""Generate a k6 script for the selected operations.

The script is a fixed template plus one JSON document (the plan): operation
names, paths and values from the spec reach JavaScript only as JSON data
(``plog_ci.templating.js_literal``), so no string in a spec can change what
the script does. Every generated script passes ``k6 inspect``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plog_ci import __version__
from plog_ci.config.hosts import forbidden
from plog_ci.config.model import LoadConfig, OperationOverride
from plog_ci.errors import InputError, InternalError
from plog_ci.gate_grammar import Gate
from plog_ci.loadgen.auth import credential_warnings, plan_auth, secret_names
from plog_ci.loadgen.planning import OVERRIDE_HINT, plan_operations
from plog_ci.loadgen.profiles import Plan, scenarios
from plog_ci.loadgen.thresholds import selectors, thresholds
from plog_ci.openapi.model import Operation, Spec
from plog_ci.openapi.names import find_operation
from plog_ci.templating import render

TREND_STATS = ["min", "avg", "med", "p(90)", "p(95)", "p(99)", "max", "count"]
# Only these tags reach metrics: no URLs (unbounded, may hold an API key), so
# the live capture's series stay few whatever the test does.
SYSTEM_TAGS = ["name", "method", "status", "expected_response", "error_code", "scenario", "check"]
FALLBACK_BASE = "http://127.0.0.1:8080"
# How a target may name the deployed service on this machine. The script reaches
# a loopback target at exactly its host:port (URLs are built from the targets, and
# no redirect is followed); no other loopback host or spelling is admitted.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Mirrors parseTarget() in the template: what BASE_URL may look like.
# A duet loads both sides at once from one k6 process: side i's URL comes from
# the variable side_env(name), its scenarios carry PLOG_SIDE=i and its requests
# the tag plog_side=name. The head is side 0, so its scenarios keep their names.
DUET_SIDES = ("head", "base")
SIDE_TAG = "plog_side"
BASE_URL_RE = re.compile(
    r"^(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::([0-9]{1,5}))?(/[^?#]*)?$"
)


@dataclass(frozen=True)
class Script:
    text: str
    operations: tuple[str, ...]
    duration_s: float = 0.0  # the load phase, as planned
    model: str = "open"
    allow_hosts: tuple[str, ...] = ()
    secret_env: tuple[str, ...] = ()  # variables whose values are secrets (redact them)
    warnings: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # "POST /pets -> GET /pets/{petId} (petId)"
    feeds: tuple[tuple[str, str, str], ...] = ()  # (producer, consumer, path parameter)
    selectors: dict[str, str] = field(default_factory=dict)  # op -> k6 submetric selector
    default_base_url: str = ""  # the target when BASE_URL is unset
    sides: tuple[str, ...] = ()  # DUET_SIDES when one process loads base and head; ()
    slots: tuple[str, ...] = ()  # a schedule's side per turn, in time order
    block_s: float = 0.0  # a schedule's block: the time one side is loaded per round
    per_round: int = 0  # a schedule's turns per round

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Schedule:
    """Interleaving inside one k6 process: the side each block of the load goes to.

    The load's duration is cut into ``len(slots)`` equal turns; turn i loads
    side ``slots[i]`` ("base" or "head"). A round is ``per_round`` consecutive
    turns, half of them per side, and its requests carry the tag ``plog_round``
    = i // per_round: a side's block in a round is the union of its turns there.
    Short turns pair the sides at a finer time scale than the rounds the
    statistics count. Operations not in ``on_base`` skip the base's turns.
    """

    slots: tuple[str, ...]
    on_base: tuple[str, ...]
    per_round: int = 2

    def __post_init__(self) -> None:
        if self.per_round < 2 or self.per_round % 2 or len(self.slots) % self.per_round:
            raise InternalError(
                f"a schedule's rounds hold an even number of turns ({self.per_round} turns, "
                f"{len(self.slots)} slots)"
            )


def side_env(side: str) -> str:
    """The variable that holds a duet side's URL."""
    return f"PLOG_URL_{side.upper()}"


def side_urls(urls: dict[str, str]) -> dict[str, str]:
    """The environment that gives a two-sided script its targets (side -> URLs)."""
    return {side_env(side): urls[side] for side in DUET_SIDES}


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def default_base(spec: Spec, given: str | None) -> str:
    """The target when BASE_URL is unset: the given URL, the spec's first usable server.

    A spec's server on loopback, link-local or a metadata address is never taken:
    on this machine the load reaches only the service it was given.
    """
    servers = [s for s in spec.servers or () if not (BASE_URL_RE.match(s) and forbidden(s))]
    for candidate in (given, *servers):
        if candidate and BASE_URL_RE.match(candidate.rstrip("/") or candidate):
            return candidate.rstrip("/")
        if candidate and candidate.startswith("/") and BASE_URL_RE.match(FALLBACK_BASE + candidate):
            return (FALLBACK_BASE + candidate).rstrip("/")
    return FALLBACK_BASE


def generate(
    spec: Spec,
    operations: list[Operation],
    load: LoadConfig,
    default_base_url: str | None = None,
    *,
    gates: tuple[Gate, ...] = (),
    data_root: Path | None = None,
    allow_hosts: tuple[str, ...] = (),
    k6_submetrics: bool = False,
    duet_base: tuple[str, ...] | None = None,
    schedule: Schedule | None = None,
) -> Script:
    """The k6 script for ``operations``.

    ``allow_hosts`` (plus ``load.allow_hosts`` and the default target's host,
    less any loopback, link-local or metadata host) and ``LOOPBACK`` are the only
    hosts BASE_URL may name; the script then reaches exactly the targets it was
    given (host and port) and follows no redirect. ``k6_submetrics`` adds
    always-true thresholds so k6's own summary also reports every operation
    (k6 then keeps every sample in memory: for fidelity checks, not long runs).
    ``duet_base`` makes a duet script (open model only): every operation's
    scenario loads the head, and a twin scenario per operation in
    ``duet_base`` (keys) loads the base at the same rate, at the same time.
    ``schedule`` makes an interleaved script instead: the same scenarios as for
    one target, whose requests go to base or head block by block.
    """
    if duet_base is not None and schedule is not None:
        raise InternalError("a script is a duet or a schedule, not both")
    if schedule is not None and not schedule.slots:
        raise InternalError("a schedule needs at least one block")
    # What the spec says of these operations that was read leniently (type: int, a path
    # parameter never declared): said with the script's own warnings.
    keys = {op.key for op in operations}
    said = (w.removeprefix(f"{spec.source}: ") if spec.source else w for w in spec.warnings)
    warnings: list[str] = [w for w in said if w.partition(": ")[0] in keys]
    warnings += credential_warnings(spec, operations, load.auth)
    # Overrides land on the operation the spec names, matched as load.operations
    # are (openapi.names: GET /jobs/{id} is GET /jobs/{jobId}).
    by_key: dict[str, OperationOverride] = {}
    for entry in load.overrides:
        found = find_operation(spec, entry.operation)
        if found is None:
            raise InputError(
                f"plog.yml: load.overrides: {entry.operation!r} is not an operation of "
                f"{spec.source or 'the spec'}",
                hint="write the key as 'METHOD /path' as in the spec (parameter names may differ)",
            )
        by_key.setdefault(found.key, entry)
    planned = plan_operations(spec, operations, by_key, load, data_root, warnings)
    operations, plan_ops, producers = planned.operations, planned.plans, planned.producers
    dependencies = planned.dependencies
    names = tuple(p["name"] for p in plan_ops)
    if not names and planned.skipped:
        raise InputError(
            f"{spec.source or 'the spec'}: no selected operation can be sent: "
            + "; ".join(planned.skipped[:5]),
            hint=OVERRIDE_HINT,
        )
    if not names:
        raise InputError(
            f"{spec.source or 'the spec'}: no operation to load-test",
            hint="the spec has no paths (webhooks only?) or the selection is empty",
        )
    profile = scenarios(load, len(plan_ops))
    if duet_base is not None:
        if profile.model != "open":
            raise InputError(
                "a duet needs the open model (a scenario per operation and side)",
                hint="remove load.model: closed, or set compare.mode: interleaved",
            )
        profile = _duet_plan(profile, [op.key in duet_base for op in operations])
    on_base = duet_base if duet_base is not None else schedule.on_base if schedule else None
    selector = selectors(names, profile.model)
    limits = thresholds(
        gates,
        selector,
        abort_all=load.profile == "breakpoint",
        only=f"{SIDE_TAG}:{DUET_SIDES[0]}" if on_base is not None else "",  # the head
    )
    if k6_submetrics:
        for sel in selector.values():
            limits.setdefault(f"http_req_duration{{{sel}}}", []).append("max>=0")
            limits.setdefault(f"http_reqs{{{sel}}}", []).append("count>=0")
            limits.setdefault(f"http_req_failed{{{sel}}}", []).append("rate>=0")
    options: dict[str, Any] = {
        "scenarios": profile.scenarios,
        "thresholds": limits,
        "summaryTrendStats": TREND_STATS,
        "systemTags": SYSTEM_TAGS,
        "discardResponseBodies": True,
        "setupTimeout": "60s",
        "teardownTimeout": "60s",
    }
    base = default_base(spec, default_base_url)
    # Hosts a target may name: loopback (the deployed service) and the allow-listed
    # hosts, none of which may be loopback, link-local or a metadata address.
    listed = {x.lower().strip("[]") for x in (*allow_hosts, *load.allow_hosts, host_of(base))}
    hosts = sorted({h for h in listed if h and forbidden(h) is None} | set(LOOPBACK))
    plan_doc = {
        "defaultBaseUrl": base,
        "allowHosts": hosts,
        "operations": plan_ops,
        "producers": producers,
        "setupCount": load.setup_resources,
        "auth": plan_auth(load.auth),
        "sides": (
            [
                {
                    "name": side,
                    "env": side_env(side),
                    # The operations a side has (null: all of them).
                    "ops": (
                        [i for i, op in enumerate(operations) if op.key in on_base]
                        if side == "base"
                        else None
                    ),
                }
                for side in DUET_SIDES
            ]
            if on_base is not None
            else None
        ),
        "schedule": (
            {
                "turnMs": profile.duration_s * 1000 / len(schedule.slots),
                "perRound": schedule.per_round,
                "slots": [DUET_SIDES.index(side) for side in schedule.slots],
            }
            if schedule is not None
            else None
        ),
    }
    text = render(
        "k6/script.js.j2",
        version=__version__,
        source_label=spec.title or spec.source,
        plan=plan_doc,
        options=options,
    )
    return Script(
        text,
        names,
        duration_s=profile.duration_s,
        model=profile.model,
        allow_hosts=tuple(hosts),
        secret_env=secret_names(load.auth),
        warnings=tuple(dict.fromkeys(warnings)),
        dependencies=tuple(dependencies),
        feeds=tuple(planned.feeds),
        selectors=selector,
        default_base_url=base,
        sides=DUET_SIDES if on_base is not None else (),
        slots=schedule.slots if schedule else (),
        block_s=(
            profile.duration_s / len(schedule.slots) * schedule.per_round / 2 if schedule else 0.0
        ),
        per_round=schedule.per_round if schedule else 0,
    )


def _duet_plan(profile: Plan, on_base: list[bool]) -> Plan:
    """The head's scenarios (side 0, names unchanged) plus a base twin of each in ``on_base``."""
    out: dict[str, Any] = {}
    for index, (name, scenario) in enumerate(profile.scenarios.items()):
        out[name] = {**scenario, "env": {**scenario["env"], "PLOG_SIDE": "0"}}
        if on_base[index]:
            out[f"base_{name}"] = {**scenario, "env": {**scenario["env"], "PLOG_SIDE": "1"}}
    return replace(profile, scenarios=out)
