"""Live capture of what k6 measures, per operation, in bounded memory.

k6 aggregates inside its own process and pushes, once a second, cumulative
native histograms and counters per label set through its
``experimental-prometheus-rw`` output. This module is the receiver: a
loopback HTTP server that keeps only the latest cumulative state per series
(so memory depends on the number of operations and statuses, never on the
test's length), turns consecutive pushes into per-second points, and reads
the final statistics from the same state.

Series PLog reads (k6 v1.1.0 names)::

    k6_http_req_duration_seconds   native histogram, labels name/status/expected_response/...
    k6_http_reqs_total             counter, same labels

Each k6 process pushes to ``/write/<segment>`` so N execution segments of one
test keep separate state and merge exactly at the end.

A duet (one k6 process loading base and head at once) is read by two
captures: the one that serves takes the series whose ``plog_side`` label is
``head`` and hands every decoded push to a follower that takes ``base``, so
both see the same pushes in the same order, and their per-push deltas pair up.
"""

from __future__ import annotations

import math
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from plog_ci.results import TOTAL, OperationStats, SeriesPoint
from plog_ci.runner.histogram import Histogram, merge
from plog_ci.runner.remote_write import MAX_BODY, DecodeError, Series, decode_write_request
from plog_ci.runner.second_merge import SecondMerger

DURATION = "k6_http_req_duration_seconds"
REQS = "k6_http_reqs_total"
PUSH_INTERVAL_S = 1.0
SeriesCallback = Callable[[list[SeriesPoint]], None]


def _labels_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _error_key(labels: dict[str, str]) -> str:
    status = labels.get("status", "")
    code = labels.get("error_code", "")
    if status in ("", "0"):
        return f"error {code}" if code else "no response"
    return status


@dataclass(frozen=True)
class Delta:
    """What one push added for one operation."""

    histogram: Histogram
    requests: int
    failures: int
    errors_by_status: dict[str, int]


class _Segment:
    """Latest cumulative state of one k6 process."""

    def __init__(self) -> None:
        self.hists: dict[tuple[tuple[str, str], ...], Histogram] = {}
        self.reqs: dict[tuple[tuple[str, str], ...], float] = {}
        self.last_ms = 0
        self.first_ms = 0
        # Per-operation aggregates at the previous push, for per-second deltas.
        self.prev_hist: dict[str, Histogram] = {}
        self.prev_reqs: dict[str, tuple[float, float, dict[str, float]]] = {}


class Capture:
    """The receiver. ``with Capture(ops) as cap: ... cap.url("0") ...``."""

    def __init__(
        self,
        operations: tuple[str, ...],
        *,
        on_second: SeriesCallback | None = None,
        keep_points: int = 3600,
        where: dict[str, str] | None = None,
        followers: tuple[Capture, ...] = (),
        keep_deltas: bool = False,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        merge_seconds: bool = False,
    ) -> None:
        """``where``: only series with these label values; ``followers`` see every push
        too; ``keep_deltas`` keeps each push's per-operation delta (see ``deltas``);
        ``listen``: the (host, port) to bind, loopback on a free port unless in-cluster
        runners must reach it (``PLOG_CAPTURE_LISTEN``); ``merge_seconds``: N execution
        segments push, so ``on_second`` gets one point per operation and whole second,
        merged across them (``second_merge``), instead of each push's own."""
        self.operations = operations
        self.listen = listen
        self.where = where
        self.followers = followers
        # Per push (segment "0"): operation -> (histogram, requests, failures, errors).
        self.deltas: deque[dict[str, Delta]] | None = (
            deque(maxlen=keep_points) if keep_deltas else None
        )
        self._wanted = set(operations)
        self.on_second = on_second
        self.points: deque[SeriesPoint] = deque(maxlen=keep_points)
        self.pushes = 0
        self.bad_pushes = 0
        self.callback_error: str | None = None
        self._segments: dict[str, _Segment] = {}
        self._merger = SecondMerger(operations) if merge_seconds else None
        self._lock = threading.Lock()
        self._ingest_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- server ---------------------------------------------------------------
    def __enter__(self) -> Capture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                segment = self.path.rstrip("/").rsplit("/", 1)[-1]
                if not 0 < length <= MAX_BODY or not self.path.startswith("/write/"):
                    self.send_error(400)
                    return
                body = self.rfile.read(length)
                ok = capture.ingest(segment, body)
                self.send_response(204 if ok else 400)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(self.listen, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="plog-capture", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._merger is not None:
            with self._lock:
                held = self._merger.drain()
            self._hand_on(held)

    def url(self, segment: str = "0") -> str:
        assert self._server is not None, "start() the capture first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/write/{segment}"

    # -- ingest ---------------------------------------------------------------
    def ingest(self, segment: str, body: bytes) -> bool:
        try:
            series = decode_write_request(body)
        except (DecodeError, IndexError, ValueError) as exc:
            self.bad_pushes += 1
            print(f"plog capture: undecodable push from k6: {exc}", file=sys.stderr)
            return False
        # One push at a time, to this capture and its followers alike, so their
        # per-push deltas stay in step.
        with self._ingest_lock:
            self._take(segment, series)
            for follower in self.followers:
                follower._take(segment, series)
        return True

    def _take(self, segment: str, series: list[Series]) -> None:
        if self.where:
            wanted = self.where.items()
            series = [item for item in series if all(item.labels.get(k) == v for k, v in wanted)]
        with self._lock:
            state = self._segments.setdefault(segment, _Segment())
            self._update(state, series)
            points = self._points(segment, state)
            self.pushes += 1
            self.points.extend(p for p in points if p.operation != TOTAL)
            if self._merger is not None:
                points = self._merger.ready()
        self._hand_on(points)

    def _hand_on(self, points: list[SeriesPoint]) -> None:
        if points and self.on_second is not None:
            try:
                self.on_second(points)
            except Exception as exc:  # the stream's consumer must not stop the test
                if self.callback_error is None:
                    self.callback_error = f"{type(exc).__name__}: {exc}"

    @staticmethod
    def _update(state: _Segment, series: list[Series]) -> None:
        for item in series:
            name = item.labels.get("__name__")
            if name == DURATION:
                for sample in item.histograms:
                    if math.isnan(sample.count):  # stale marker at the end of the test
                        continue
                    state.hists[_labels_key(item.labels)] = Histogram(
                        sample.schema,
                        sample.zero_threshold,
                        sample.zero_count,
                        sample.count,
                        sample.sum,
                        sample.positive,
                    )
                    state.last_ms = max(state.last_ms, sample.timestamp_ms)
            elif name == REQS:
                for value, stamp in item.samples:
                    if math.isnan(value):
                        continue
                    state.reqs[_labels_key(item.labels)] = value
                    state.last_ms = max(state.last_ms, stamp)
        if not state.first_ms and state.last_ms:
            state.first_ms = state.last_ms

    def _aggregate(
        self, state: _Segment
    ) -> tuple[dict[str, Histogram], dict[str, tuple[float, float, dict[str, float]]]]:
        hists: dict[str, list[Histogram]] = {}
        for key, hist in state.hists.items():
            op = dict(key).get("name", "")
            hists.setdefault(op, []).append(hist)
        reqs: dict[str, tuple[float, float, dict[str, float]]] = {}
        for key, value in state.reqs.items():
            labels = dict(key)
            op = labels.get("name", "")
            count, failures, by_status = reqs.get(op, (0.0, 0.0, {}))
            count += value
            if labels.get("expected_response") == "false":
                failures += value
                err = _error_key(labels)
                by_status[err] = by_status.get(err, 0.0) + value
            reqs[op] = (count, failures, by_status)
        return {op: merge(h) for op, h in hists.items()}, reqs

    def _points(self, segment: str, state: _Segment) -> list[SeriesPoint]:
        hists, reqs = self._aggregate(state)
        out = []
        deltas: dict[str, Delta] = {}
        for op in self.operations:
            hist = hists.get(op)
            count, failures, by_status = reqs.get(op, (0.0, 0.0, {}))
            prev_hist = state.prev_hist.get(op)
            prev_count, prev_failures, prev_status = state.prev_reqs.get(op, (0.0, 0.0, {}))
            delta = hist.subtract(prev_hist) if hist and prev_hist else (hist or Histogram())
            # Counters only grow within one k6 process; the clamps keep a point valid
            # if a push ever reports a smaller total.
            requests = round(count - prev_count)
            counted = max(0, requests)
            failed = min(counted, max(0, round(failures - prev_failures)))
            errors = {
                k: round(v - prev_status.get(k, 0.0))
                for k, v in by_status.items()
                if v - prev_status.get(k, 0.0) > 0
            }
            out.append(
                SeriesPoint(
                    operation=op,
                    second=state.last_ms / 1000.0,
                    count=counted,
                    failures=failed,
                    mean=delta.mean * 1000.0,
                    p50=delta.quantile(0.50) * 1000.0,
                    p90=delta.quantile(0.90) * 1000.0,
                    p95=delta.quantile(0.95) * 1000.0,
                    p99=delta.quantile(0.99) * 1000.0,
                    errors_by_status=errors,
                    segment=segment,
                )
            )
            deltas[op] = Delta(delta, requests, round(failures - prev_failures), errors)
            if self._merger is not None:
                self._merger.add_point(segment, out[-1], delta)
            if hist is not None:
                state.prev_hist[op] = hist
            state.prev_reqs[op] = (count, failures, dict(by_status))
        if self.deltas is not None and segment == "0":
            self.deltas.append(deltas)
        if out:
            out.append(self._total(out, [d.histogram for d in deltas.values()], segment))
        return out

    @staticmethod
    def _total(points: list[SeriesPoint], hists: list[Histogram], segment: str) -> SeriesPoint:
        """The push's point of all operations together (``TOTAL``): counts summed,
        latencies from the merged histograms (never averaged percentiles). Handed to
        ``on_second`` only: the capture's ``points`` and statistics stay per operation."""
        merged = merge(hists) if hists else Histogram()
        errors: dict[str, int] = {}
        for p in points:
            for status, n in p.errors_by_status.items():
                errors[status] = errors.get(status, 0) + n
        return SeriesPoint(
            operation=TOTAL,
            second=points[0].second,
            count=sum(p.count for p in points),
            failures=sum(p.failures for p in points),
            mean=merged.mean * 1000.0,
            p50=merged.quantile(0.50) * 1000.0,
            p90=merged.quantile(0.90) * 1000.0,
            p95=merged.quantile(0.95) * 1000.0,
            p99=merged.quantile(0.99) * 1000.0,
            errors_by_status=errors,
            segment=segment,
        )

    # -- results --------------------------------------------------------------
    def histograms(self) -> dict[str, Histogram]:
        """Per-operation duration histograms merged over every segment (exact)."""
        with self._lock:
            per_op: dict[str, list[Histogram]] = {}
            for state in self._segments.values():
                hists, _ = self._aggregate(state)
                for op, hist in hists.items():
                    per_op.setdefault(op, []).append(hist)
        return {op: merge(h) for op, h in per_op.items()}

    def counts(self) -> dict[str, tuple[int, int, dict[str, int]]]:
        """Per operation: requests, failures, failures by status (all segments)."""
        out: dict[str, tuple[int, int, dict[str, int]]] = {}
        with self._lock:
            for state in self._segments.values():
                _, reqs = self._aggregate(state)
                for op, (count, failures, by_status) in reqs.items():
                    total, failed, statuses = out.get(op, (0, 0, {}))
                    for k, v in by_status.items():
                        statuses[k] = statuses.get(k, 0) + round(v)
                    out[op] = (total + round(count), failed + round(failures), statuses)
        return out

    def segment_counts(self) -> dict[str, int]:
        with self._lock:
            return {name: round(sum(state.reqs.values())) for name, state in self._segments.items()}

    def stats(self, duration_s: float) -> tuple[dict[str, OperationStats], OperationStats]:
        """Final per-operation statistics and the total, all from the capture."""
        hists = self.histograms()
        counts = self.counts()
        per_op = {
            op: stats_from(op, hists.get(op), counts.get(op, (0, 0, {})), duration_s)
            for op in self.operations
        }
        measured = [hists[op] for op in self.operations if op in hists]
        total_counts = (
            sum(c[0] for op, c in counts.items() if op in self._wanted),
            sum(c[1] for op, c in counts.items() if op in self._wanted),
            sum_status([c[2] for op, c in counts.items() if op in self._wanted]),
        )
        total = stats_from("*", merge(measured) if measured else None, total_counts, duration_s)
        return per_op, total

    def setup_requests(self) -> int:
        counts = self.counts()
        return sum(c[0] for op, c in counts.items() if op not in self._wanted)


def sum_status(items: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        for k, v in item.items():
            out[k] = out.get(k, 0) + v
    return out


def stats_from(
    operation: str,
    hist: Histogram | None,
    counts: tuple[int, int, dict[str, int]],
    duration_s: float,
) -> OperationStats:
    count, failures, by_status = counts
    hist = hist or Histogram()
    ms = 1000.0
    low, high = hist.min_bound(), hist.max_bound()

    def quantile(q: float) -> float:
        # min and max are bucket centres while a quantile interpolates up to the bucket's
        # edge: clamp, so min <= p50 <= ... <= max holds for every histogram.
        return min(max(hist.quantile(q), low), high) * ms

    return OperationStats(
        operation=operation,
        count=count,
        failures=failures,
        rps=count / duration_s if duration_s > 0 else 0.0,
        min=low * ms,
        mean=hist.mean * ms,
        p50=quantile(0.50),
        p90=quantile(0.90),
        p95=quantile(0.95),
        p99=quantile(0.99),
        max=high * ms,
        errors_by_status=dict(by_status),
    )
