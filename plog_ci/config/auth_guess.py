"""``load.auth`` guessed from the spec's security schemes, for ``plog init``.

The scheme guessed is the one the operations ask for most often (their own
``security``, else the document's; OpenAPI 3.1 sections 4.8.10 and 4.8.30, Swagger 2.0
"Security Requirement Object"); a tie goes to the one declared first. An operation
whose requirements include ``{}`` (anonymous allowed) asks for nothing. The mapping:

- ``http`` ``bearer`` (OpenAPI 3): ``{type: bearer, env: API_TOKEN}``;
- ``http`` ``basic``, Swagger 2.0 ``basic``: ``{type: basic, username_env: API_USER,
  env: API_PASSWORD}``;
- ``apiKey``: ``{type: api_key, env: API_KEY, name: <its name>, in: <its in>}``;
- ``oauth2``, ``openIdConnect``: bearer, the token to be fetched from the provider.

Another scheme (``http`` digest, ``mutualTLS``) gives no guess, and a note. The
secret itself is never written: only the name of the variable that will hold it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plog_ci.openapi.errors import SpecError
from plog_ci.openapi.model import SecurityScheme, Spec


@dataclass(frozen=True)
class AuthGuess:
    """``value``: the ``load.auth`` mapping; ``scheme``: the spec's scheme name;
    ``comment``: what plog.yml says beside it (what to set, where it came from)."""

    value: dict[str, str]
    scheme: str
    comment: str


def load_spec(path: Path, root: Path) -> Spec | None:
    """The spec at ``path`` (inside ``root``) with PLog's own loader, or None when it
    cannot be loaded (``plog validate`` then says why)."""
    from plog_ci.openapi.load import load_spec_file

    try:
        return load_spec_file(path, root)
    except (SpecError, OSError, ValueError):
        return None


def _asked_for(spec: Spec) -> Counter[str]:
    """How many operations ask for each scheme name."""
    counts: Counter[str] = Counter()
    for operation in spec.operations.values():
        requirements = spec.security if operation.security is None else operation.security
        if not requirements or any(not r for r in requirements):
            continue
        for name in {name for requirement in requirements for name in requirement}:
            counts[name] += 1
    return counts


def guess_auth(spec: Spec) -> tuple[AuthGuess | None, str | None]:
    """The guess for ``spec`` and a note for the user (a scheme PLog cannot fill in),
    each or both None when the operations ask for no credentials."""
    counts = _asked_for(spec)
    order = list(spec.security_schemes)
    known = [name for name in counts if name in spec.security_schemes]
    if not known:
        return None, None
    name = min(known, key=lambda n: (-counts[n], order.index(n)))
    scheme = spec.security_schemes[name]
    value = _value(scheme)
    if value is None:
        return None, (
            f"the spec's securitySchemes.{name} ({_kind(scheme)}) is not one PLog sends: "
            "load.auth takes bearer, basic or api_key"
        )
    envs = [value[k] for k in ("username_env", "env") if k in value]
    comment = (
        f"guessed from the spec's securitySchemes.{name}: set {' and '.join(envs)} "
        "in the environment"
    )
    if scheme.type in ("oauth2", "openIdConnect"):
        comment += f" (a token from the {scheme.type} provider: PLog does not fetch it)"
    return AuthGuess(value, name, comment), None


def _kind(scheme: SecurityScheme) -> str:
    return f"{scheme.type} {scheme.scheme}" if scheme.scheme else scheme.type


def _value(scheme: SecurityScheme) -> dict[str, str] | None:
    kind = scheme.type
    http = (scheme.scheme or "").lower()
    if (kind == "http" and http == "bearer") or kind in ("oauth2", "openIdConnect"):
        return {"type": "bearer", "env": "API_TOKEN"}
    if kind == "http" and http == "basic":
        return {"type": "basic", "username_env": "API_USER", "env": "API_PASSWORD"}
    if kind == "apiKey" and scheme.param_name and scheme.location in ("header", "query", "cookie"):
        return {
            "type": "api_key",
            "env": "API_KEY",
            "name": str(scheme.param_name),
            "in": str(scheme.location),
        }
    return None


def describe(value: dict[str, Any]) -> str:
    """One line for ``plog init``'s summary: ``bearer (API_TOKEN)``."""
    if value["type"] == "api_key":
        return f"api_key {value['name']} in {value['in']} (API_KEY)"
    envs = [value[k] for k in ("username_env", "env") if k in value]
    return f"{value['type']} ({', '.join(envs)})"
