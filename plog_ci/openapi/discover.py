"""Discovery: read every document a spec's ``$ref``\\s reach, checking each first.

Starting from the root file, each reference is checked *before* anything is read:
relative paths must stay inside the repository root and name regular files (see
:mod:`plog_ci.openapi.sources`); ``http(s)`` only for allow-listed hosts;
``file://``, other schemes and absolute paths never. Each document is parsed by
:mod:`plog_ci.openapi.parse` (per-file size, node and depth caps).

Cost is bounded by :class:`~plog_ci.openapi.limits.LoadLimits` (bytes per file and
in all, number of files, a deadline), never by a file count real specs reach. The
walk is breadth-first and reads *every* new file a document names before parsing
any of them, so a fan-out of many small files hits the byte or file limit after
cheap reads, not after parsing each one.

What discovery leaves for resolution (:mod:`plog_ci.openapi.resolve`): every ``$ref``
site with the document and the object it points at, taken before anything is
changed, and a guarantee that no chain of bare ``$ref`` nodes loops.
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from plog_ci.config.hosts import forbidden, resolves_forbidden
from plog_ci.openapi.errors import RefError, SpecError, SpecTooLargeError
from plog_ci.openapi.limits import Deadline, LoadLimits, too_large
from plog_ci.openapi.parse import ParseLimits, locate, parse, pointer
from plog_ci.openapi.sources import Refused, Source, normalize

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_MISSING = object()


def refs(doc: Any) -> Iterator[tuple[list[str | int], dict[str, Any], str]]:
    """Every ``$ref`` in ``doc``: (path where it appears, the node holding it, the string)."""
    stack: list[tuple[Any, list[str | int]]] = [(doc, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield path, node, ref
            for key, value in node.items():
                if isinstance(value, dict | list):
                    stack.append((value, [*path, key]))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, dict | list):
                    stack.append((value, [*path, i]))


def unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def pointer_get(doc: Any, fragment: str) -> Any:
    """The node of ``doc`` at JSON pointer ``fragment`` (RFC 6901, without '#'), or
    ``_MISSING``."""
    if fragment in ("", "/"):
        return doc
    node = doc
    for raw in fragment.lstrip("/").split("/"):
        part = unescape(raw)
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


@dataclass
class Site:
    """One ``$ref``: where it is written and what it points at."""

    key: str  # document holding it: "file:<rel>" or a URL without fragment
    where: list[str | int]  # path inside that document
    node: dict[str, Any]  # the mapping holding ``$ref``
    ref: str
    target: str  # document key it points into
    fragment: str  # JSON pointer inside it, without '#'


class Discovery:
    def __init__(
        self, source: Source, allow_hosts: tuple[str, ...], limits: LoadLimits, deadline: Deadline
    ) -> None:
        self.source = source
        self.allow_hosts = tuple(h.lower() for h in allow_hosts)
        self.limits = limits
        self.deadline = deadline
        self.parse_limits = ParseLimits(max_bytes=limits.max_file_bytes, max_nodes=limits.max_nodes)
        self.docs: dict[str, Any] = {}  # parsed
        self.raw: dict[str, bytes] = {}  # read (parsed or waiting in the queue)
        self.total = 0
        self.sites: list[Site] = []
        self.targets: dict[tuple[str, str], Any] = {}  # (doc key, fragment) -> node
        self._queue: deque[str] = deque()

    # -- naming ----------------------------------------------------------
    def display(self, key: str) -> str:
        return self.source.display(key[5:]) if key.startswith("file:") else key

    def fail(
        self, key: str, where: list[str | int], ref: str, reason: str, hint: str | None = None
    ) -> RefError:
        located = locate(self.raw.get(key, b""), self.display(key), [*where, "$ref"])
        place = pointer(where)
        return RefError(
            f"{located}: $ref {ref!r} at {place}: {reason}", ref=ref, where=place, hint=hint
        )

    # -- reading ---------------------------------------------------------
    def _keep(self, key: str, data: bytes) -> None:
        """Account for and queue a file just read (parsed later, in queue order)."""
        self.total += len(data)
        if len(self.raw) >= self.limits.max_files:
            raise too_large(
                self.display(key),
                f"more than {self.limits.max_files:,} files reached through $ref",
                "max_files",
                self.limits.max_files,
            )
        if self.total > self.limits.max_total_bytes:
            raise too_large(
                self.display(key),
                f"the files reached through $ref hold more than {self.total:,} bytes in all",
                "max_total_bytes",
                self.limits.max_total_bytes,
                " bytes",
            )
        self.raw[key] = data
        self._queue.append(key)
        self.deadline.check("reading the files $refs reach")

    def _parse_next(self) -> str:
        key = self._queue.popleft()
        self.docs[key] = parse(self.raw[key], self.display(key), self.parse_limits)
        self.deadline.check("parsing the files $refs reach")
        return key

    def load_root(self, rel: str) -> str:
        try:
            rel = normalize(rel)
            data = self.source.read(rel, self.limits.max_file_bytes)
        except Refused as exc:
            if "limit" in str(exc):
                raise SpecTooLargeError(
                    f"{self.source.display(rel)}: {exc} (PLOG_SPEC_MAX_FILE_BYTES)",
                    hint="split the spec into files joined by relative $refs; whoever runs "
                    "PLog can raise PLOG_SPEC_MAX_FILE_BYTES (an environment variable)",
                ) from None
            raise SpecError(f"{self.source.display(rel)}: {exc}") from None
        key = "file:" + rel
        self._keep(key, data)
        self._parse_next()
        return key

    def _fetch_http(self, url: str) -> bytes:
        import httpx  # only when a host is allow-listed

        try:
            with httpx.Client(timeout=self.limits.http_timeout_s, follow_redirects=False) as client:
                with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise Refused(f"HTTP {response.status_code}")
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > self.limits.max_file_bytes:
                            raise Refused("the response is over the size limit")
                        chunks.append(chunk)
                    return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise Refused(f"cannot fetch: {exc}") from None

    def _url_target(self, key: str, where: list[str | int], ref: str, address: str) -> str:
        parts = urlsplit(address)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise self.fail(
                key,
                where,
                ref,
                f"{scheme or 'network'} references are not "
                "allowed; $ref may only name files inside the repository",
                hint="use a relative path such as ./schemas/pet.yaml",
            )
        host = (parts.hostname or "").lower()
        if host not in self.allow_hosts:
            raise self.fail(
                key,
                where,
                ref,
                "network references are refused (PLog never "
                "fetches a URL unless its host is allow-listed)",
                hint=(
                    "vendor the file into the repository; openapi.allow_hosts cannot "
                    "list a loopback, link-local or metadata address (plog diff and "
                    "plog gen take --allow-host for one)"
                    if forbidden(host)
                    else f"vendor the file into the repository, or add {host!r} "
                    "to openapi.allow_hosts in plog.yml"
                ),
            )
        # A name in openapi.allow_hosts may not point at this machine, a link-local
        # address or a metadata service (plog.yml cannot list those: config.hosts);
        # an address the operator allow-listed literally (--allow-host 127.0.0.1) may.
        pointed = None if forbidden(host) else resolves_forbidden(host, parts.port)
        if pointed:
            raise self.fail(
                key,
                where,
                ref,
                f"refused: {pointed}, which no allow-list admits",
                hint="vendor the file into the repository",
            )
        url = urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))
        if url not in self.raw:
            try:
                data = self._fetch_http(url)
            except Refused as exc:
                raise self.fail(key, where, ref, str(exc)) from None
            self._keep(url, data)
        return url

    def _target(self, key: str, where: list[str | int], ref: str) -> tuple[str, str]:
        """(document key, fragment) that ``ref`` in document ``key`` points at; the
        document is read (not parsed) if it is new."""
        address, _, fragment = ref.partition("#")
        if fragment and not fragment.startswith("/"):
            raise self.fail(key, where, ref, "only JSON-pointer fragments ('#/...') are supported")
        if not address:
            return key, fragment
        if not key.startswith("file:") and not _SCHEME.match(address):
            address = urljoin(key, address)
        if address.startswith("//") or _SCHEME.match(address):
            return self._url_target(key, where, ref, address), fragment
        try:
            if address.startswith("/"):
                normalize(address)  # raises: absolute
            rel = normalize(posixpath.join(posixpath.dirname(key[5:]), address))
        except Refused as exc:
            raise self.fail(
                key, where, ref, str(exc), hint="$ref may only name files inside the repository"
            ) from None
        target = "file:" + rel
        if target not in self.raw:
            try:
                data = self.source.read(rel, self.limits.max_file_bytes)
            except Refused as exc:
                reason = f"{self.source.display(rel)}: {exc}"
                if "limit" in str(exc):
                    reason += " (PLOG_SPEC_MAX_FILE_BYTES)"
                raise self.fail(key, where, ref, reason) from None
            self._keep(target, data)
        return target, fragment

    # -- the walk --------------------------------------------------------
    def discover(self, root_key: str) -> None:
        """Read and parse every document reached from ``root_key``; record every site."""
        pending = [root_key]
        while pending:
            for key in pending:
                for where, node, ref in refs(self.docs[key]):
                    target, fragment = self._target(key, where, ref)
                    self.sites.append(Site(key, where, node, ref, target, fragment))
                    if len(self.sites) % 4096 == 0:
                        self.deadline.check("following $refs")
            pending = [self._parse_next() for _ in range(len(self._queue))]
        for site in self.sites:
            found = self.targets.get((site.target, site.fragment), _MISSING)
            if found is _MISSING:
                found = pointer_get(self.docs[site.target], site.fragment)
                if found is _MISSING:
                    raise self.fail(
                        site.key,
                        site.where,
                        site.ref,
                        f"it points at nothing (no #{site.fragment} in "
                        f"{self.display(site.target)})",
                    )
                self.targets[(site.target, site.fragment)] = found
        self._check_cycles()

    def _check_cycles(self) -> None:
        """Refuse a chain of bare ``$ref`` nodes that comes back to itself (no content)."""
        by_node = {id(s.node): s for s in self.sites}
        clear: set[int] = set()  # ref nodes whose chain ends at content
        for site in self.sites:
            chain: list[Site] = []
            on_chain: set[int] = set()
            step: Site | None = site
            while step is not None and id(step.node) not in clear:
                if id(step.node) in on_chain:
                    names = [
                        f"{self.display(s.key)}{pointer(s.where)}"
                        for s in [*chain[chain.index(step) :], step]
                    ]
                    raise self.fail(
                        step.key,
                        step.where,
                        step.ref,
                        "a $ref cycle with no content: " + " -> ".join(names),
                        hint="point one of these $refs at a definition",
                    )
                chain.append(step)
                on_chain.add(id(step.node))
                found = self.targets[(step.target, step.fragment)]
                step = by_node.get(id(found)) if isinstance(found, dict) else None
            clear.update(on_chain)
