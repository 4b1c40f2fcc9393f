"""``plog demo``: the whole path on a throwaway repository, no setup needed.

Commit 1 is the petstore example as is (baseline). Commit 2 slows one
handler (a full table scan plus an extra round trip per request) and adds an
operation. PLog must say PASS for the first and FAIL, with the reason, for
the second.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

from rich.console import Console

from plog_ci.gitrepo import git
from plog_ci.pipeline import RunOutcome, RunRequest, run

EXAMPLE = "petstore"
_FILES = ("app.py", "openapi.yaml", "plog.yml")

_FAST_LOOKUP = (
    " " * 12
    + 'row = db.execute("SELECT id, name, tag FROM pets WHERE id = ?", (pet_id,)).fetchone()\n'
)
_SLOW_LOOKUP = """            # Scan every row, then fetch the owner in a second round trip:
            # the kind of change that slips through review.
            row = next((r for r in db.execute("SELECT id, name, tag FROM pets")
                        if r[0] == pet_id), None)
        time.sleep(0.06)
"""
_NEW_ROUTE = """    @app.get("/pets/count")
    def count_pets():  # type: ignore[no-untyped-def]
        with lock:
            (count,) = db.execute("SELECT COUNT(*) FROM pets").fetchone()
        return jsonify(count=count)

    @app.get("/pets/<int:pet_id>")"""
_NEW_PATH = """  /pets/count:
    get:
      operationId: countPets
      summary: How many pets there are
      responses:
        "200":
          description: The number of pets.
          content:
            application/json:
              schema:
                type: object
                properties:
                  count: {type: integer}
  /pets/{petId}:"""


def example_dir() -> Path:
    return Path(str(resources.files("plog_ci.examples") / EXAMPLE))


def _commit(repo: Path, message: str) -> str:
    git(("add", "--all"), cwd=repo)
    git(
        (
            "-c",
            "user.name=PLog Demo",
            "-c",
            "user.email=demo@plog.invalid",
            "commit",
            "--quiet",
            "-m",
            message,
        ),
        cwd=repo,
    )
    return git(("rev-parse", "HEAD"), cwd=repo).stdout.strip()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    if old not in text:
        raise RuntimeError(f"demo: {path.name} no longer contains the expected code to edit")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def build_repo(root: Path) -> tuple[Path, str, str]:
    """The demo repository with its two commits: (path, baseline sha, regression sha)."""
    repo = root / "petstore"
    repo.mkdir(parents=True)
    git(("init", "--quiet", "--initial-branch=main", str(repo)), cwd=root)
    for name in _FILES:
        shutil.copy2(example_dir() / name, repo / name)
    (repo / ".gitignore").write_text("plog-reports/\n__pycache__/\n", encoding="utf-8")
    baseline = _commit(repo, "Petstore API: list, show and create pets")
    app = repo / "app.py"
    _edit(app, "import threading\n", "import threading\nimport time\n")
    _edit(app, _FAST_LOOKUP, _SLOW_LOOKUP)
    _edit(app, '    @app.get("/pets/<int:pet_id>")', _NEW_ROUTE)
    _edit(repo / "openapi.yaml", "  /pets/{petId}:", _NEW_PATH)
    regression = _commit(repo, "Show the pet's owner; add GET /pets/count")
    return repo, baseline, regression


def run_demo(workdir: Path | None, *, console: Console, out: Console) -> int:
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="plog-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    repo, baseline, regression = build_repo(root)
    home = root / "plog-home"
    out.print(f"demo repository: {repo}", markup=False)
    outcomes: list[RunOutcome] = []
    for title, head, base in (("baseline", baseline, None), ("regression", regression, baseline)):
        out.print(
            f"\n[bold]{title}[/]: plog run --head {head[:12]}"
            + (f" --base {base[:12]}" if base else "")
        )
        outcome = run(
            RunRequest(repo=repo, head=head, base=base, branch="main", home=home), console=console
        )
        outcomes.append(outcome)
        colour = "green" if outcome.status == "pass" else "red"
        out.print(f"[bold {colour}]{outcome.status.upper()}[/] ", end="")
        out.print(outcome.summary, markup=False)
        if outcome.report_path:
            out.print(f"  report: {outcome.report_path}", markup=False)
    elapsed = time.monotonic() - started
    expected = [o.status for o in outcomes] == ["pass", "fail"]
    out.print(
        f"\ndemo finished in {elapsed:.0f} s; results database: {home / 'results.sqlite3'}",
        markup=False,
    )
    if not expected:
        out.print("[red]unexpected verdicts: the baseline should pass and the regression fail[/]")
        return 1
    return 0
