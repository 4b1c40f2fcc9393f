"""oasdiff's own cases (tests/data/openapi-diff/cases.json): every expected id, level, count.

Extra ids are tolerated only where check_scope names a single oasdiff rule (oasdiff ran
just that rule; we run all). Where check_scope is ``all`` and ``exact``, the findings at or
above ``min_level`` must be exactly the expected ones.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from conftest import DATA

from plog_ci.openapi.changes import LEVEL_RANK
from plog_ci.openapi.diff import diff_specs
from plog_ci.openapi.load import load_spec_file
from plog_ci.openapi.model import normalize_path

ROOT = DATA / "openapi-diff"
CASES = json.loads((ROOT / "cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_oasdiff_case(case: dict[str, Any]) -> None:
    base = load_spec_file(ROOT / case["base"], root=ROOT)
    head = load_spec_file(ROOT / case["revision"], root=ROOT)
    result = diff_specs(base, head)
    floor = LEVEL_RANK[case["min_level"]]
    found = [c for c in result.changes if LEVEL_RANK[c.level] >= floor]
    counts = Counter(c.id for c in found)
    for change_id, count in case["expected_counts"].items():
        assert counts[change_id] == count, (change_id, counts)
    for change in result.changes:
        if change.id in case["levels"]:
            assert change.level == case["levels"][change.id], change
    if case["check_scope"] == "all" and case.get("exact"):
        assert set(counts) == set(case["expected_counts"]), counts
    assert not set(case.get("forbidden_ids", ())) & set(counts)
    assert result.breaking == case["breaking"]
    touched = {normalize_path(c.operation) for c in found if c.operation}
    for op in case["operations"]:
        if case["expected_ids"] and any(c.operation for c in found):
            assert normalize_path(op) in touched or not case.get("exact"), (op, touched)
    assert set(result.to_json()) == {"operations", "changes", "breaking"}
