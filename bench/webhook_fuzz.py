"""Property-based fuzz of the webhook receiver: random bodies and headers against create_app.

Hypothesis draws deliveries (random bytes, JSON of any shape, mutated real
GitHub/Gitea payloads, random header sets and signatures) and posts each one to
``create_app(...).test_client()`` (in-process). Every answer is checked:

- never a 5xx;
- a body without a correct HMAC in any signature header never creates a job and
  is answered 401 (400 when there is no event header at all; 413 when too big);
- a correctly signed body is answered 2xx (then at most one job, whose
  ``clone_url`` passes the configured policy) or 4xx with a JSON ``error``;
- the answer never holds the webhook secret unless the request did.

``python -m bench webhook_fuzz --examples 100000`` prints the examples run, the
statuses by class, jobs created from unsigned bodies and the 5xx count (both
must be 0), and the wall time. ``tests/security/test_webhook_fuzz.py`` runs the
same strategies and checks on a bounded, derandomized number of examples.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

from plog_ci.forge.sources import SourcePolicy, SourceRefused
from plog_ci.jobs import JobSpec
from plog_ci.web import create_app
from testing.paths import WEBHOOK_DATA

SECRET = "fuzz-Secret-7f3c9a1e-never-echo"
HEAD = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
BEFORE = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
MAX_BODY = 256 * 1024
GITEA_API = "https://gitea.example.com/api/v1"

# -- the configured policy: a fake resolver, so results do not depend on DNS -------------

_ADDRESSES = {
    "github.com": ["140.82.112.3"],
    "gitea.example.com": ["93.184.216.34"],
    "rebind.example.com": ["127.0.0.1"],  # an allowed name that resolves to loopback
    "mixed.example.com": ["140.82.112.4", "10.0.0.7"],  # one public, one private
    "meta.example.com": ["169.254.169.254"],
    "v6.example.com": ["::ffff:127.0.0.1"],
}


def fake_resolver(host: str, port: int) -> list[str]:
    try:
        return list(_ADDRESSES[host])
    except KeyError:
        raise LookupError(f"{host}: no such host (fuzz resolver)") from None


POLICY = SourcePolicy(
    hosts=(
        "github.com",
        "gitea.example.com",
        "rebind.example.com",
        "mixed.example.com",
        "meta.example.com",
        "v6.example.com",
        "unresolved.example.com",
    ),
    repos=("https://forge.example.org/team/*",),
    resolver=fake_resolver,
)

# -- strategies ------------------------------------------------------------------------

HOSTILE_URLS = [
    "file:///etc",
    "file:///etc/passwd",
    "--upload-pack=x",
    "--upload-pack=touch /tmp/plog-fuzz-pwned",
    "-oProxyCommand=touch",
    "ext::sh",
    "ext::sh -c touch% /tmp/plog-fuzz-pwned",
    "fd::17",
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/",
    "https://[fd00:ec2::254]/",
    "https://[::1]/o/r.git",
    "https://127.0.0.1/o/r.git",
    "https://localhost/o/r.git",
    "https://2130706433/o/r.git",
    "https://rebind.example.com/o/r.git",
    "https://mixed.example.com/o/r.git",
    "https://meta.example.com/o/r.git",
    "https://v6.example.com/o/r.git",
    "https://unresolved.example.com/o/r.git",
    "https://github.com/Codertocat/Hello-World.git",
    "https://GitHub.com/Codertocat/Hello-World.git",
    "https://github.com./o/r.git",
    "https://github.com:443/o/r.git",
    "https://github.com:22/o/r.git",
    "https://github.com:99999/o/r.git",
    "https://github.com:-1/o/r.git",
    "https://[github.com]/o/r.git",
    "https://[::1/o/r.git",
    "https://user:tok@github.com/o/r.git",
    "https://github.com@169.254.169.254/x.git",
    "https://github.com/o/../../r.git",
    "https://github.com/o/r.git?x=1",
    "https://github.com/o/r.git#frag",
    "https://github.com/o/%2e%2e/r.git",
    "https://github.com/o%2F..%2Fx/r.git",
    "https://github.com/o/r%00.git",
    "https://github.com/o\\..\\r.git",
    "https://github.com/o/r\n.git",
    "https://gitea.example.com/team/app.git",
    "https://forge.example.org/team/app.git",
    "https://forge.example.org/team/../evil/app.git",
    "https://forge.example.org/other/app.git",
    "https://evil.example.com/o/r.git",
    "http://github.com/o/r.git",
    "git://github.com/o/r.git",
    "ssh://git@github.com/o/r.git",
    "git@github.com:o/r.git",
    "ftp://github.com/o/r.git",
    "/etc",
    "/srv/git/other.git",
    "../../other.git",
    "other.git",
    "https://ｇｉｔｈｕｂ.com/o/r.git",
    "https://xn--github-9ya.com/o/r.git",
    "https:///o/r.git",
    "https://",
    "",
]

HOSTILE_VALUES: list[Any] = [
    *HOSTILE_URLS,
    None,
    True,
    False,
    0,
    -1,
    2**31,
    2**70,
    -(2**63),
    1.5,
    1e308,
    [],
    {},
    [[[[[]]]]],
    {"a": {"b": {"c": {}}}},
    "x" * 5000,
    "\udce9",
    "\ud800",
    "\udfff",
    "a\x00b",
    "\x00",
    "../../etc",
    "refs/heads/main",
    "refs/heads/lat\udce9n",  # a branch name that is not UTF-8 (surrogate-escaped)
    "refs/heads/\udcff\udcfe",
    "refs/heads/a\x00b",
    "refs/heads/" + "b" * 5000,
    "refs/heads/-x",
    "refs/heads/--upload-pack=x",
    "refs/tags/v1",
    "refs/pull/1/head",
    "refs/notes/plog",
    "0" * 40,
    "0" * 64,
    HEAD,
    HEAD.upper(),
    HEAD[:39],
    "f" * 64,
    "opened",
    "synchronize",
    "synchronized",
    "reopened",
    "closed",
    "Codertocat/Hello-World",
    "../..",
    "owner/repo\n",
    "\u202eevil",
    "$(touch /tmp/x)",
    "`id`",
    "%s%n",
    "${jndi:ldap://x}",
    SECRET[:8],
]

JSON_KEYS = st.one_of(
    st.sampled_from(["ref", "after", "before", "repository", "clone_url", "pull_request"]),
    st.text(max_size=12),
)


def _texts() -> st.SearchStrategy[str]:
    # Lone surrogates included (they travel as \\udXXX escapes), NUL included.
    chars = st.characters(codec=None, exclude_categories=())
    huge = st.builds(
        lambda c, n: c * n,
        st.sampled_from(["x", "é", "\x00", "\udce9", "ω", "["]),
        st.integers(1000, 300_000),
    )
    return st.one_of(st.text(chars, max_size=40), huge)


def json_docs() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**400), max_value=10**400),
        st.floats(allow_nan=True, allow_infinity=True),
        _texts(),
        st.sampled_from(HOSTILE_VALUES),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=6),
            st.dictionaries(JSON_KEYS, children, max_size=6),
        ),
        max_leaves=40,
    )


JSON_DOCS = json_docs()


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOK_DATA / name).read_text(encoding="utf-8"))
    return data


def _real_push() -> dict[str, Any]:
    data = _load("push_1.payload.json")
    data.update(ref="refs/heads/main", before=BEFORE, after=HEAD, deleted=False, created=False)
    data["repository"]["clone_url"] = "https://github.com/Codertocat/Hello-World.git"
    return data


def _gitea_push() -> dict[str, Any]:
    data = _real_push()
    data["repository"]["clone_url"] = "https://gitea.example.com/team/app.git"
    data.pop("forced", None)  # Gitea sends no "forced"
    return data


BASES: dict[str, dict[str, Any]] = {
    "push": _real_push(),
    "push-gitea": _gitea_push(),
    "push-tag": _load("push_1.payload.json"),
    "pull_request": _load("pull_request_opened.payload.json"),
    "pull_request-sync": _load("pull_request_synchronize.payload.json"),
    "pull_request-closed": _load("pull_request_closed.payload.json"),
    "pull_request-null-body": _load("pull_request_opened.with-null-body.json"),
    "ping": _load("ping_payload.json"),
}
BASE_NAMES = st.sampled_from(list(BASES))
BASE_EVENT = {name: name.split("-")[0] for name in BASES}

# The fields the receiver reads, mutated more often than the rest.
KEY_PATHS: list[tuple[str | int, ...]] = [
    ("ref",),
    ("after",),
    ("before",),
    ("deleted",),
    ("forced",),
    ("action",),
    ("number",),
    ("repository",),
    ("repository", "clone_url"),
    ("repository", "full_name"),
    ("repository", "html_url"),
    ("pull_request",),
    ("pull_request", "head"),
    ("pull_request", "head", "sha"),
    ("pull_request", "head", "ref"),
    ("pull_request", "head", "repo"),
    ("pull_request", "head", "repo", "full_name"),
    ("pull_request", "base", "sha"),
    ("pull_request", "base", "repo", "full_name"),
]


def _paths(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node[:3]):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


BASE_TEXT = {name: json.dumps(doc) for name, doc in BASES.items()}
ALL_PATHS = {name: st.sampled_from(list(_paths(doc))) for name, doc in BASES.items()}
KEY_PATH = st.sampled_from(KEY_PATHS)
HOSTILE = st.sampled_from(HOSTILE_VALUES)
OPS = st.sampled_from(("hostile", "drop", "hostile", "json", "wrap", "stringify"))
SHA = st.integers(0, 2**64).map(lambda n: hashlib.sha1(b"plog%d" % n).hexdigest())
URLS = st.one_of(st.sampled_from(HOSTILE_URLS), st.text(max_size=60))
HEAD_PATHS: dict[str, list[tuple[str | int, ...]]] = {
    "push": [("after",)],
    "pull_request": [("pull_request", "head", "sha")],
}


def _parent(doc: Any, path: tuple[str | int, ...]) -> Any:
    node = doc
    for key in path[:-1]:
        if isinstance(node, dict) and isinstance(key, str) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


@st.composite
def mutated_payloads(draw: st.DrawFn) -> tuple[str, Any]:
    """A real payload with a few fields dropped, retyped or replaced by hostile values."""
    name = draw(BASE_NAMES)
    doc: Any = json.loads(BASE_TEXT[name])
    if not draw(st.booleans()):  # a new commit, so that the job is new (not a redelivery)
        for path in HEAD_PATHS.get(BASE_EVENT[name], []):
            _parent(doc, path)[path[-1]] = draw(SHA)
    if isinstance(doc.get("repository"), dict) and draw(st.integers(0, 2)) == 2:
        doc["repository"]["clone_url"] = draw(URLS)  # where the worker would fetch from
    for _ in range(draw(st.sampled_from((0, 0, 1, 1, 1, 2, 3, 6)))):
        path = draw(KEY_PATH) if draw(st.booleans()) else draw(ALL_PATHS[name])
        parent = _parent(doc, path)
        key = path[-1]
        op = draw(OPS)
        if isinstance(parent, dict) and isinstance(key, str):
            if op == "drop":
                parent.pop(key, None)
                continue
            old = parent.get(key)
        elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
            old = parent[key]
        else:
            continue
        if op in ("hostile", "drop"):
            new = draw(HOSTILE)
        elif op == "json":
            new = draw(JSON_DOCS)
        elif op == "wrap":
            new = [old]
        else:
            new = json.dumps(old)
        parent[key] = new
    if draw(st.integers(0, 9)) == 9:
        doc = draw(
            st.sampled_from([[doc], doc.get("repository") if isinstance(doc, dict) else doc])
        )
    return BASE_EVENT[name], doc


def _encode(doc: Any, how: str) -> bytes:
    if how == "ascii":
        return json.dumps(doc).encode("ascii")
    text = json.dumps(doc, ensure_ascii=False, indent=1 if how == "indent" else None)
    try:
        # Lone \udc80-\udcff become raw bytes (a non-UTF-8 ref on the wire).
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")  # invalid UTF-8 (encoded surrogates)


def _nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return (
        b'{"ref": "refs/heads/main", "after": "'
        + HEAD.encode()
        + b'", "repository": {"clone_url": '
        + b"[" * depth
        + b"]" * depth
        + b"}}"
    )


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str | None, bytes]:
    """(the event the body was made for, or None; the body bytes)."""
    kind = draw(st.sampled_from(("payload", "payload", "payload", "json", "bytes", "nested")))
    event: str | None = None
    if kind == "bytes":
        body = draw(st.binary(max_size=512))
    elif kind == "nested":
        body = _nested(
            draw(st.integers(1, 120_000)), draw(st.sampled_from(("list", "object", "in")))
        )
    else:
        if kind == "json":
            doc = draw(JSON_DOCS)
        else:
            event, doc = draw(mutated_payloads())
        try:
            body = _encode(doc, draw(st.sampled_from(("ascii", "utf8", "indent"))))
        except ValueError:  # a float json cannot write
            body = b"{}"
    cut = draw(st.sampled_from(("none",) * 8 + ("truncate", "append", "utf16", "form")))
    if cut == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif cut == "append":
        body += draw(st.binary(min_size=1, max_size=16))
    elif cut == "utf16":
        try:
            body = body.decode("utf-8").encode(draw(st.sampled_from(("utf-16", "utf-32-le"))))
        except UnicodeDecodeError:
            pass
    elif cut == "form":
        body = b"payload=" + quote(body).encode("ascii")
    return event, body


EVENTS = ("push", "pull_request", "ping", "star", "issues", "", "PUSH", " push", "push ", "é")
CONTENT_TYPES = (
    None,
    "",
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "application/octet-stream",
    "application/json;;;==",
)
CONTENT_TYPE = st.sampled_from(CONTENT_TYPES)
SIGNATURE_HEADERS = ["X-Hub-Signature-256", "X-Gitea-Signature", "X-Forgejo-Signature"]
SIGNATURE_MODES = (
    "valid",
    "valid",
    "valid",
    "valid",
    "valid",
    "valid",
    "absent",
    "garbage",
    "other-body",
    "other-secret",
    "upper",
    "sha1",
    "truncated",
    "empty",
)
LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
MODES = st.sampled_from(SIGNATURE_MODES)
GITEA_SIG_HEADERS = st.sampled_from(
    ("X-Gitea-Signature", "X-Forgejo-Signature", "X-Hub-Signature-256")
)
APPS = st.sampled_from(("github", "gitea"))
GARBAGE = st.one_of(st.text(LATIN1, max_size=80), st.just("sha256=" + "0" * 64), st.just("0" * 64))
EVENT_NAMES = st.one_of(st.sampled_from(EVENTS), st.text(LATIN1, max_size=20))
FORGE_HEADERS = st.sampled_from(
    (
        ("X-GitHub-Event",),
        ("X-GitHub-Event",),
        ("X-GitHub-Event",),
        ("X-Gitea-Event",),
        ("X-Gitea-Event",),
        ("X-Forgejo-Event",),
        ("X-GitHub-Event",),
        ("X-Gitea-Event",),
        ("X-Gitea-Event", "X-GitHub-Event"),
        ("X-Forgejo-Event", "X-GitHub-Event"),
        (),
    )
)
DELIVERY_IDS = st.one_of(
    st.integers(0, 2**64).map(lambda n: f"d-{n}"),
    st.none(),
    st.sampled_from(("d-1", "", "x" * 300)),
    st.text(LATIN1, max_size=40),
)


def _mac(body: bytes, secret: bytes = SECRET.encode()) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


@st.composite
def _signature(draw: st.DrawFn, header: str, body: bytes) -> str | None:
    mode = draw(MODES)
    prefix = "sha256=" if header == "X-Hub-Signature-256" else ""
    if draw(st.integers(0, 19)) == 19:
        prefix = "sha256=" if not prefix else ""  # the other forge's format
    if mode == "absent":
        return None
    if mode == "valid":
        return prefix + _mac(body)
    if mode == "garbage":
        return draw(GARBAGE)
    if mode == "other-body":
        other = draw(st.binary(max_size=8))
        return prefix + _mac(body + other + b"\x00")
    if mode == "other-secret":
        return prefix + _mac(body, b"It's a Secret to Everybody")
    if mode == "upper":
        return prefix + _mac(body).upper()
    if mode == "sha1":
        return "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    if mode == "truncated":
        return prefix + _mac(body)[: draw(st.integers(0, 63))]
    return ""


@dataclass(frozen=True)
class Delivery:
    app: str  # "github" or "gitea": which configured app receives it
    body: bytes
    headers: dict[str, str]

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 400 else self.body[:400] + b"..."
        return f"Delivery(app={self.app!r}, headers={self.headers!r}, body={body!r})"


@st.composite
def deliveries(draw: st.DrawFn) -> Delivery:
    made_for, body = draw(bodies())
    headers: dict[str, str] = {}
    forge_headers = draw(FORGE_HEADERS)
    for name in forge_headers:
        if made_for is not None and draw(st.integers(0, 9)) < 9:
            headers[name] = made_for
        else:
            headers[name] = draw(EVENT_NAMES)
    # The header the sender's forge signs in gets most of the attention; the others
    # are absent or random (garbage, another body's MAC, a valid one).
    gitea = "X-Gitea-Event" in headers or "X-Forgejo-Event" in headers
    own = draw(GITEA_SIG_HEADERS) if gitea else "X-Hub-Signature-256"
    value = draw(_signature(own, body))
    if value is not None:
        headers[own] = value
    for name in SIGNATURE_HEADERS:
        if name != own and draw(st.integers(0, 3)) == 3:
            other = draw(_signature(name, body))
            if other is not None:
                headers[name] = other
    delivery = draw(DELIVERY_IDS)
    if delivery is not None:
        for name in ("X-GitHub-Delivery", "X-Gitea-Delivery"):
            headers[name] = delivery
    content_type = draw(CONTENT_TYPE)
    if content_type is None and body.startswith(b"payload="):
        content_type = "application/x-www-form-urlencoded"
    if content_type is not None:
        headers["Content-Type"] = content_type
    # Mostly the app configured for the sender's forge; sometimes the other one.
    app = ("gitea" if gitea else "github") if draw(st.integers(0, 9)) < 9 else draw(APPS)
    return Delivery(app, body, headers)


PATHS = st.one_of(
    st.sampled_from(
        (
            "/jobs/1",
            "/jobs/0",
            "/jobs/-1",
            "/jobs/99999999999999999999",
            "/jobs/9223372036854775808",
            "/jobs/",
            "/jobs/%00",
            "/webhook",
            "/webhook/",
            "//webhook",
            "/healthz",
            "/",
        )
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(lambda n: f"/jobs/{n}"),
    st.text("abcdefjobswhk0123456789-._~/%", max_size=30).map(lambda t: "/" + t),
)
METHODS = st.sampled_from(("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"))


# -- the oracle --------------------------------------------------------------------------


def correctly_signed(d: Delivery) -> bool:
    """A correct HMAC of this body, in some signature header, in either forge's format."""
    mac = _mac(d.body)
    return any(d.headers.get(h) in (mac, "sha256=" + mac) for h in SIGNATURE_HEADERS)


def _has_event_header(d: Delivery) -> bool:
    return any(d.headers.get(h) for h in ("X-GitHub-Event", "X-Gitea-Event", "X-Forgejo-Event"))


@dataclass
class Outcome:
    status: int
    created: int
    violations: list[str] = field(default_factory=list)


class Harness:
    """The two configured apps (GitHub, and Gitea with its API URL), each on its own home."""

    def __init__(self, root: Path) -> None:
        self.apps: dict[str, Flask] = {}
        self.clients: dict[str, FlaskClient] = {}
        self.dbs: dict[str, Path] = {}
        self.spools: dict[str, Path] = {}
        self.last: dict[str, tuple[int, int]] = {}
        self.conns: dict[str, sqlite3.Connection] = {}
        for name, extra in (
            ("github", {}),
            ("gitea", {"FORGE": "gitea", "FORGE_API_URL": GITEA_API}),
        ):
            home = root / name
            app = create_app(
                {
                    "WEBHOOK_SECRET": SECRET,
                    "PLOG_HOME": str(home),
                    "MAX_BODY": MAX_BODY,
                    "SOURCES": POLICY,
                    **extra,
                }
            )
            self.apps[name] = app
            self.clients[name] = app.test_client()
            self.dbs[name] = home / "queue.db"
            self.spools[name] = home / "spool"
            # The queue creates its tables on first use.
            app.extensions["plog_queue"].counts()
            self.conns[name] = sqlite3.connect(f"file:{home / 'queue.db'}?mode=ro", uri=True)
            self.last[name] = self._state(name)

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        for app in self.apps.values():
            app.extensions["plog_intake"].close()
            app.extensions["plog_queue"].close()

    def _state(self, app: str) -> tuple[int, int]:
        row = self.conns[app].execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()
        spool = self.spools[app]
        spooled = sum(1 for _ in spool.glob("*.json")) if spool.is_dir() else 0
        return int(row[0]), spooled

    def _new_specs(self, app: str, after_id: int) -> list[JobSpec]:
        rows = self.conns[app].execute("SELECT spec FROM jobs WHERE id > ?", (after_id,)).fetchall()
        specs = [JobSpec.from_json(r[0]) for r in rows]
        spool = self.spools[app]
        if spool.is_dir():
            for path in spool.glob("*.json"):
                specs.append(JobSpec.from_json(json.loads(path.read_text())["spec"]))
                path.unlink()  # counted once
        return specs

    def check(self, d: Delivery) -> Outcome:
        before_id, _ = self.last[d.app]
        res = self.clients[d.app].post("/webhook", data=d.body, headers=d.headers)
        after_id, spooled = self._state(d.app)
        specs = self._new_specs(d.app, before_id) if (after_id != before_id or spooled) else []
        self.last[d.app] = (after_id, 0)
        out = Outcome(res.status_code, len(specs))
        bad = out.violations
        status = res.status_code
        if status >= 500:
            bad.append(f"{status} from the receiver")
        if SECRET.encode() in res.data and SECRET.encode() not in d.body + repr(d.headers).encode():
            bad.append("the answer holds the webhook secret")
        error = None
        if 400 <= status < 500:
            try:
                answer = json.loads(res.data)
                error = answer.get("error") if isinstance(answer, dict) else None
            except ValueError:
                error = None
            if not isinstance(error, str) or not error:
                bad.append(f"{status} without a JSON error: {res.data[:200]!r}")
        if not correctly_signed(d):
            if specs:
                bad.append(f"{len(specs)} job(s) from an unsigned body")
            allowed = {401, 413} if _has_event_header(d) else {400, 413}
            if status not in allowed:
                bad.append(f"unsigned body answered {status}, not {sorted(allowed)}")
            if status == 413 and len(d.body) <= MAX_BODY:
                bad.append("413 for a body within the limit")
        else:
            if not (200 <= status < 300 or 400 <= status < 500):
                bad.append(f"signed body answered {status}")
            if len(specs) > 1:
                bad.append(f"{len(specs)} jobs from one delivery")
            if specs and not 200 <= status < 300:
                bad.append(f"a job from a delivery answered {status}")
            for spec in specs:
                try:
                    POLICY.check(spec.clone_url, resolve=True, unresolved_ok=True)
                except SourceRefused as exc:
                    bad.append(f"queued clone_url {spec.clone_url!r} the policy refuses: {exc}")
        return out

    def check_request(self, method: str, path: str) -> Outcome:
        """Any other request: never a 5xx; a 4xx carries a JSON error (HEAD: no body)."""
        res = self.clients["github"].open(path, method=method)
        out = Outcome(res.status_code, 0)
        if res.status_code >= 500:
            out.violations.append(f"{res.status_code} for {method} {path}")
        if 400 <= res.status_code < 500 and method != "HEAD":
            try:
                error = json.loads(res.data).get("error")
            except (ValueError, AttributeError):
                error = None
            if not isinstance(error, str):
                out.violations.append(f"{res.status_code} without a JSON error: {res.data[:80]!r}")
        return out


@contextmanager
def harness() -> Iterator[Harness]:
    with tempfile.TemporaryDirectory(prefix="plog-fuzz-") as tmp:
        h = Harness(Path(tmp))
        try:
            yield h
        finally:
            h.close()


# -- the run -----------------------------------------------------------------------------


@dataclass
class Tally:
    examples: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    jobs: int = 0
    unsigned: int = 0
    unsigned_jobs: int = 0
    server_errors: int = 0
    violations: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def add(self, d: Delivery, out: Outcome) -> None:
        self.examples += 1
        self.statuses[out.status] += 1
        self.jobs += out.created
        if not correctly_signed(d):
            self.unsigned += 1
            self.unsigned_jobs += out.created
        if out.status >= 500:
            self.server_errors += 1
        for v in out.violations:
            self.violations[v.split(":")[0][:80]] += 1
            if len(self.samples) < 20:
                self.samples.append(f"{v}\n  {d!r}")


def fuzz(
    examples: int,
    *,
    seed: int = 15,
    batch: int = 2000,
    progress: Callable[[Tally], None] | None = None,
) -> Tally:
    tally = Tally()
    with harness() as h:
        n = 0
        while tally.examples < examples:
            size = min(batch, examples - tally.examples)

            @settings(
                max_examples=size,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hseed(seed * 1_000_003 + n)
            @given(deliveries())
            def one(d: Delivery) -> None:
                if tally.examples < examples:
                    tally.add(d, h.check(d))

            before = tally.examples
            one()
            n += 1
            if progress is not None:
                progress(tally)
            if tally.examples == before:
                break  # hypothesis generated nothing new
    return tally


def report(tally: Tally, wall_s: float) -> str:
    classes: Counter[str] = Counter()
    for status, count in tally.statuses.items():
        classes[f"{status // 100}xx"] += count
    lines = [
        f"examples run: {tally.examples}",
        "statuses by class: " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items())),
        "statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.statuses.items())),
        f"jobs created: {tally.jobs} "
        f"(from {tally.examples - tally.unsigned} correctly signed bodies)",
        f"unsigned or wrongly signed bodies: {tally.unsigned}",
        f"jobs created from unsigned bodies: {tally.unsigned_jobs} (must be 0)",
        f"5xx: {tally.server_errors} (must be 0)",
        f"other property violations: {sum(tally.violations.values())}",
        f"wall time: {wall_s:.1f} s ({tally.examples / max(wall_s, 1e-9):.0f} examples/s)",
    ]
    for v, count in tally.violations.most_common():
        lines.append(f"  {count} x {v}")
    lines += tally.samples
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="deliveries to try")
    parser.add_argument("--seed", type=int, default=15, help="hypothesis seed (batches add to it)")
    parser.add_argument("--batch", type=int, default=2000, help="examples per hypothesis run")
    parser.add_argument("--progress", type=int, default=10_000, help="print a line every N")
    args = parser.parse_args(argv)
    logging.getLogger("plog.web").setLevel(logging.ERROR)  # refusals are expected here
    start = time.monotonic()
    mark = [0]

    def progress(t: Tally) -> None:
        if t.examples - mark[0] >= args.progress:
            mark[0] = t.examples
            print(
                f"  {t.examples} examples, {time.monotonic() - start:.0f} s, "
                f"5xx {t.server_errors}, unsigned jobs {t.unsigned_jobs}, "
                f"violations {sum(t.violations.values())}",
                flush=True,
            )

    tally = fuzz(args.examples, seed=args.seed, batch=args.batch, progress=progress)
    print(report(tally, time.monotonic() - start), flush=True)
    if tally.violations or tally.examples < args.examples:
        raise SystemExit("webhook fuzz: property violations or fewer examples than asked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
