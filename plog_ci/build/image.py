"""Build a commit's image with buildah: layer cache, labels, and why a build failed.

``buildah bud --layers`` caches every step by its content, so a tree that did not
change gives back the very same image id (content-addressed) in about a second.
Labels (image config) and annotations (OCI manifest) carry the same values; a
label that differs (another commit sha) only adds a metadata step on top of the
cached layers. Keep them deterministic: a build time as ``created`` would make
every build a new image; the commit's date does not.

A build that fails or is stopped (Ctrl-C, SIGTERM, a timeout) removes its working
containers (``--force-rm``). One whose buildah is killed outright (PLog SIGKILLed:
buildah dies with it) leaves a working container, and a RUN step's runc container
that keeps running, with its bundle in buildah's TMPDIR: each build leaves a marker
file naming its owner, start time and a private TMPDIR, and ``reap_builds`` (run by
``deploy.podman.reap_containers``) removes what a dead owner's build left.

The output goes to ``log_path`` as it comes (``proc.Process``); a failure names the
last ``STEP n/m`` buildah started and the output's last lines. Symlinks inside
the context need no check here: buildah resolves them inside the context (one to
``/etc/hostname`` fails with "no such file"), but the context and the Containerfile
themselves must lie inside the tree.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from plog_ci import __version__, proc
from plog_ci.build.errors import BuildError
from plog_ci.deploy.containers import Containers, cache_dir
from plog_ci.errors import InputError

log = logging.getLogger("plog.build")

TAIL_LINES = 200  # kept for the report
ERROR_LINES = 20  # in a failed build's message
LINE_CHARS = 400  # one line of the tail at most (buildah's copier errors are kilobytes)
TEMP_PREFIX = "plog-run-build-"  # plog_ci.reaper removes plog-run-* folders of dead owners
MARKERS_DIR = "plog-builds"  # beside PLog's storage.conf: one file per build under way
CREATED_SLACK_S = 1.0  # podman gives a container's creation time in whole seconds
# "STEP 3/5: RUN pip install", or "[2/2] STEP 1/4: FROM ..." in a multi-stage build.
STEP_RE = re.compile(r"^(?:\[(\d+)/(\d+)\] )?STEP (\d+)/(\d+): (.*)$")
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
BUILD_ARG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

OCI = "org.opencontainers.image"
PLOG = "dev.plog"


@dataclass(frozen=True)
class BuiltImage:
    """``id``: ``sha256:<64 hex>``; ``reused``: the image was made before this build
    started (unchanged tree, same labels: every step from the layer cache);
    ``seconds``: wall time of the build; ``tail``: the output's last lines (at most
    ``TAIL_LINES``, redacted)."""

    id: str
    tag: str
    reused: bool
    seconds: float
    tail: tuple[str, ...] = ()


def image_labels(
    *,
    repository: str,
    commit: str,
    source: str | None = None,
    version: str | None = None,
    created: str | None = None,
) -> dict[str, str]:
    """The labels PLog puts on a commit's image: OCI ``revision`` (the commit),
    ``source`` (the repository's URL), ``version`` and ``created`` (RFC 3339; pass the
    commit's date, not the time of the build, or no build is ever reused), and
    ``dev.plog.{repository,commit,version}`` (PLog's version)."""
    labels = {f"{OCI}.revision": commit, f"{PLOG}.repository": repository, f"{PLOG}.commit": commit}
    for key, value in (("source", source), ("version", version), ("created", created)):
        if value:
            labels[f"{OCI}.{key}"] = value
    labels[f"{PLOG}.version"] = __version__
    return labels


def inside(tree: Path, relative: str, what: str) -> Path:
    """``tree / relative`` resolved (symlinks followed); InputError (exit 2) when it
    lies outside ``tree``."""
    root = tree.resolve()
    if Path(relative).is_absolute():
        raise InputError(f"deploy.build.{what}: {relative!r} must be relative to the repository")
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise InputError(
            f"deploy.build.{what}: {relative!r} resolves to {path}, outside the repository",
            hint="a symlink or '..' may not lead the build out of the commit's tree",
        )
    return path


def _argv(
    containerfile: Path,
    context: Path,
    args: Mapping[str, str],
    target: str | None,
    tag: str,
    labels: Mapping[str, str],
    iidfile: Path,
) -> list[str]:
    if not tag or any(c.isspace() for c in tag):
        raise InputError(f"image tag {tag!r} is empty or has spaces")
    argv = [
        "bud",
        "--layers",
        "--force-rm",  # a failed or stopped build leaves no working container
        "--iidfile",
        str(iidfile),
        "--tag",
        tag,
        "--file",
        str(containerfile),
    ]
    if target:
        argv += ["--target", target]
    for name, value in args.items():
        if not BUILD_ARG_RE.match(name):
            raise InputError(f"deploy.build.args: {name!r} is not a build argument name")
        argv += ["--build-arg", f"{name}={value}"]
    for key, value in labels.items():
        if not LABEL_KEY_RE.match(key):
            raise InputError(f"image label {key!r}: letters, digits and . _ / - only")
        argv += ["--label", f"{key}={value}", "--annotation", f"{key}={value}"]
    return [*argv, str(context)]


def _created_ns(tools: Containers, image_id: str) -> int | None:
    """When the image was made (ns since the epoch), None when podman cannot say.

    One ``image inspect``: listing the store (``podman images --all``) to tell a reused
    image took 30 s on a store of ~200 images here, most of a cached rebuild."""
    out = tools.podman(
        "image", "inspect", "--format", "{{.Created.UnixNano}}", image_id, check=False, timeout=60
    )
    text = out.stdout.strip()
    return int(text) if out.returncode == 0 and text.isdigit() else None


def _read_log(log_path: Path, added: int) -> tuple[tuple[int, int, str] | None, tuple[str, ...]]:
    """(n, m, instruction) of the last ``STEP n/m: instruction`` line, and the last
    ``TAIL_LINES`` lines, redacted; read line by line, so a huge log costs no memory.

    buildah makes each ``--label`` a ``LABEL`` step at the end of the last stage:
    ``added`` of them are taken off ``m`` there, so m counts the Containerfile's steps."""
    step: tuple[int, int, str] | None = None
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with contextlib.suppress(OSError), open(log_path, encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            found = STEP_RE.match(line)
            if found:
                n, m = int(found[3]), int(found[4])
                if found[1] is None or found[1] == found[2]:
                    m = m - added if m - added >= n else m
                step = (n, m, found[5])
            tail.append(line[:LINE_CHARS] + (" ..." if len(line) > LINE_CHARS else ""))
    if step is not None:
        step = (step[0], step[1], proc.redact(step[2])[:LINE_CHARS])
    return step, tuple(proc.redact(line) for line in tail)


@contextlib.contextmanager
def _private_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    proc.record_path(folder)  # removed by the reaper should this process be killed
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _failure(
    log_path: Path, detail: str, step: tuple[int, int, str] | None, tail: tuple[str, ...]
) -> BuildError:
    last = tail[-ERROR_LINES:]
    where = f"at step {step[0]}/{step[1]}: `{step[2]}`" if step else "before its first step"
    return BuildError(
        f"build {detail} {where}\n" + "\n".join(last),
        hint=f"the whole output is in {log_path}",
        step=(step[0], step[1]) if step else None,
        instruction=step[2] if step else None,
        tail=tail,
        log_path=log_path,
    )


def build_image(
    tools: Containers,
    tree: Path,
    *,
    containerfile: str,
    context: str,
    args: Mapping[str, str],
    target: str | None,
    tag: str,
    labels: Mapping[str, str],
    log_path: Path,
    timeout_s: float,
) -> BuiltImage:
    """Build ``tree``'s image with ``buildah bud --layers`` and tag it ``tag``.

    ``containerfile`` and ``context`` are relative to ``tree`` (the exported commit),
    as ``docker build -f`` from the repository's root; both must resolve inside it.
    ``labels`` go on as labels and as annotations, with ``dev.plog.version`` always
    PLog's. Output is streamed to ``log_path`` (replaced).

    Raises InputError (exit 2) for a path outside the tree or a bad name, BuildError
    (exit 2) for a failed or timed-out build, naming the failing step and the last
    lines, MissingToolError when buildah is absent.
    """
    context_dir = inside(tree, context, "context")
    if not context_dir.is_dir():
        raise InputError(f"deploy.build.context: {context!r} is not a directory of the commit")
    file = inside(tree, containerfile, "containerfile")
    if not file.is_file():
        raise InputError(f"deploy.build.containerfile: {containerfile!r} is not in the commit")
    all_labels = {**labels, f"{PLOG}.version": __version__}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _private_dir() as folder:
        iidfile = folder / "image-id"
        argv = _argv(file, context_dir, args, target, tag, all_labels, iidfile)
        started_ns = time.time_ns()  # an image made before this is one the cache gave back
        started = time.monotonic()
        returncode: int | None = None
        with _marked(tools, folder) as mark:
            build = proc.Process(
                [tools.buildah_path, *argv], cwd=context_dir, env=mark.env, log_path=log_path
            )
            try:
                returncode = build.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                returncode = None
            finally:
                build.stop(grace=5.0)  # a no-op once it ended; on Ctrl-C or a timeout it stops it
            mark.succeeded = returncode == 0
        seconds = time.monotonic() - started
        step, tail = _read_log(log_path, len(all_labels))
        if returncode is None:
            raise _failure(log_path, f"timed out after {timeout_s:g} s", step, tail)
        if returncode != 0:
            raise _failure(log_path, "failed", step, tail)
        try:
            image_id = iidfile.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _failure(log_path, "wrote no image id", step, tail) from exc
    if not image_id.startswith("sha256:"):
        image_id = f"sha256:{image_id}"
    created = _created_ns(tools, image_id)
    return BuiltImage(image_id, tag, created is not None and created < started_ns, seconds, tail)


# -- what a killed build leaves ---------------------------------------------------------


def _markers(tools: Containers) -> Path:
    conf = tools.env.get("CONTAINERS_STORAGE_CONF")
    return (Path(conf).parent if conf else cache_dir()) / MARKERS_DIR


@dataclass
class _Mark:
    """A build under way: buildah's environment; ``succeeded`` set by the caller."""

    env: dict[str, str]
    succeeded: bool = False


@contextlib.contextmanager
def _marked(tools: Containers, folder: Path) -> Iterator[_Mark]:
    """A marker for the build under way (owner, start, its TMPDIR: there buildah puts
    a RUN step's runc bundle). A build that did not succeed is cleaned on exit (its
    buildah has ended by then: killed, it cleaned nothing)."""
    tmpdir = folder / "tmp"
    tmpdir.mkdir()
    marker = {
        "host": socket.gethostname(),
        "owner_pid": os.getpid(),
        "owner_start": proc.start_time(os.getpid()),
        "started": time.time(),
        "tmpdir": str(tmpdir),
    }
    directory = _markers(tools)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(marker), encoding="utf-8")
    os.replace(partial, path)
    mark = _Mark({**tools.env, "TMPDIR": str(tmpdir)})
    try:
        yield mark
    finally:
        try:
            if not mark.succeeded:
                _clean(tools, marker)
        finally:
            path.unlink(missing_ok=True)


def _owner_dead(marker: dict[str, object]) -> bool:
    """Whether the marker's owner is dead (another host's: never judged from here)."""
    pid, started = marker.get("owner_pid"), marker.get("owner_start")
    if marker.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    if not isinstance(started, int | float):
        return proc.start_time(pid) is None
    return not proc.same_process(pid, float(started))


def _live_build_starts(tools: Containers) -> list[float]:
    """Start times of the buildah/podman builds running on this store now (any owner:
    a working container created after one started may be its own)."""
    import psutil

    ours = tools.env.get("CONTAINERS_STORAGE_CONF")
    starts = []
    for process in psutil.process_iter(["name", "cmdline", "create_time"]):
        info = process.info
        argv = info.get("cmdline") or []
        if info.get("name") not in ("buildah", "podman") or not {"bud", "build"} & set(argv):
            continue
        try:
            conf = process.environ().get("CONTAINERS_STORAGE_CONF")
        except (psutil.Error, OSError):
            conf = ours  # unreadable: it may build on this store
        if conf == ours:
            starts.append(float(info.get("create_time") or 0.0))
    return starts


def _runc_leftovers(tmpdir: str) -> list[str]:
    """Ids of runc containers (a RUN step) whose bundle lies in the build's TMPDIR."""
    runc = shutil.which("runc")
    if runc is None:
        return []
    result = proc.run([runc, "list", "--format", "json"], timeout=30, check=False)
    rows = json.loads(result.stdout or "null") or [] if result.returncode == 0 else []
    prefix = tmpdir.rstrip("/") + "/"
    return [str(r["id"]) for r in rows if str(r.get("bundle", "")).startswith(prefix)]


def _clean(tools: Containers, marker: dict[str, object]) -> list[str]:
    """Remove what the marker's build left: its RUN steps' runc containers, and the
    working containers created since it started that no live build may own."""
    tmpdir = str(marker.get("tmpdir", ""))
    started = marker.get("started")
    removed: list[str] = []
    runc = shutil.which("runc")
    for cid in _runc_leftovers(tmpdir) if tmpdir.startswith("/") and runc else []:
        proc.run([str(runc), "delete", "--force", cid], timeout=30, check=False)
        removed.append(cid)
    if not isinstance(started, int | float):
        return removed
    live = _live_build_starts(tools)
    rows = json.loads(
        tools.podman("ps", "-a", "--external", "--format", "json", timeout=60).stdout or "[]"
    )
    working = []
    for row in rows or []:
        created = row.get("Created")
        if row.get("State") != "storage" or not isinstance(created, int | float):
            continue  # a podman container, not a build's
        if created + CREATED_SLACK_S < started:
            continue  # older than the build
        if any(start <= created + CREATED_SLACK_S for start in live):
            continue  # a build under way may own it
        working.append(str(row.get("Id", "")))
    working = [w for w in working if w]
    if working:
        tools.buildah("rm", *working, check=False, timeout=120)
        removed += working
    if tmpdir.startswith("/") and Path(tmpdir).parent.name.startswith(TEMP_PREFIX):
        shutil.rmtree(Path(tmpdir).parent, ignore_errors=True)
    return removed


def reap_builds(tools: Containers) -> list[str]:
    """Remove what the builds of dead PLog processes left (see the module doc): the
    ids of the runc and working containers removed. Markers of living owners (and
    another host's) are left alone."""
    removed: list[str] = []
    directory = _markers(tools)
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            marker = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(marker, dict) or not _owner_dead(marker):
            continue
        # Claimed by renaming: of two reapers at once, one cleans it.
        claimed = path.with_suffix(f".reaping-{os.getpid()}")
        try:
            os.rename(path, claimed)
        except OSError:
            continue
        try:
            found = _clean(tools, marker)
        finally:
            claimed.unlink(missing_ok=True)
        if found:
            log.info("removed %d leftover(s) of a killed build: %s", len(found), found)
        removed += found
    return removed
