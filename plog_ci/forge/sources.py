"""Where the worker may fetch from: the allow-list, checked at intake and again before git.

A webhook payload names a ``clone_url``; PLog never fetches it on that word
alone. A URL is fetched only when

* it matches an ``--allow-repo`` pattern (``PLOG_ALLOW_REPOS``), or its host is
  an ``--allow-forge-host`` (``PLOG_ALLOW_FORGE_HOSTS``); with neither given,
  the forge's own host is the only one allowed (``github.com``, or the host of
  ``--api-url``);
* its scheme is ``https`` (``ssh`` only with ``--allow-ssh``; plain ``http``
  only with ``--allow-http-loopback`` and only to a loopback address, for test
  forges); ``file://``, ``ext::`` and other transports, relative paths and
  option-like values never are; an absolute local path only when an
  ``--allow-repo`` pattern that is itself an absolute path matches it;
* every address its host resolves to is public: loopback, link-local
  (169.254/16 with the cloud metadata address, fe80::/10), private, shared,
  multicast and reserved ranges are refused unless an ``--allow-net`` CIDR
  (``PLOG_ALLOW_NETS``) covers them, as Gitea's webhook ``ALLOWED_HOST_LIST``.

``git_config`` gives the ``-c`` options the fetch runs under: only the checked
protocol, no redirects, and the checked addresses pinned (``http.curloptResolve``)
so a second DNS answer cannot point the fetch elsewhere; for ssh, the first checked
address is given to ssh as its ``HostName`` (``core.sshCommand``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import posixpath
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from plog_ci.errors import InputError

GITHUB_HOST = "github.com"
GITHUB_API = "https://api.github.com"
_MAX_URL = 2048
_HOST = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
_SCP = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*)$")
_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")

Resolver = Callable[[str, int], list[str]]


class SourceRefused(InputError):
    """A repository URL the policy does not allow; the message says why."""


def _split(values: str | None) -> tuple[str, ...]:
    if not values:
        return ()
    return tuple(v for v in re.split(r"[\s,]+", values) if v)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise LookupError(str(exc)) from None
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class Checked:
    """A URL the policy allowed: how git reaches it, and the addresses it may use."""

    url: str
    scheme: str  # https | http | ssh | path
    host: str | None = None
    port: int | None = None
    addresses: tuple[str, ...] = ()

    def git_config(self) -> list[str]:
        """``-c`` options for git: this protocol only, no redirects, addresses pinned."""
        protocol = {"path": "file"}.get(self.scheme, self.scheme)
        args = [
            "-c",
            "protocol.allow=never",
            "-c",
            f"protocol.{protocol}.allow=always",
            "-c",
            "http.followRedirects=false",
            "-c",
            "credential.helper=",
        ]
        literal = self.host is not None and (":" in self.host or self.host in self.addresses)
        if self.scheme in ("https", "http") and self.host and self.addresses and not literal:
            pinned = ",".join(f"[{a}]" if ":" in a else a for a in self.addresses)
            args += ["-c", f"http.curloptResolve={self.host}:{self.port}:{pinned}"]
        if self.scheme == "ssh" and self.host and self.addresses and not literal:
            # ssh resolves the name again; HostName pins the checked address and
            # HostKeyAlias keeps known_hosts checked under the name. Both values were
            # validated (an address, a host name): nothing here reaches the shell raw.
            args += [
                "-c",
                f"core.sshCommand=ssh -o HostName={self.addresses[0]} -o HostKeyAlias={self.host}",
            ]
        return args


@dataclass(frozen=True)
class SourcePolicy:
    repos: tuple[str, ...] = ()  # URL patterns (fnmatch), or absolute path patterns
    hosts: tuple[str, ...] = ()  # forge hosts ("host" or "host:port")
    nets: tuple[str, ...] = ()  # CIDRs allowed although not public
    allow_ssh: bool = False
    allow_http_loopback: bool = False
    api_url: str | None = None  # the configured forge API base (its host is the default)
    resolver: Resolver = field(default=system_resolver, compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SourcePolicy:
        env = os.environ if environ is None else environ
        return cls(
            repos=_split(env.get("PLOG_ALLOW_REPOS")),
            hosts=_split(env.get("PLOG_ALLOW_FORGE_HOSTS")),
            nets=_split(env.get("PLOG_ALLOW_NETS")),
            allow_ssh=_truthy(env.get("PLOG_ALLOW_SSH")),
            allow_http_loopback=_truthy(env.get("PLOG_ALLOW_HTTP_LOOPBACK")),
            api_url=env.get("PLOG_FORGE_API_URL") or None,
        ).validated()

    def merged(
        self,
        *,
        repos: Iterable[str] = (),
        hosts: Iterable[str] = (),
        nets: Iterable[str] = (),
        allow_ssh: bool = False,
        allow_http_loopback: bool = False,
        api_url: str | None = None,
    ) -> SourcePolicy:
        """This policy plus what the command line adds."""
        return replace(
            self,
            api_url=api_url or self.api_url,
            repos=self.repos + tuple(repos),
            hosts=self.hosts + tuple(hosts),
            nets=self.nets + tuple(nets),
            allow_ssh=self.allow_ssh or allow_ssh,
            allow_http_loopback=self.allow_http_loopback or allow_http_loopback,
        ).validated()

    def with_forge_default(self, forge: str) -> SourcePolicy:
        """With no repository or host configured, the forge's own host is the one allowed."""
        api_url = self.api_url
        if self.repos or self.hosts:
            return self
        if api_url:
            host = urlsplit(api_url).netloc.rpartition("@")[2].lower()
            if forge == "github" and host == "api.github.com":
                host = GITHUB_HOST
            return replace(self, hosts=(host,)) if host else self
        return replace(self, hosts=(GITHUB_HOST,)) if forge == "github" else self

    def validated(self) -> SourcePolicy:
        for net in self.nets:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise InputError(
                    f"--allow-net {net!r} is not a CIDR", hint="e.g. 10.0.0.0/8 or 127.0.0.1/32"
                ) from None
        for host in self.hosts:
            if not host or "/" in host or host.startswith("-"):
                raise InputError(
                    f"--allow-forge-host {host!r} is not a host name",
                    hint="give the host alone, e.g. gitea.example.com or gitea.example.com:3000",
                )
        return self

    # -- the check -------------------------------------------------------------

    def check(self, url: object, *, resolve: bool = True, unresolved_ok: bool = False) -> Checked:
        """The URL as git may fetch it, or SourceRefused saying why not.

        ``resolve``: look the host up and check every address. ``unresolved_ok``:
        a host that does not resolve now passes (intake: the worker checks again).
        """
        if not isinstance(url, str) or not url:
            raise SourceRefused("repository URL missing")
        shown = url[:200]
        if url.startswith("-"):
            raise SourceRefused(f"repository URL {shown!r} looks like an option")
        if len(url) > _MAX_URL or any(ord(c) < 0x21 or c == "\x7f" for c in url):
            raise SourceRefused(f"repository URL {shown!r} has spaces or control characters")
        if _TRANSPORT.match(url):
            raise SourceRefused(f"repository URL {shown!r} names a git transport helper")
        if url.startswith("/"):
            return self._check_path(url)
        if "://" not in url:
            scp = _SCP.match(url)
            if scp is None:
                raise SourceRefused(
                    f"repository URL {shown!r} is a relative path or not a URL",
                    hint="repositories are fetched over https",
                )
            if not self.allow_ssh:
                raise SourceRefused(
                    f"repository URL {shown!r} is ssh, which is not enabled",
                    hint="start plog serve and plog worker with --allow-ssh to fetch over ssh",
                )
            host = scp.group("host").lower()
            return self._check_network(
                url, "ssh", host, 22, "/" + scp.group("path"), resolve, unresolved_ok
            )
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise SourceRefused(f"repository URL {shown!r} is malformed") from None
        if port == 0:  # 'port or default' below would read it as the default port
            raise SourceRefused(f"repository URL {shown!r} names port 0")
        scheme = parts.scheme.lower()
        if scheme == "https":
            pass
        elif scheme == "ssh":
            if not self.allow_ssh:
                raise SourceRefused(
                    f"repository URL {shown!r} is ssh, which is not enabled",
                    hint="start plog serve and plog worker with --allow-ssh to fetch over ssh",
                )
        elif scheme == "http":
            if not self.allow_http_loopback:
                raise SourceRefused(
                    f"repository URL {shown!r} is plain http",
                    hint="https only; --allow-http-loopback admits loopback test forges",
                )
        else:
            raise SourceRefused(f"repository URL {shown!r}: scheme {scheme!r} is not allowed")
        if scheme != "ssh" and (parts.username is not None or parts.password is not None):
            raise SourceRefused(f"repository URL {shown!r} carries credentials")
        host = (parts.hostname or "").lower()
        if parts.query or parts.fragment:
            raise SourceRefused(f"repository URL {shown!r} has a query or fragment")
        default_port = {"https": 443, "http": 80, "ssh": 22}[scheme]
        return self._check_network(
            url, scheme, host, port or default_port, parts.path, resolve, unresolved_ok
        )

    def _check_path(self, url: str) -> Checked:
        norm = posixpath.normpath(url)
        patterns = [p for p in self.repos if p.startswith("/")]
        if ".." in url.split("/") or not any(
            fnmatch.fnmatchcase(norm, posixpath.normpath(p)) for p in patterns
        ):
            raise SourceRefused(
                f"repository path {url[:200]!r} is not an allowed repository",
                hint="local repositories are fetched only when an --allow-repo pattern names them",
            )
        return Checked(norm, "path")

    def _allowed(self, url: str, host: str, port: int, default_port: int) -> bool:
        # "host" is the host on its scheme's default port; "host:port" that port only.
        if ":" in host:  # an IPv6 literal is written in brackets, with or without a port
            host = f"[{host.strip('[]')}]"
        names = {f"{host}:{port}"} | ({host} if port == default_port else set())
        if any(h.lower() in names for h in self.hosts):
            return True
        candidates = {url, url.removesuffix("/"), url.removesuffix("/").removesuffix(".git")}
        return any(
            fnmatch.fnmatchcase(c, p) or fnmatch.fnmatchcase(c, p.removesuffix(".git"))
            for p in self.repos
            if not p.startswith("/")
            for c in candidates
        )

    def _check_network(
        self,
        url: str,
        scheme: str,
        host: str,
        port: int,
        path: str,
        resolve: bool,
        unresolved_ok: bool,
    ) -> Checked:
        shown = url[:200]
        bare = host.strip("[]")
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None
        try:
            literal = ipaddress.ip_address(bare)
        except ValueError:
            literal = None
        if literal is None and not _HOST.match(host):
            raise SourceRefused(f"repository URL {shown!r} has no valid host")
        if ".." in path.split("/") or "\\" in path:
            raise SourceRefused(f"repository URL {shown!r} has '..' in its path")
        if re.search(r"%(?:2e|2f|5c|00)", path, re.IGNORECASE):
            raise SourceRefused(f"repository URL {shown!r} has an encoded '.', '/' or '\\'")
        default_port = {"https": 443, "http": 80, "ssh": 22}[scheme]
        if not self._allowed(url, host, port, default_port):
            raise SourceRefused(
                f"repository URL {shown!r} is not on the allow-list",
                hint="allow it with --allow-repo PATTERN or --allow-forge-host HOST "
                "(PLOG_ALLOW_REPOS, PLOG_ALLOW_FORGE_HOSTS) on plog serve and plog worker",
            )
        addresses: list[str]
        if literal is not None:
            addresses = [str(literal)]
        elif not resolve:
            return Checked(url, scheme, host, port)
        else:
            try:
                addresses = self.resolver(bare, port)
            except LookupError as exc:
                if unresolved_ok:
                    return Checked(url, scheme, host, port)
                raise SourceRefused(
                    f"repository host {host!r} does not resolve: {exc}",
                    hint="check the host name and DNS; the job can be retried",
                ) from None
            if not addresses:
                raise SourceRefused(f"repository host {host!r} has no address")
        for address in addresses:
            self._check_address(shown, scheme, address)
        return Checked(url, scheme, host, port, tuple(addresses))

    def _check_address(self, shown: str, scheme: str, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if scheme == "http":
            if not ip.is_loopback:
                raise SourceRefused(
                    f"repository URL {shown!r} is plain http to {ip}, not to a loopback address",
                    hint="--allow-http-loopback admits plain http to loopback test forges only",
                )
            return
        if any(ip in ipaddress.ip_network(net, strict=False) for net in self.nets):
            return
        if not ip.is_global or ip.is_multicast or ip.is_reserved:
            kind = (
                "loopback"
                if ip.is_loopback
                else "link-local (metadata)"
                if ip.is_link_local
                else "private"
                if ip.is_private
                else "not public"
            )
            raise SourceRefused(
                f"repository URL {shown!r} resolves to {ip}, a {kind} address",
                hint="allow an internal forge's network with --allow-net CIDR (PLOG_ALLOW_NETS)",
            )


def api_url_allowed(url: str, *, allow_http_loopback: bool) -> str | None:
    """Why ``url`` cannot be a forge API base (None: it can)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "it is not a URL"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname:
        if not allow_http_loopback:
            return "it is plain http (--allow-http-loopback admits loopback test forges)"
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return None
        except ValueError:
            if parts.hostname == "localhost":
                return None
        return "plain http is allowed to a loopback address only"
    return "it is not an https URL"
