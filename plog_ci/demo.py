"""``plog demo``: the whole path on a throwaway repository, no setup needed.

Commit 1 is the petstore example as is (baseline). Commit 2 slows one
handler (a full table scan plus an extra round trip per request) and adds an
operation. PLog must say PASS for the first and FAIL, with the reason, for
the second. As processes by default; ``target="podman"`` builds, pushes and runs
each commit's image instead (``plog_ci.demo_podman`` prepares what that needs).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from plog_ci.errors import InputError
from plog_ci.gitrepo import git

if TYPE_CHECKING:
    from plog_ci.demo_podman import PodmanDemo

EXAMPLE = "petstore"
DASHBOARD_PORT = 8787  # plog serve's default port
TARGETS = ("process", "podman")
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


def build_repo(root: Path, podman: PodmanDemo | None = None) -> tuple[Path, str, str]:
    """The demo repository with its two commits: (path, baseline sha, regression sha).
    ``podman``: its plog.yml (deploy.target podman) and the Containerfile instead."""
    repo = root / "petstore"
    repo.mkdir(parents=True)
    git(("init", "--quiet", "--initial-branch=main", str(repo)), cwd=root)
    for name in _FILES + (podman.extra_files if podman else ()):
        shutil.copy2(example_dir() / name, repo / name)
    if podman is not None:
        (repo / "plog.yml").write_text(podman.plog_yml, encoding="utf-8")
    (repo / ".gitignore").write_text("plog-reports/\n__pycache__/\n", encoding="utf-8")
    baseline = _commit(repo, "Petstore API: list, show and create pets")
    app = repo / "app.py"
    _edit(app, "import threading\n", "import threading\nimport time\n")
    _edit(app, _FAST_LOOKUP, _SLOW_LOOKUP)
    _edit(app, '    @app.get("/pets/<int:pet_id>")', _NEW_ROUTE)
    _edit(repo / "openapi.yaml", "  /pets/{petId}:", _NEW_PATH)
    regression = _commit(repo, "Show the pet's owner; add GET /pets/count")
    return repo, baseline, regression


def _push(work: Path, rev: str, out: Console) -> None:
    """``git push`` as a developer does it; PLog's hooks answer on the remote: lines."""
    result = git(("push", "server", f"{rev}:refs/heads/main"), cwd=work, check=False)
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("remote:"):
            out.print(f"  {line.rstrip()}", markup=False, soft_wrap=True)
    if result.returncode != 0:
        raise RuntimeError(f"demo: git push failed:\n{result.stderr}")


def demo_home(root: Path) -> Path:
    """The state directory (queue, results) of the demo built under ``root``."""
    return root / "plog-home"


def print_dashboard(home: Path, out: Console, *, serving: str | None) -> None:
    """Where the demo's runs are on the dashboard: ``serving`` is the base URL of a
    server about to start; without one, the command that starts it."""
    from plog_ci.store.sqlite import open_store

    store = open_store(home)
    try:
        runs = sorted(r.id for r in store.runs())
    finally:
        store.close()
    base = serving or f"http://127.0.0.1:{DASHBOARD_PORT}"
    out.print("\nthe dashboard of these runs:", markup=False)
    if serving is None:
        out.print(f"  plog serve --no-webhook --home {home}", markup=False)
    for run_id in runs:
        out.print(f"  {base}/runs/{run_id}", markup=False)
    if serving is not None:
        out.print("  (serving until Ctrl-C)", markup=False)


@contextlib.contextmanager
def _target(
    root: Path, target: str, base_image: str | None, registry: str | None, out: Console
) -> Iterator[PodmanDemo | None]:
    if target == "process":
        if base_image is not None or registry is not None:
            raise InputError("--base-image and --registry go with --target podman")
        yield None
        return
    from plog_ci.demo_podman import prepared

    with prepared(root, example_dir(), base_image=base_image, registry=registry, out=out) as made:
        yield made


def run_demo(
    workdir: Path | None,
    *,
    console: Console,
    out: Console,
    serving: str | None = None,
    target: str = "process",
    base_image: str | None = None,
    registry: str | None = None,
) -> int:
    """Two pushes to a bare repository with PLog's hooks; the worker gates each.
    ``serving``: the dashboard's base URL when the caller serves it afterwards.
    ``target``: process, or podman (each commit's image built from ``base_image``,
    pushed to ``registry``; see ``plog_ci.demo_podman``). Raises PlogError
    (InputError, DependencyError) when the podman target cannot be prepared."""
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="plog-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with _target(root, target, base_image, registry, out) as podman:
        return _gate_two_commits(root, started, podman, out, serving)


def _gate_two_commits(
    root: Path, started: float, podman: PodmanDemo | None, out: Console, serving: str | None
) -> int:
    from plog_ci.hook_install import install_hooks
    from plog_ci.worker import run_worker_until_idle

    work, baseline, regression = build_repo(root, podman)
    home = demo_home(root)
    server = root / "server.git"
    git(("init", "--quiet", "--bare", "--initial-branch=main", str(server)), cwd=root)
    install_hooks(server, home=home)
    git(("remote", "add", "server", str(server)), cwd=work)
    out.print(f"demo: {work} pushes to {server} (PLog hooks installed)", markup=False)
    for title, head in (("baseline", baseline), ("regression", regression)):
        out.print(f"\n[bold]{title}[/]: git push server {head[:12]}:main")
        _push(work, head, out)
        out.print("  plog worker: running the queued job", markup=False)
        run_worker_until_idle(home)
        note = git(
            ("notes", "--ref=plog", "show", "--end-of-options", head), cwd=server, check=False
        ).stdout.strip()
        first, _, rest = note.partition("\n")
        words = first.split(maxsplit=2)
        verdict = words[1].upper() if len(words) > 1 and words[0] == "plog:" else "NONE"
        colour = "green" if verdict == "PASS" else "red"
        out.print(f"[bold {colour}]{verdict}[/] ", end="")
        out.print(
            words[2] if len(words) > 2 else "no verdict recorded", markup=False, soft_wrap=True
        )
        for line in rest.splitlines():
            out.print(f"  {line}", markup=False, soft_wrap=True)
    elapsed = time.monotonic() - started
    out.print("\nverdicts on the server, where git users look:", markup=False)
    log = git(("log", "--notes=plog", "--format=%h %s%n%N", "main"), cwd=server).stdout
    for line in log.strip().splitlines():
        out.print(f"  {line}", markup=False, soft_wrap=True)
    out.print(f"\n  git --git-dir={server} log --notes=plog", markup=False)
    out.print(f"  git --git-dir={server} show plog-reports:  (markdown reports)", markup=False)
    how = " with containers (podman)" if podman else ""
    out.print(f"\ndemo finished in {elapsed:.0f} s{how}; state: {home}", markup=False)
    print_dashboard(home, out, serving=serving)
    notes = [
        git(
            ("notes", "--ref=plog", "show", "--end-of-options", sha), cwd=server, check=False
        ).stdout
        for sha in (baseline, regression)
    ]
    if not (notes[0].startswith("plog: pass") and notes[1].startswith("plog: fail")):
        out.print("[red]unexpected verdicts: the baseline should pass and the regression fail[/]")
        return 1
    return 0
