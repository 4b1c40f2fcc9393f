"""The operations plog.yml names, bound to the spec they must exist in.

plog.yml names operations in three places: ``load.operations`` (a list),
a gate's ``operation`` and the keys of ``load.overrides``. ``bind_operations``
matches each against a loaded spec with the one matcher of
``plog_ci.openapi.names`` (``GET /jobs/{id}`` names ``GET /jobs/{jobId}``) and
returns the Config with every name replaced by the spec's own key, so the
script's thresholds, the verdict's gates and the overrides land on the
operation the spec names. A name that matches no operation is a ConfigError at
``plog.yml:LINE:COL`` with a did-you-mean from the spec's operations; so is an
override that names an operation another override already names.

An override's parameter names are bound too (``_bind_values``). Path parameters
match by template as operations do: the n-th ``{name}`` of the override's own key
is the spec's n-th path parameter (``"GET /jobs/{id}": {path: {id: 7}}`` sets
``jobId``); the spec's own name is accepted as well. Every other name under
``path``, ``query``, ``headers`` or ``cookies`` must be a parameter of that
operation in that place (OpenAPI 3.1 section 4.8.12: a parameter is unique by
name and location), else it is refused with a did-you-mean from that place's
parameters. Header names compare case-insensitively (RFC 9110 section 5.1) and
are replaced by the spec's spelling; query and cookie names are compared
exactly (RFC 3986 section 6.2.2.1, RFC 6265 section 5.4). Also accepted: the
headers a spec cannot declare as parameters (``Accept``, ``Content-Type``,
``Authorization``: OpenAPI 3.1 section 4.8.12.1 has such definitions ignored),
and the name of an ``apiKey`` security scheme the operation uses, in its place.

``plog validate``, the pre-receive hook, ``plog gen --config`` and ``plog run``
(before any load starts) all call it.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable
from typing import Any

from plog_ci import yamldoc
from plog_ci.config.model import Config, OperationOverride
from plog_ci.config.parse import LIMITS
from plog_ci.config.problems import Problems
from plog_ci.errors import ConfigError
from plog_ci.gate_grammar import Gate
from plog_ci.openapi.model import Operation, Spec
from plog_ci.openapi.names import closest, find_operation, split_name

LISTED = 5  # the spec's operations a hint lists when no name is close
_TEMPLATE = re.compile(r"\{([^}/]*)\}")  # a path template's parameter names, in order
# (OperationOverride's field, the parameter location it sets)
PLACES = (("path", "path"), ("query", "query"), ("headers", "header"), ("cookies", "cookie"))
# Header parameters OpenAPI ignores when a spec declares them (3.1 section 4.8.12.1).
UNDECLARABLE_HEADERS = ("accept", "content-type", "authorization")


def names_operations(config: Config) -> bool:
    """Whether ``config`` names any operation (else it needs no spec to be checked)."""
    return (
        not isinstance(config.load.operations, str)
        or bool(config.load.overrides)
        or any(g.operation is not None for g in config.gates)
    )


def _hint(spec: Spec, name: str) -> str:
    near = closest(spec.operations, name)
    if near:
        return "did you mean " + " or ".join(repr(k) for k in near) + "?"
    keys = list(spec.operations)
    if not keys:
        return "the spec has no operations"
    more = f" (and {len(keys) - LISTED} more)" if len(keys) > LISTED else ""
    return "the spec's operations: " + ", ".join(keys[:LISTED]) + more


def _api_key_names(spec: Spec, op: Operation, location: str) -> list[str]:
    """Names of the ``apiKey`` schemes ``op`` may use that go in ``location``
    (its own ``security``, else the spec's; OpenAPI 3.1 section 4.8.10)."""
    requirements = op.security if op.security is not None else spec.security
    names: list[str] = []
    for requirement in requirements:
        for scheme_name in requirement:
            scheme = spec.security_schemes.get(scheme_name)
            if (
                scheme is not None
                and scheme.type == "apiKey"
                and scheme.location == location
                and scheme.param_name
                and scheme.param_name not in names
            ):
                names.append(scheme.param_name)
    return names


def _resolver(
    spec: Spec, op: Operation, location: str, key: str
) -> tuple[Callable[[str], str | None], dict[str, str], list[str]]:
    """For one place of an override of ``op`` written under ``key``: a function from a
    name written there to the spec's name (None: not a parameter there), the names the
    key's template gives by position (``{"id": "eventId"}``), and the spec's names there
    (for hints)."""
    if location == "path":
        parts = split_name(key)
        spec_names = _TEMPLATE.findall(op.path)
        key_names = _TEMPLATE.findall(parts[1] if parts else "")
        by_place = dict(zip(key_names, spec_names, strict=False))
        declared = list(dict.fromkeys([*spec_names, *(p.name for p in op.params("path"))]))

        def path_name(name: str) -> str | None:
            return by_place.get(name) or (name if name in declared else None)

        return path_name, by_place, declared
    names = [p.name for p in op.params(location)] + _api_key_names(spec, op, location)
    names = list(dict.fromkeys(names))
    if location == "header":
        folded = {n.lower(): n for n in names}

        def header_name(name: str) -> str | None:
            low = name.lower()
            return folded.get(low) or (name if low in UNDECLARABLE_HEADERS else None)

        return header_name, {}, names
    known = set(names)
    return (lambda name: name if name in known else None), {}, names


def _unknown_hint(
    name: str, location: str, op: Operation, names: list[str], by_place: dict[str, str]
) -> str:
    """A did-you-mean among ``names`` (and the key's own path names), else the list."""
    written = {v: k for k, v in by_place.items() if k != v}
    candidates = [*names, *written.values()]
    if location == "header":
        folded = {c.lower(): c for c in candidates}
        near = [folded[c] for c in difflib.get_close_matches(name.lower(), list(folded), n=2)]
    else:
        near = difflib.get_close_matches(name, candidates, n=2)
    if near:
        return "did you mean " + " or ".join(repr(n) for n in near) + "?"
    if not names:
        return f"{op.key} has no {location} parameters"
    listed = ", ".join(
        repr(n) + (f" (written {written[n]!r} in this key)" if n in written else "")
        for n in names[:LISTED]
    )
    more = f" (and {len(names) - LISTED} more)" if len(names) > LISTED else ""
    return f"its {location} parameters: {listed}{more}"


def _bind_values(
    problems: Problems,
    at: list[str | int],
    raw: Any,
    override: OperationOverride,
    op: Operation,
    spec: Spec,
    where: str,
) -> OperationOverride:
    """``override`` (of ``op``, written at ``at`` as the mapping ``raw``) with every
    parameter name replaced by the spec's; names that are not parameters of ``op`` in
    their place, and two names for one parameter, are added to ``problems``."""
    changes: dict[str, tuple[tuple[str, Any], ...]] = {}
    for field, location in PLACES:
        given: tuple[tuple[str, Any], ...] = getattr(override, field)
        if not given:
            continue
        written = list(raw.get(field) or {}) if isinstance(raw, dict) else []
        resolve, by_place, names = _resolver(spec, op, location, str(at[-1]))
        bound: list[tuple[str, Any]] = []
        first: dict[str, str] = {}  # the spec's name -> the name that set it first
        for i, (name, value) in enumerate(given):
            place: list[str | int] = [*at, field, written[i] if i < len(written) else name]
            target = resolve(name)
            if target is None:
                problems.add(
                    place,
                    f"{name!r} is not a {location} parameter of {op.key} in {where}",
                    _unknown_hint(name, location, op, names, by_place),
                    at_key=True,
                )
                continue
            if target in first:
                earlier = first[target]
                how = ", by its place in the key" if by_place.get(earlier) == target else ""
                problems.add(
                    place,
                    f"sets {location} parameter {target!r} of {op.key} again "
                    f"({earlier!r} names it too{how})",
                    "keep one of the two",
                    at_key=True,
                )
                continue
            first[target] = name
            bound.append((target, value))
        changes[field] = tuple(bound)
    return dataclasses.replace(override, **changes)  # type: ignore[arg-type]


def bind_operations(config: Config, spec: Spec, text: str | bytes) -> Config:
    """``config`` with every operation it names replaced by ``spec``'s key for it.

    ``text`` is the plog.yml ``config`` was parsed from (for positions). Raises
    ConfigError listing every name that matches no operation of ``spec``, and every
    override parameter name that matches no parameter of its operation, each at
    ``plog.yml:LINE:COL`` with the closest names as a hint.
    """
    if not names_operations(config):
        return config
    try:
        doc = yamldoc.load(text, config.source, LIMITS)
    except yamldoc.YamlError as exc:  # parse_config read the same text: cannot happen
        raise ConfigError(exc.message, hint=exc.hint) from None
    plain: Any = yamldoc.to_plain(doc)
    problems = Problems(config.source, doc)
    where = config.openapi.path

    def bind(path: list[str | int], name: str, *, at_key: bool = False) -> Operation | None:
        op = find_operation(spec, name)
        if op is None:
            problems.add(
                path,
                f"{name!r} is not an operation of {where}",
                _hint(spec, name),
                at_key=at_key,
            )
        return op

    load: dict[str, Any] = plain.get("load", {})
    operations = config.load.operations
    if not isinstance(operations, str):
        found = [bind(["load", "operations", i], name) for i, name in enumerate(operations)]
        operations = tuple(
            op.key if op else name for op, name in zip(found, operations, strict=True)
        )

    overrides: list[OperationOverride] = []
    named: dict[str, str] = {}  # spec key -> the override key that named it first
    for raw_key, override in zip(load.get("overrides", {}), config.load.overrides, strict=True):
        path: list[str | int] = ["load", "overrides", raw_key]
        op = bind(path, str(raw_key), at_key=True)
        if op is None:
            overrides.append(override)
            continue
        if op.key in named:
            problems.add(
                path,
                f"names the same operation as load.overrides[{named[op.key]!r}] "
                f"({op.key} in {where})",
                "merge the two entries into one",
                at_key=True,
            )
        named.setdefault(op.key, str(raw_key))
        override = _bind_values(
            problems, path, load["overrides"][raw_key], override, op, spec, where
        )
        overrides.append(dataclasses.replace(override, operation=op.key))

    gates: list[Gate] = []
    for i, gate in enumerate(config.gates):
        if gate.operation is None:
            gates.append(gate)
            continue
        op = bind(["gates", i, "operation"], gate.operation)
        gates.append(dataclasses.replace(gate, operation=op.key) if op else gate)

    problems.raise_if_any()
    return dataclasses.replace(
        config,
        load=dataclasses.replace(config.load, operations=operations, overrides=tuple(overrides)),
        gates=tuple(gates),
    )


def spec_unloadable(
    config: Config, text: str | bytes, reason: str, hint: str | None
) -> ConfigError:
    """The ConfigError for a spec that cannot be loaded, placed at plog.yml's ``openapi``
    (``reason``: what the spec loader said, ``hint``: its hint)."""
    doc = yamldoc.load(text, config.source, LIMITS)
    plain: Any = yamldoc.to_plain(doc)
    problems = Problems(config.source, doc)
    written_as_path = isinstance(plain, dict) and isinstance(plain.get("openapi"), str)
    problems.add(
        ["openapi"] if written_as_path else ["openapi", "path"],
        f"cannot load the spec: {reason}",
        hint or "plog.yml's openapi names the spec's path from the repository root",
    )
    line = problems.items[0][1]
    return ConfigError(line, errors=[line])
