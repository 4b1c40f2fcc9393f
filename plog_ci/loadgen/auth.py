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
