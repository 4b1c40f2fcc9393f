"""Host allow-lists in plog.yml never admit loopback, link-local or metadata addresses.

``openapi.allow_hosts`` (where remote ``$ref``s may come from) and
``load.allow_hosts`` (what the load may reach besides the deployed service)
are written by whoever pushes plog.yml. Entries that name this machine
(127.0.0.0/8, ::1, localhost, 0.0.0.0), a link-local address (169.254.0.0/16,
fe80::/10) or a cloud metadata service (169.254.169.254,
metadata.google.internal, fd00:ec2::254, 100.100.100.200) are refused: the
deployed service's own loopback address is always reachable by the load, and
nothing else there is any business of a pushed file. ``forbidden`` judges an
entry as written (numeric spellings such as ``2130706433`` or ``127.1``
included); ``resolves_forbidden`` judges where a name points, for use just
before connecting.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_LEGACY_V4 = re.compile(r"^[0-9a-fx.]+$")


def host_of(entry: str) -> str:
    """The host an allow-list entry names: lower case, no brackets, port or final dot."""
    text = entry.strip().lower()
    if "://" in text:
        text = urlsplit(text).hostname or ""
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


def as_address(host: str) -> IPAddress | None:
    """``host`` as an IP address, also in the spellings a resolver accepts (``127.1``)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _LEGACY_V4.match(host):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_problem(address: IPAddress) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if address.is_unspecified:
        return "the unspecified address (it reaches this machine)"
    return None


def forbidden(entry: str) -> str | None:
    """What ``entry`` names that no allow-list may admit, or None when it is fine."""
    host = host_of(entry)
    if not host:
        return "not a host name"
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return "a loopback address"
    if host in METADATA_NAMES:
        return "a cloud metadata address"
    address = as_address(host)
    return address_problem(address) if address is not None else None


def resolves_forbidden(host: str, port: int | None = None) -> str | None:
    """Where ``host`` resolves that no allow-list may admit (e.g. ``169.254.169.254``),
    or None. A name that does not resolve is not judged here (connecting fails)."""
    address = as_address(host)
    if address is not None:
        problem = address_problem(address)
        return f"{address} is {problem}" if problem else None
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        resolved = as_address(str(info[4][0]).split("%", 1)[0])
        problem = address_problem(resolved) if resolved is not None else None
        if problem:
            return f"{host} resolves to {resolved}, {problem}"
    return None
