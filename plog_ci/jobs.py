"""What the queue holds: the spec of a job (what to test), the job as stored (and
the tables that store it), and the answer to an enqueue. ``plog_ci.queue`` stores
them and re-exports them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idem_key TEXT NOT NULL UNIQUE,
    repo TEXT NOT NULL,
    lane BLOB NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    summary TEXT,
    outcome TEXT,
    lease_owner TEXT,
    lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    event_time REAL NOT NULL,
    started REAL,
    finished REAL,
    superseded_by INTEGER,
    pending_posted INTEGER NOT NULL DEFAULT 0,
    published INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_lane ON jobs (repo, lane, state);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE TABLE IF NOT EXISTS deliveries (
    delivery TEXT PRIMARY KEY,
    job_id INTEGER,
    received REAL NOT NULL
);
"""


@dataclass(frozen=True)
class JobSpec:
    """What to test. ``branch`` may hold any bytes git allows (surrogate-escaped)."""

    repo: str  # local repository path, or the forge's owner/name
    head: str
    branch: str | None = None
    base: str | None = None
    pr_number: int | None = None
    kind: str = "push"  # push | pull_request | teardown (a closed pull request)
    forge: str = "local"  # local | github | gitea
    forge_repo: str | None = None
    forge_url: str | None = None  # API base URL for github/gitea
    clone_url: str | None = None
    allow_secrets: bool = True
    fork: bool = False
    config_hash: str = ""
    target_url: str | None = None
    event_time: float = field(default_factory=time.time)

    @property
    def lane(self) -> bytes:
        if self.pr_number is not None:
            return f"pull/{self.pr_number}".encode()
        return b"refs/heads/" + os.fsencode(self.branch or "")

    def idempotency_key(self) -> str:
        parts = [self.repo, self.head, self.config_hash or "-", str(self.pr_number or "-")]
        if self.kind == "teardown":  # the same head as the PR's last run: another job
            parts.append(self.kind)
        return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        # Branch names need not be UTF-8: keep the exact bytes.
        data["branch"] = (
            None if self.branch is None else base64.b64encode(os.fsencode(self.branch)).decode()
        )
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("job spec must be a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in data.items() if k in known}
        if data.get("branch") is not None:
            data["branch"] = os.fsdecode(base64.b64decode(data["branch"]))
        return cls(**data)


@dataclass(frozen=True)
class Job:
    id: int
    spec: JobSpec
    state: str  # pending | running | finished | cancelled
    result: str | None
    summary: str | None
    outcome: dict[str, Any] | None
    lease_owner: str | None
    lease_until: float | None
    attempts: int
    superseded_by: int | None
    pending_posted: bool
    published: bool

    @property
    def final(self) -> bool:
        return self.state in ("finished", "cancelled")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        """A ``jobs`` row (``SCHEMA``) as a Job."""
        return cls(
            id=row["id"],
            spec=JobSpec.from_json(row["spec"]),
            state=row["state"],
            result=row["result"],
            summary=row["summary"],
            outcome=json.loads(row["outcome"]) if row["outcome"] else None,
            lease_owner=row["lease_owner"],
            lease_until=row["lease_until"],
            attempts=row["attempts"],
            superseded_by=row["superseded_by"],
            pending_posted=bool(row["pending_posted"]),
            published=bool(row["published"]),
        )


@dataclass(frozen=True)
class Enqueued:
    job_id: int
    created: bool  # False: an existing job matched (redelivery, replay)
