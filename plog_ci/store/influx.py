"""InfluxDB sink: per-second, per-operation series as line protocol.

One line per operation and second::

    plog_requests,branch=main,commit=3f2a…,operation=GET\\ /pets,profile=smoke,repo=shop,run_id=42
        count=180i,failures=2i,p50=8.1,p95=21.5,p99=40.2,max=77 1732600000

The timestamp is the second the requests ended in (precision ``s``) and the
tags name the run, so a point has one identity: writing it again overwrites
the same point in InfluxDB (and in VictoriaMetrics started with
``-dedup.minScrapeInterval``). That is what makes retries and backfills safe.

Delivery: batches of ``batch_size`` lines, each retried ``retries`` times with
exponential backoff on transport errors, 5xx, 408 and 429. A batch that still
fails, or meets 401/403/404 (credentials or database not there yet), is
appended to a spool file under the state directory; the next write (or
:meth:`InfluxSink.backfill`) sends the spool first. Other 4xx answers mean the
data itself is refused: the batch is dropped with a warning instead of
clogging the spool. Nothing here raises on a sink problem: the sink never
fails a run, it logs warnings and reports counts.

APIs: ``v1`` posts to ``/write`` (InfluxDB 1.x, VictoriaMetrics) with httpx;
``v2`` uses ``influxdb-client`` against ``/api/v2/write`` (InfluxDB 2.x/3.x,
VictoriaMetrics).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from plog_ci.errors import ConfigError
from plog_ci.redaction import redact
from plog_ci.results import LATENCY_FIELDS, SeriesPoint

log = logging.getLogger(__name__)

_MEASUREMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_RETRY_STATUS = {408, 429}
_HOLD_STATUS = {401, 403, 404}


@dataclass(frozen=True)
class RunTags:
    repo: str
    commit: str
    branch: str
    run_id: str
    profile: str = ""

    def items(self) -> list[tuple[str, str]]:
        # Empty tag values are invalid line protocol: leave them out.
        pairs = [
            ("branch", self.branch),
            ("commit", self.commit),
            ("profile", self.profile),
            ("repo", self.repo),
            ("run_id", self.run_id),
        ]
        return [(k, v) for k, v in pairs if v]


@dataclass(frozen=True)
class InfluxSettings:
    url: str
    api: str = "v1"  # "v1": /write (InfluxDB 1.x); "v2": /api/v2/write (2.x, 3.x)
    database: str = "plog"  # v1
    retention_policy: str = ""  # v1; empty: the database default
    username: str = ""  # v1 basic auth
    password: str = field(default="", repr=False)
    org: str = ""  # v2
    bucket: str = ""  # v2
    token: str = field(default="", repr=False)  # v2; with v1, sent as "Authorization: Token"
    measurement: str = "plog_requests"
    batch_size: int = 5000
    retries: int = 3
    backoff_s: float = 0.5
    timeout_s: float = 10.0
    max_spool_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"influx url {self.url!r} is not an http(s) URL",
                hint="write e.g. http://127.0.0.1:8086",
            )
        if parts.username or parts.password:
            raise ConfigError(
                "influx url must not carry credentials",
                hint="use the username/password or token settings",
            )
        if self.api not in ("v1", "v2"):
            raise ConfigError(f"influx api {self.api!r} is not v1 or v2")
        if self.api == "v1" and not self.database:
            raise ConfigError("influx api v1 needs a database")
        if self.api == "v2" and not (self.bucket and self.org):
            raise ConfigError("influx api v2 needs an org and a bucket")
        if not _MEASUREMENT_RE.match(self.measurement):
            raise ConfigError(
                f"influx measurement {self.measurement!r} is not a plain name",
                hint="use letters, digits and underscores",
            )
        if self.batch_size < 1 or self.retries < 0 or self.backoff_s < 0:
            raise ConfigError("influx batch_size must be >= 1, retries and backoff_s >= 0")
        if self.timeout_s <= 0 or self.max_spool_bytes < 0:
            raise ConfigError("influx timeout_s must be > 0 and max_spool_bytes >= 0")

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.token) if s)

    @property
    def target(self) -> str:
        """Where points go, without secrets: names the spool file."""
        where = (
            f"db={self.database} rp={self.retention_policy}"
            if self.api == "v1"
            else f"org={self.org} bucket={self.bucket}"
        )
        return (
            f"{self.api} {urlunsplit(urlsplit(self.url)._replace(query='', fragment=''))} {where}"
        )


@dataclass
class SinkReport:
    written: int = 0  # new lines accepted by the server
    backfilled: int = 0  # spooled lines accepted by the server
    spooled: int = 0  # lines kept in the spool for later
    rejected: int = 0  # lines the server refused as bad data (dropped)
    dropped: int = 0  # lines lost because the spool was full
    warnings: list[str] = field(default_factory=list)


# -- line protocol ---------------------------------------------------------------


def _clean(text: str) -> str:
    """Control characters would end the line, and InfluxDB 1.x refuses a backslash at
    the end of a tag value: spell both out as ``\\xHH``."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\" or code < 32 or code == 127 or ch in "\u2028\u2029\x85":
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _escape_tag(text: str) -> str:
    return re.sub(r"([,= ])", r"\\\1", _clean(text))


def _float(v: float) -> str:
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


def to_line(measurement: str, tags: RunTags, point: SeriesPoint) -> str:
    """One line of protocol for ``point``; non-finite latencies are left out."""
    tag_pairs = sorted([*tags.items(), ("operation", point.operation)])
    tag_text = ",".join(f"{k}={_escape_tag(v)}" for k, v in tag_pairs)
    fields = [f"count={point.count}i", f"failures={point.failures}i"]
    for name in LATENCY_FIELDS:
        v = getattr(point, name)
        if v is not None and math.isfinite(v):
            fields.append(f"{name}={_float(v)}")
    return f"{measurement},{tag_text} {','.join(fields)} {int(point.second)}"


# -- transports --------------------------------------------------------------------


class _Retry(Exception):
    """Worth trying again soon (network, 5xx, 408, 429)."""


class _Hold(Exception):
    """Will not work until someone fixes something (401/403/404): spool now."""


class _Rejected(Exception):
    """The server refuses the data itself: retrying or spooling cannot help."""


def _classify(status: int, body: str) -> Exception | None:
    if status < 300:
        return None
    text = f"HTTP {status}: {body.strip()[:300]}"
    if status >= 500 or status in _RETRY_STATUS:
        return _Retry(text)
    if status in _HOLD_STATUS:
        return _Hold(text)
    return _Rejected(text)


class _Transport(Protocol):
    def send(self, body: str) -> None: ...

    def close(self) -> None: ...


class _V1Transport:
    def __init__(self, settings: InfluxSettings) -> None:
        params = {"db": settings.database, "precision": "s"}
        if settings.retention_policy:
            params["rp"] = settings.retention_policy
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if settings.token:
            headers["Authorization"] = f"Token {settings.token}"
        auth = (settings.username, settings.password) if settings.username else None
        self._client = httpx.Client(
            base_url=settings.url.rstrip("/"),
            params=params,
            headers=headers,
            auth=auth,
            timeout=settings.timeout_s,
        )

    def send(self, body: str) -> None:
        try:
            response = self._client.post("/write", content=body.encode("utf-8"))
        except httpx.HTTPError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc
        problem = _classify(response.status_code, response.text)
        if problem is not None:
            raise problem

    def close(self) -> None:
        self._client.close()


class _V2Transport:
    def __init__(self, settings: InfluxSettings) -> None:
        # Imported here so the v1 path works without the client's import cost.
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS
        from influxdb_client.domain.write_precision import WritePrecision

        self._settings = settings
        self._precision: Any = WritePrecision.S  # typed as str by the library
        # retries=False: this module owns retrying and spooling.
        self._client = InfluxDBClient(
            url=settings.url,
            token=settings.token,
            org=settings.org,
            timeout=int(settings.timeout_s * 1000),
            retries=False,
        )
        self._write = self._client.write_api(write_options=SYNCHRONOUS)

    def send(self, body: str) -> None:
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            self._write.write(
                bucket=self._settings.bucket,
                org=self._settings.org,
                record=body,
                write_precision=self._precision,
            )
        except ApiException as exc:
            problem = _classify(int(exc.status or 500), str(exc.body or exc.reason or ""))
            raise problem or _Retry(str(exc)) from exc
        except (Urllib3Error, OSError) as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


# -- the sink ------------------------------------------------------------------------


class InfluxSink:
    """Writes series to InfluxDB; spools what it cannot deliver and sends it later."""

    def __init__(
        self,
        settings: InfluxSettings,
        spool_dir: Path,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.spool_dir = spool_dir
        key = hashlib.sha256(settings.target.encode()).hexdigest()[:16]
        self.spool_path = spool_dir / f"{key}.lp"
        self._sleep = sleep

    # The public entry points never raise for sink problems.
    def write(self, tags: RunTags, points: Iterable[SeriesPoint]) -> SinkReport:
        """Backfill the spool, then write ``points`` in batches."""
        report = SinkReport()
        transport = self._open(report)
        try:
            down = transport is None or not self._backfill(transport, report)
            batch: list[str] = []
            for point in points:
                batch.append(to_line(self.settings.measurement, tags, point))
                if len(batch) >= self.settings.batch_size:
                    down = self._deliver(transport, batch, down, report)
                    batch = []
            if batch:
                self._deliver(transport, batch, down, report)
        finally:
            if transport is not None:
                transport.close()
        return report

    def backfill(self) -> SinkReport:
        """Send what the spool holds (e.g. from a periodic job); never raises."""
        report = SinkReport()
        transport = self._open(report)
        if transport is not None:
            try:
                self._backfill(transport, report)
            finally:
                transport.close()
        return report

    def spooled_lines(self) -> int:
        try:
            with open(self.spool_path, "rb") as fh:
                return sum(1 for _ in fh)
        except FileNotFoundError:
            return 0

    # -- internals
    def _warn(self, report: SinkReport, message: str) -> None:
        text = redact(f"influx sink ({self.settings.target}): {message}", self.settings.secrets)
        report.warnings.append(text)
        log.warning("%s", text)

    def _open(self, report: SinkReport) -> _Transport | None:
        try:
            if self.settings.api == "v1":
                return _V1Transport(self.settings)
            return _V2Transport(self.settings)
        except (ImportError, ValueError, OSError) as exc:
            self._warn(report, f"cannot open a client: {exc}; points go to the spool")
            return None

    def _send(self, transport: _Transport, lines: list[str], report: SinkReport) -> str:
        """ "ok", "spool" or "rejected", after retries."""
        body = "\n".join(lines) + "\n"
        for attempt in range(self.settings.retries + 1):
            try:
                transport.send(body)
                return "ok"
            except _Rejected as exc:
                # InfluxDB 1.x may have kept the valid lines of a "partial write";
                # they are counted as refused all the same.
                self._warn(report, f"server refused (some of) {len(lines)} lines, dropped: {exc}")
                return "rejected"
            except _Hold as exc:
                self._warn(report, f"cannot write now ({exc}); keeping {len(lines)} lines")
                return "spool"
            except _Retry as exc:
                if attempt == self.settings.retries:
                    self._warn(
                        report,
                        f"gave up after {attempt + 1} tries ({exc}); keeping {len(lines)} lines",
                    )
                    return "spool"
                self._sleep(self.settings.backoff_s * 2**attempt)
        return "spool"  # pragma: no cover - the loop always returns

    def _deliver(
        self, transport: _Transport | None, lines: list[str], down: bool, report: SinkReport
    ) -> bool:
        """Send one batch of new lines, or spool it; returns whether the sink is down."""
        if not down and transport is not None:
            result = self._send(transport, lines, report)
            if result == "ok":
                report.written += len(lines)
                return False
            if result == "rejected":
                report.rejected += len(lines)
                return False
        self._append_spool(lines, report)
        return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # One writer at a time per spool, across processes (several workers).
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        with open(self.spool_path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _append_spool(self, lines: list[str], report: SinkReport) -> None:
        data = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            with self._locked():
                size = self.spool_path.stat().st_size if self.spool_path.exists() else 0
                if size + len(data) > self.settings.max_spool_bytes:
                    report.dropped += len(lines)
                    self._warn(
                        report,
                        f"spool {self.spool_path} is full "
                        f"({self.settings.max_spool_bytes} bytes); "
                        f"{len(lines)} lines dropped",
                    )
                    return
                meta = self.spool_path.with_suffix(".json")
                if not meta.exists():
                    meta.write_text(json.dumps({"target": self.settings.target}) + "\n")
                with open(self.spool_path, "ab") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            report.spooled += len(lines)
        except OSError as exc:
            report.dropped += len(lines)
            self._warn(
                report, f"cannot spool to {self.spool_path}: {exc}; {len(lines)} lines dropped"
            )

    def _backfill(self, transport: _Transport, report: SinkReport) -> bool:
        """Send the spool in order; keep what is left on failure. True when it is empty."""
        if not self.spool_path.exists():
            return True
        try:
            with self._locked():
                lines = [ln for ln in self.spool_path.read_text("utf-8").splitlines() if ln]
                sent = 0
                size = self.settings.batch_size
                while sent < len(lines):
                    batch = lines[sent : sent + size]
                    result = self._send(transport, batch, report)
                    if result == "spool":
                        break
                    if result == "ok":
                        report.backfilled += len(batch)
                    else:
                        report.rejected += len(batch)
                    sent += len(batch)
                left = lines[sent:]
                if left:
                    # Rewrite atomically: a crash here leaves the old spool, whose lines
                    # are safe to send twice (same identity, same timestamp).
                    tmp = self.spool_path.with_suffix(".tmp")
                    tmp.write_text("\n".join(left) + "\n", "utf-8")
                    os.replace(tmp, self.spool_path)
                    if sent:
                        self._warn(report, f"backfilled {sent} lines; {len(left)} still spooled")
                    return False
                self.spool_path.unlink()
                self.spool_path.with_suffix(".json").unlink(missing_ok=True)
                return True
        except OSError as exc:
            self._warn(report, f"cannot read the spool {self.spool_path}: {exc}")
            return False


def describe(settings: InfluxSettings) -> dict[str, Any]:
    """Settings as shown to users: no secrets."""
    return {
        "target": settings.target,
        "measurement": settings.measurement,
        "batch_size": settings.batch_size,
        "retries": settings.retries,
        "auth": "token" if settings.token else ("basic" if settings.username else "none"),
    }
