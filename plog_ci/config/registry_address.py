"""A registry's address and an image repository's name, as plog.yml may write them.

``url`` is ``host[:port]``, ``https://host[:port]`` or ``http://host[:port]``: no
path, no credentials. ``repository`` follows the OCI distribution spec's name rule
(lowercase components separated by ``/``), without a tag or digest: PLog tags
images itself, with the commit. Each check gives ``(message, hint)`` or None;
a message never quotes a URL that may carry a secret.
"""

from __future__ import annotations

import re

URL_HINT = "write host[:port] or https://host[:port] (http:// for a registry without TLS)"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:\[[0-9A-Fa-f:.]+\]|{_LABEL}(?:\.{_LABEL})*)(?::(\d{{1,5}}))?")
# The OCI distribution spec's <name>: path components joined by '/'.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
# Registries commonly cap the whole reference; leave room for the host.
MAX_REPOSITORY = 200


def url_problem(url: str) -> tuple[str, str] | None:
    """Why ``url`` is no registry address, with a hint; None when it is one."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" in rest:
        return (
            "the URL carries credentials",
            "never put secrets in plog.yml: use username and password_env",
        )
    if sep and scheme.lower() not in ("http", "https"):
        return f"the scheme {scheme!r} is not http or https", URL_HINT
    host, slash, _ = rest.partition("/")
    if slash or "?" in host or "#" in host:
        return (
            f"{url!r} has a path; the registry's address is host[:port]",
            "the image's name goes in repository, e.g. url: registry.example.com, "
            "repository: team/petstore",
        )
    match = _HOST.fullmatch(host)
    if match is None:
        return f"{url!r} names no host", URL_HINT
    if match[1] is not None and not 1 <= int(match[1]) <= 65535:
        return f"{match[1]} is not a port (1 to 65535)", URL_HINT
    return None


def repository_problem(repository: str) -> tuple[str, str] | None:
    """Why ``repository`` is no image name for a registry, with a hint; None when it is."""
    hint = "lowercase letters and digits, with . _ - inside, parts joined by /: e.g. team/petstore"
    if len(repository) > MAX_REPOSITORY:
        return f"is longer than {MAX_REPOSITORY} characters", hint
    if _REPOSITORY.fullmatch(repository):
        return None
    first, _, _ = repository.partition("/")
    if ":" in first and "/" in repository:
        return (
            f"{repository!r} starts with a registry's address",
            "the host[:port] goes in url; repository is the rest, e.g. team/petstore",
        )
    last = repository.rsplit("/", 1)[-1]
    if "@" in repository or ":" in last:
        return (
            f"{repository!r} carries a tag or digest",
            "name the repository only: PLog tags each image with its commit",
        )
    if _REPOSITORY.fullmatch(repository.lower()):
        return f"{repository!r} has capital letters", hint
    return f"{repository!r} is not a repository name", hint
