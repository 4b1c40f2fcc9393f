"""Authentication for the generated script: names of variables, never secrets.

The script reads the secret from ``__ENV`` when it runs; plog.yml and the
script only hold the variable's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from plog_ci import proc
from plog_ci.config.model import AuthConfig
from plog_ci.openapi.model import Operation, Spec


def plan_auth(auth: AuthConfig | None) -> dict[str, Any] | None:
    if auth is None:
        return None
    plan: dict[str, Any] = {"type": auth.type, "env": auth.env}
    if auth.type == "basic":
        plan["username"] = auth.username
        plan["usernameEnv"] = auth.username_env
    if auth.type == "api_key":
        plan["name"] = auth.name
        plan["in"] = auth.location
    return plan


def secret_names(auth: AuthConfig | None) -> tuple[str, ...]:
    """Environment variables whose values must be redacted from logs."""
    if auth is None:
        return ()
    return tuple(n for n in (auth.env, auth.username_env) if n)


def register_secrets(auth: AuthConfig | None, env: Mapping[str, str] | None = None) -> None:
    """Register the load's credentials with ``proc``'s redaction, in the forms the script
    sends them: the secret raw or URL-encoded, and basic auth's base64 ``user:pass``."""
    if auth is None:
        return
    env = os.environ if env is None else env
    secret = env.get(auth.env, "")
    if auth.type == "basic":
        username = env.get(auth.username_env, "") if auth.username_env else auth.username
        proc.register_basic_auth(username, secret)
    else:
        proc.register_secret(secret)


def needs_credentials(spec: Spec, op: Operation) -> tuple[str, ...]:
    """The security schemes ``op`` requires (its own ``security``, else the spec's),
    or () when it requires none: no requirement, or one that is empty (``{}``: the
    operation may be called anonymously; OpenAPI 3.1 section 4.8.30)."""
    requirements = op.security if op.security is not None else spec.security
    if not requirements or any(not req for req in requirements):
        return ()
    return tuple(dict.fromkeys(name for req in requirements for name in req))


def credential_warnings(
    spec: Spec, operations: list[Operation], auth: AuthConfig | None
) -> list[str]:
    """Say what the requests will lack (issue 17, item 8): without ``load.auth``, the
    operations that require credentials are sent without them; with it, the operations
    that declare no security (``security: []``) are, unless ``apply: always``."""
    if auth is not None:
        open_ops = [op.key for op in operations if op.security == ()]
        if not open_ops or auth.apply == "always":
            return []
        count = len(open_ops)
        said = "s declare" if count != 1 else " declares"
        verb = "are" if count != 1 else "is"
        listed = ", ".join(open_ops[:3]) + (", ..." if count > 3 else "")
        return [
            f"{count} operation{said} no security (security: []) and {verb} sent without "
            f"credentials ({listed}); load.auth.apply: always sends them anyway"
        ]
    out = []
    for op in operations:
        schemes = needs_credentials(spec, op)
        if schemes:
            out.append(
                f"{op.key}: requires credentials ({', '.join(schemes)}) but load.auth is not "
                "set: sent without them (set load.auth in plog.yml)"
            )
    return out
