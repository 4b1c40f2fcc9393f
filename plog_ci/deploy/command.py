"""A command written in plog.yml (``service.run``, a ``service.setup`` step) as argv:
split like a shell would split it, but no shell runs it; ``{port}`` and ``${NAME}``
are replaced inside each argument, so a value can never inject syntax."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from plog_ci.errors import ConfigError

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(arg: str, env: Mapping[str, str], key: str = "service.run") -> str:
    """``${NAME}`` in one argument of ``service.run`` (or of the command at ``key``),
    from the environment PLog passes to the service (``service.env``, ``PORT``,
    ``HOST``...), never through a shell: the value is one argument whatever it holds.
    ``$$`` is a literal ``$``. A name that is not set is a ``ConfigError``."""

    def value(found: re.Match[str]) -> str:
        name = found.group(1)
        if name is None:
            return "$"
        if name not in env:
            raise ConfigError(
                f"plog.yml: {key}: ${{{name}}} is not set in the environment PLog "
                "passes to the service",
                hint=f"set {name} under service.env in plog.yml, or in the environment "
                "PLog runs in (write $$ for a literal $)",
            )
        return env[name]

    return _VARIABLE.sub(value, arg)


def command_argv(
    run: str, port: int, env: Mapping[str, str] | None = None, key: str = "service.run"
) -> tuple[str, ...]:
    """``service.run`` (or the command at ``key``) split as a shell would split it (no
    shell runs it), with ``{port}`` and, given ``env``, ``${NAME}`` replaced in each
    argument."""
    try:
        parts = shlex.split(run)
    except ValueError as exc:
        raise ConfigError(
            f"plog.yml: {key}: cannot split {run!r}: {exc}",
            hint="balance the quotes in the command",
        ) from None
    if not parts:
        raise ConfigError(f"plog.yml: {key}: the command is empty")
    argv = (p.replace("{port}", str(port)) for p in parts)
    return tuple(expand(a, env, key) for a in argv) if env is not None else tuple(argv)
