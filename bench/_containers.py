"""Shared by the container benchmarks (issue 19: bench.container_overhead,
container_verdicts, container_leaks): the petstore example in a throwaway git
repository, with examples/petstore/plog.yml (target process) or plog.podman.yml
(target podman, the local debootstrap base as build arg BASE: no registry pull);
``plog run`` as a process of its own (its wall time, or a signal to it alone); and
what PLog's containers left behind (``leftovers``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from plog_ci.build.image import MARKERS_DIR
from plog_ci.deploy.containers import Containers
from plog_ci.deploy.podman import home_label
from plog_ci.store.sqlite import open_store
from testing.paths import EXAMPLE, ROOT

GIT_ENV = {
    "GIT_AUTHOR_NAME": "PLog Bench",
    "GIT_AUTHOR_EMAIL": "bench@plog.invalid",
    "GIT_COMMITTER_NAME": "PLog Bench",
    "GIT_COMMITTER_EMAIL": "bench@plog.invalid",
}
REGISTRY_PASSWORD_ENV = "PLOG_BENCH_REGISTRY_PASSWORD"


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


def plog_yml(
    *,
    podman: bool,
    base: str = "",
    duration: str | None = None,
    registry: str = "",
    extra: str = "",
) -> str:
    """The example's plog.yml (``podman``: plog.podman.yml with ``BASE`` set to
    ``base``), with the load's ``duration`` replaced, ``registry`` (indented YAML
    lines) added under ``deploy:`` and ``extra`` (top-level YAML) appended."""
    text = (EXAMPLE / ("plog.podman.yml" if podman else "plog.yml")).read_text(encoding="utf-8")
    if podman:
        text = _replace(
            text, "    containerfile: Containerfile\n",
            f'    containerfile: Containerfile\n    args: {{BASE: "{base}"}}\n',
        )  # fmt: skip
        if registry:
            text = _replace(text, "  container_port: 8080\n", "  container_port: 8080\n" + registry)
    if duration:
        text, n = re.subn(r"(?m)^  duration: \S+", f"  duration: {duration}", text)
        assert n == 1, "examples/petstore: the load's duration line moved"
    return text + extra


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise RuntimeError(f"examples/petstore/plog.podman.yml no longer has {old.strip()!r}")
    return text.replace(old, new, 1)


def petstore_repo(root: Path, config: str, files: Mapping[str, str] | None = None) -> Path:
    """A git repository at ``root`` with the example (app, spec, Containerfile),
    ``config`` as plog.yml and ``files`` (name to text) added, in one commit."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    for name in ("app.py", "openapi.yaml", "Containerfile"):
        shutil.copy2(EXAMPLE / name, root / name)
    (root / "plog.yml").write_text(config, encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).write_text(text, encoding="utf-8")
    commit(root, "petstore")
    return root


def commit(repo: Path, message: str) -> str:
    """Commit the work tree as it is (empty commits allowed); the new sha."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def plog_env(home: Path, tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``plog run``'s environment: its own state directory and TMPDIR (so its
    temporary folders can be counted)."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "PLOG_HOME": str(home), "TMPDIR": str(tmp), **(extra or {})}


def start_plog_run(
    repo: Path, env: Mapping[str, str], log: Path, args: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """``plog run --repo REPO ARGS`` in a session of its own, output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "plog_ci", "run", "--repo", str(repo), *args],
            cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


@dataclass(frozen=True)
class Timed:
    seconds: float
    returncode: int
    run_id: int | None
    status: str
    tail: str = ""  # the output's end when it ended in error (exit other than 0 and 1)


def timed_plog_run(
    repo: Path, env: Mapping[str, str], log: Path, args: Sequence[str] = ()
) -> Timed:
    """Run ``plog run`` to its end: its wall time (process start to exit), exit code,
    and the newest run of its store (id, status)."""
    started = time.perf_counter()
    child = start_plog_run(repo, env, log, args)
    code = child.wait()
    seconds = time.perf_counter() - started
    run_id, status = newest_run(Path(env["PLOG_HOME"]))
    tail = "" if code in (0, 1) else log.read_text(errors="replace")[-3000:]
    return Timed(seconds, code, run_id, status, tail)


def newest_run(home: Path) -> tuple[int | None, str]:
    if not (home / "results.sqlite3").exists():
        return None, "no store"
    store = open_store(home)
    try:
        runs = store.runs(limit=1)
        return (runs[0].id, runs[0].status) if runs else (None, "no run")
    finally:
        store.close()


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def phase_of(pid: int) -> str | None:
    """What ``plog run`` (pid) is doing now, from its children: ``build`` (buildah),
    ``push`` (podman push or pull of the registry round trip), ``load`` (k6 run)."""
    found = set()
    for child in descendants(pid):
        try:
            name, argv = child.name(), child.cmdline()
        except psutil.Error:
            continue
        if name == "buildah":
            found.add("build")
        elif name == "podman" and ("push" in argv or "pull" in argv):
            found.add("push")
        elif name == "k6" and "run" in argv:  # not PLog's k6 checks before the load
            found.add("load")
    for phase in ("load", "push", "build"):
        if phase in found:
            return phase
    return None


def runc_bundles() -> dict[str, str]:
    """runc container id -> bundle folder (buildah's RUN steps run as runc containers)."""
    runc = shutil.which("runc")
    if runc is None:
        return {}
    out = subprocess.run([runc, "list", "--format", "json"], capture_output=True, text=True)
    rows = json.loads(out.stdout or "null") or []
    return {str(r["id"]): str(r.get("bundle", "")) for r in rows}


def build_containers(tools: Containers) -> set[str]:
    """Ids of buildah's working containers in PLog's store (``buildah containers``)."""
    out = tools.buildah("containers", "--all", "--json", timeout=60).stdout
    return {str(row["id"]) for row in json.loads(out or "null") or []}


def leftovers(
    tools: Containers, home: Path, tmp: Path, builds_before: set[str]
) -> dict[str, list[str]]:
    """What PLog of ``home`` (TMPDIR ``tmp``) left: containers, pods and networks with
    its label (podman ps -a, pod ps, network ls), buildah working containers made since
    ``builds_before``, runc containers of its builds, build markers of dead owners, its
    temporary folders (auth files, env files, build folders), runs still ``running``."""
    label = f"label={home_label(home)}"
    found: dict[str, list[str]] = {
        "containers": tools.podman("ps", "-a", "-q", "--filter", label).stdout.split(),
        "pods": tools.podman("pod", "ps", "-q", "--filter", label).stdout.split(),
        "networks": tools.podman("network", "ls", "-q", "--filter", label).stdout.split(),
        "build_containers": sorted(build_containers(tools) - builds_before),
        "runc_containers": sorted(
            cid for cid, bundle in runc_bundles().items() if bundle.startswith(f"{tmp}/")
        ),
        "auth_files": sorted(str(p) for p in tmp.rglob("auth.json")),
        "temp_folders": sorted(p.name for p in tmp.glob("plog-run-*")),
    }
    conf = tools.env.get("CONTAINERS_STORAGE_CONF", "")
    markers = Path(conf).parent / MARKERS_DIR if conf else None
    mine = f"{tmp}/"
    found["build_markers"] = sorted(
        p.name
        for p in (markers.glob("*.json") if markers and markers.is_dir() else [])
        if mine in p.read_text(encoding="utf-8", errors="replace")
    )
    store = open_store(home)
    try:
        found["runs_running"] = [str(r) for r in store.running_runs()]
    finally:
        store.close()
    return found


def remove_images(tools: Containers, references: Sequence[str]) -> int:
    """Untag the benchmark's images: those podman's ``reference`` filter matches in
    ``references`` (e.g. ``localhost/plog/petstore-aa``, ``HOST/team/*``), by name or,
    for an image pulled by digest, by ``NAME@DIGEST``; the layer cache they share with
    others stays. Returns how many names were removed. Filtered, not listed whole:
    ``podman images`` computes every image's size, about 0.2 s an image."""
    doomed: list[str] = []
    for reference in references:
        for fmt in ("{{.Repository}}:{{.Tag}}", "{{.Repository}}@{{.Digest}}"):
            out = tools.podman("images", "--filter", f"reference={reference}", "--format", fmt)
            doomed += [n for n in out.stdout.split() if "<none>" not in n]
    doomed = sorted(set(doomed))
    if doomed:
        tools.podman("rmi", "-f", "-i", *doomed, check=False, timeout=300)
    return len(doomed)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
