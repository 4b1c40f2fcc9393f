"""A base commit whose spec cannot be loaded: the fixed head is tested alone, with a
warning, and the report says why there is no diff or comparison (a pull request that
fixes a broken spec must be testable). The head's own broken spec stays an error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plog_ci.errors import InputError
from plog_ci.gitrepo import GitRepo
from plog_ci.plan import make_plan
from testing.paths import ROOT
from testing.repos import FAST_PLOG_YML, commit_files, plog_run

EXAMPLE = ROOT / "examples/petstore"
GOOD_SPEC = (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8")
GOOD_REF = '$ref: "#/components/schemas/Error"'
# The first response schema that refers to Error refers to a file never committed.
BROKEN_SPEC = GOOD_SPEC.replace(GOOD_REF, '$ref: "missing.yaml#/Error"', 1)
BROKEN_LINE = GOOD_SPEC[: GOOD_SPEC.index(GOOD_REF)].count("\n") + 1


def _commits(new_repo: Callable[..., Path], base_spec: str, head_spec: str) -> tuple[Path, str]:
    """A repository with the example service at a base and a head; returns (repo, base)."""
    repo = new_repo()
    files: dict[str, str | bytes] = {
        "app.py": (EXAMPLE / "app.py").read_text(encoding="utf-8"),
        "openapi.yaml": base_spec,
        "plog.yml": FAST_PLOG_YML,
    }
    base = commit_files(repo, files, "base")
    commit_files(repo, {"openapi.yaml": head_spec}, "head")
    return repo, base


def test_the_plan_of_a_broken_base_has_no_base_spec_and_says_why(
    new_repo: Callable[..., Path],
) -> None:
    assert BROKEN_SPEC != GOOD_SPEC
    repo, base = _commits(new_repo, BROKEN_SPEC, GOOD_SPEC)
    git = GitRepo(repo)
    plan = make_plan(git, git.resolve("HEAD"), base)
    assert plan.base_spec is None and plan.diff is None
    # Every operation is picked, as with no base commit.
    assert {op.key for op in plan.selection.operations} == set(plan.head_spec.operations)
    assert plan.base_error is not None
    assert plan.base_error.startswith(f"openapi.yaml:{BROKEN_LINE}:"), plan.base_error
    assert "missing.yaml" in plan.base_error and "no such file" in plan.base_error
    assert plan.base_warning == (
        f"base {base[:12]}'s spec cannot be loaded ({plan.base_error}): "
        "testing the head alone, without an API diff or a comparison"
    )


def test_a_broken_head_is_still_an_error(new_repo: Callable[..., Path], tmp_path: Path) -> None:
    repo, _ = _commits(new_repo, GOOD_SPEC, BROKEN_SPEC)
    git = GitRepo(repo)
    with pytest.raises(InputError, match=r"missing\.yaml"):
        make_plan(git, git.resolve("HEAD"), git.resolve("HEAD~1"))
    done = plog_run(repo, tmp_path / "home")
    assert done.returncode == 2, done.stderr
    assert "ERROR" in done.stderr + done.stdout and "missing.yaml" in done.stderr + done.stdout


@pytest.mark.slow
def test_a_head_that_fixes_a_broken_base_is_tested_alone(
    new_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo, base = _commits(new_repo, BROKEN_SPEC, GOOD_SPEC)
    done = plog_run(repo, tmp_path / "home")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    warning = f"warning: base {base[:12]}'s spec cannot be loaded (openapi.yaml:{BROKEN_LINE}:"
    assert warning in out, out
    assert "testing the head alone, without an API diff or a comparison" in out
    assert "ERROR" not in out
    reports = list(repo.rglob("*.md"))
    assert len(reports) == 1, reports
    # The markdown escapes punctuation: read it as rendered.
    report = reports[0].read_text(encoding="utf-8").replace("\\", "")
    said = f"base {base[:12]}'s spec cannot be loaded (openapi.yaml:{BROKEN_LINE}:"
    baseline = report.split("## Compared with the baseline", 1)[1].split("## API changes")[0]
    assert said in baseline, baseline
    changes = report.split("## API changes", 1)[1]
    assert f"No diff: {said}" in changes, changes
    # Every operation of the head was loaded, none compared.
    for op in ("GET /pets", "POST /pets", "GET /pets/{petId}", "GET /health"):
        assert op in report
    assert "| base p95 ms |" not in report
