"""Real InfluxDB 1.x and VictoriaMetrics servers on loopback, started per test.

The ``influx`` and ``victoria`` fixtures in tests/store/conftest.py start these.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from plog_ci.deploy.process import free_port
from plog_ci.proc import Process, wait_for


def require_binary(name: str) -> str:
    """Path of ``name``; skip when missing, but fail under CI=true (CI must run these)."""
    path = shutil.which(name) or (
        f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None
    )
    if path is None:
        message = f"{name} is not installed (Debian package; run `make system-deps`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _answers(url: str, status: int) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == status
    except httpx.HTTPError:
        return False


class Server:
    """A server binary with a data dir in tmp that can be stopped and started again."""

    def __init__(self, argv: list[str], health: str, status: int, log_dir: Path) -> None:
        self.argv = argv
        self.health = health
        self.status = status
        self.log_dir = log_dir
        self.proc: Process | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.proc = Process(self.argv, log_path=self.log_dir / f"server-{self.starts}.log")
        if not wait_for(lambda: _answers(self.health, self.status), timeout=30, interval=0.1):
            tail = self.proc.tail()
            self.stop()
            raise RuntimeError(f"{self.argv[0]} did not become ready:\n{tail}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace=5.0)
            self.proc = None


class InfluxServer(Server):
    def __init__(self, tmp: Path) -> None:
        binary = require_binary("influxd")
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp / "influxdb.conf"
        config.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\n  dir = "{tmp}/meta"\n  logging-enabled = false\n'
            f'[data]\n  dir = "{tmp}/data"\n  wal-dir = "{tmp}/wal"\n'
            "  query-log-enabled = false\n"
            "[monitor]\n  store-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
        )
        super().__init__([binary, "-config", str(config)], f"{self.url}/ping", 204, tmp)

    def query(self, q: str, db: str = "plog") -> list[dict[str, object]]:
        """Rows of every series of ``q`` as dicts, tags included (epoch seconds)."""
        r = httpx.get(f"{self.url}/query", params={"db": db, "q": q, "epoch": "s"}, timeout=10)
        r.raise_for_status()
        rows: list[dict[str, object]] = []
        for series in r.json()["results"][0].get("series", []):
            for values in series["values"]:
                # GROUP BY * puts the tags beside the values: merge them into each row.
                row = dict(series.get("tags") or {})
                row.update(zip(series["columns"], values, strict=True))
                rows.append(row)
        return rows

    def create_db(self, db: str = "plog") -> None:
        httpx.post(
            f"{self.url}/query", params={"q": f'CREATE DATABASE "{db}"'}, timeout=10
        ).raise_for_status()


class VictoriaMetrics(Server):
    def __init__(self, tmp: Path) -> None:
        binary = require_binary("victoria-metrics")
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                binary,
                f"-storageDataPath={tmp}/vm",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                # Same timestamp + same series = one sample: retries cannot duplicate.
                "-dedup.minScrapeInterval=1ms",
                "-loggerLevel=ERROR",
            ],
            f"{self.url}/health",
            200,
            tmp,
        )

    def export(self, match: str) -> list[dict[str, object]]:
        httpx.get(f"{self.url}/internal/force_flush", timeout=10)
        r = httpx.post(f"{self.url}/api/v1/export", data={"match[]": match}, timeout=10)
        r.raise_for_status()
        return [json.loads(line) for line in r.text.splitlines() if line.strip()]
