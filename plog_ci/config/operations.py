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

``plog validate``, the pre-receive hook, ``plog gen --config`` and ``plog run``
(before any load starts) all call it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from plog_ci import yamldoc
from plog_ci.config.model import Config, OperationOverride
from plog_ci.config.parse import LIMITS
from plog_ci.config.problems import Problems
from plog_ci.errors import ConfigError
from plog_ci.gate_grammar import Gate
from plog_ci.openapi.model import Operation, Spec
from plog_ci.openapi.names import closest, find_operation

LISTED = 5  # the spec's operations a hint lists when no name is close


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


def bind_operations(config: Config, spec: Spec, text: str | bytes) -> Config:
    """``config`` with every operation it names replaced by ``spec``'s key for it.

    ``text`` is the plog.yml ``config`` was parsed from (for positions). Raises
    ConfigError listing every name that matches no operation of ``spec``, each at
    ``plog.yml:LINE:COL`` with the closest operations as a hint.
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
