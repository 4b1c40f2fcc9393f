"""Multi-file specs of thousands of files load; hostile ones stop at a named limit.

The limits are operator settings (``PLOG_SPEC_*`` environment variables, see
plog_ci/openapi/limits.py), never plog.yml keys; each refusal names the limit,
the figure and the variable that raises it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from bench.openapi_multifile import (
    build_chain,
    build_fan_out,
    build_multifile,
    build_shared,
    build_tiny_files,
    change_one_model,
)
from plog_ci.openapi.diff import diff_specs
from plog_ci.openapi.errors import SpecError, SpecTooLargeError
from plog_ci.openapi.limits import LoadLimits
from plog_ci.openapi.load import load_spec_file


@pytest.fixture(scope="module")
def big_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_multifile(tmp_path_factory.mktemp("multifile") / "api", 3000)


def _schema(spec: Any, key: str, status: str) -> Any:
    return spec.operations[key].responses[status].content["application/json"].schema


def test_a_spec_of_3000_files_loads_with_shared_components(big_spec: Path) -> None:
    files = sum(1 for p in big_spec.parent.rglob("*") if p.is_file())
    assert files >= 2990  # DigitalOcean's description: about 2,600
    start = time.monotonic()
    spec = load_spec_file(big_spec)
    assert time.monotonic() - start < 15  # about 0.7 s on the 2-core dev machine
    assert len(spec.operations) == 249 * 5
    # operations written in files of their own are checked once resolved
    assert not [w for w in spec.warnings if "no 'responses'" in w or "not declared" in w]
    # one object per component, wherever it is reached (never a copy per use)
    one = _schema(spec, "GET /v2/r3/{id}", "200")["properties"]["item"]
    listed = _schema(spec, "GET /v2/r3", "200")["properties"]["items"]["items"]
    assert one is listed
    assert (
        one["properties"]["meta"]
        is _schema(spec, "GET /v2/r7/{id}", "200")["properties"]["item"]["properties"]["meta"]
    )
    assert (
        one["properties"]["group"] is _schema(spec, "GET /v2/r0/{id}", "200")["properties"]["item"]
    )
    error = _schema(spec, "GET /v2/r1/{id}", "404")
    assert error is _schema(spec, "GET /v2/r200/{id}", "404")
    assert error["required"] == ["id", "message"]
    params = spec.operations["GET /v2/r3"].parameters
    assert [(p.name, p.location) for p in params] == [("page", "query"), ("per_page", "query")]


def test_a_3000_file_spec_diffs_against_a_copy_with_one_file_changed(
    big_spec: Path, tmp_path: Path
) -> None:
    head_root = tmp_path / "api"
    shutil.copytree(big_spec.parent, head_root)
    change_one_model(head_root, 5)
    base = load_spec_file(big_spec)
    head = load_spec_file(head_root / "openapi.yaml")
    result = diff_specs(base, head)
    assert sorted(result.modified) == ["POST /v2/r5", "PUT /v2/r5/{id}"]
    assert result.breaking
    assert {c.operation for c in result.changes} == {"POST /v2/r5", "PUT /v2/r5/{id}"}
    assert not result.added and not result.removed


# -- hostile fan-outs ----------------------------------------------------------


def _refused(spec: Path, variable: str) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(SpecTooLargeError) as info:
        load_spec_file(spec)
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert f"({variable})" in message
    assert variable in (info.value.hint or "")
    assert "plog.yml cannot" in (info.value.hint or "")
    return message, elapsed


def test_many_refs_to_small_files_stop_at_the_total_bytes_limit(tmp_path: Path) -> None:
    # 7,000 x 10 KB = 70 MB through $ref, over the 64 MiB default: the files are read
    # (not parsed) before anything else, so the refusal is quick.
    spec = build_fan_out(tmp_path, count=7_000, leaf_bytes=10_000)
    message, elapsed = _refused(spec, "PLOG_SPEC_MAX_TOTAL_BYTES")
    assert "over the limit of 67,108,864 bytes" in message
    assert elapsed < 5  # about 0.3 s on the dev machine


def test_many_tiny_files_stop_at_the_file_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLOG_SPEC_MAX_FILES", "1000")
    spec = build_tiny_files(tmp_path, count=1_500)
    message, elapsed = _refused(spec, "PLOG_SPEC_MAX_FILES")
    assert "more than 1,000 files reached through $ref, over the limit of 1,000" in message
    assert elapsed < 5


def test_a_chain_of_files_stops_at_the_depth_limit(tmp_path: Path) -> None:
    spec = build_chain(tmp_path, length=2_000)
    message, elapsed = _refused(spec, "PLOG_SPEC_MAX_DEPTH")
    assert "nests more than 500 levels deep through $refs" in message
    assert "chain/c" in message  # the file where it happened
    assert elapsed < 10


def test_a_file_referenced_ten_billion_times_over_is_read_once_and_shared(
    tmp_path: Path,
) -> None:
    # ten files, each with ten $refs to the next: 10^10 nodes if each use were a copy
    spec_file = build_shared(tmp_path, levels=10, width=10)
    start = time.monotonic()
    spec = load_spec_file(spec_file)
    assert time.monotonic() - start < 5
    top = _schema(spec, "GET /a", "200")
    assert top["properties"]["p0"] is top["properties"]["p9"]
    deepest = top
    for _ in range(9):
        deepest = deepest["properties"]["p3"]
    assert deepest["properties"]["p0"] == {"type": "integer"}


def test_the_deadline_stops_a_load(big_spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLOG_SPEC_LOAD_TIMEOUT", "0.001")
    message, elapsed = _refused(big_spec, "PLOG_SPEC_LOAD_TIMEOUT")
    assert "loading took over 0.001 s" in message
    assert elapsed < 2


def test_one_file_over_the_file_limit_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLOG_SPEC_MAX_FILE_BYTES", "1000")
    spec = build_chain(tmp_path, length=3)
    (spec.parent / "c1.json").write_text(json.dumps({"description": "x" * 2000}))
    with pytest.raises(SpecError) as info:
        load_spec_file(spec)
    assert "c1.json: the file is 2,019 bytes, over the 1,000-byte limit" in str(info.value)
    assert "(PLOG_SPEC_MAX_FILE_BYTES)" in str(info.value)


def test_limits_come_from_the_environment_and_refuse_nonsense() -> None:
    limits = LoadLimits.from_env(
        {"PLOG_SPEC_MAX_TOTAL_BYTES": "1_000", "PLOG_SPEC_LOAD_TIMEOUT": "2.5"}
    )
    assert (limits.max_total_bytes, limits.timeout_s) == (1000, 2.5)
    assert LoadLimits.from_env({}) == LoadLimits()
    for bad in ("lots", "0", "-5"):
        with pytest.raises(SpecError, match=f"PLOG_SPEC_MAX_DEPTH='{bad}' is not a positive"):
            LoadLimits.from_env({"PLOG_SPEC_MAX_DEPTH": bad})
