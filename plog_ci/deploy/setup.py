"""``service.setup``: the commands that give a service its own dependencies, run in
the exported tree before the service starts, and the cache that spares an unchanged
commit from running them again (issue 17, item 12).

Steps. Each step of ``service.setup`` is a string split like a shell would split it
(``shlex``; no shell runs it) or a list of arguments, with ``{port}`` and ``${NAME}``
replaced in each argument as in ``service.run`` (``plog_ci.deploy.command``). Steps run in
order in the service's directory (``service.workdir`` of the side's tree), with the
environment PLog passes to the service (``python`` is PLog's interpreter), each for
at most ``service.setup_timeout`` (default 10 minutes). A step that exits non-zero,
cannot start or runs past its time raises ``ServiceError`` naming the step, its exit
status and its last ``TAIL_LINES`` lines of output (secrets redacted).

Cache (``service.setup_cache: {key: [globs], paths: [paths]}``), as a GitHub Actions
user knows it (``key: hashFiles('requirements.txt')``, ``path: .venv``):

- the key is the SHA-256 of the setup steps as written, the workdir, the ``paths``,
  PLog's Python (version, executable, machine), whether secrets were withheld (a fork's
  run never fills an entry a trusted run restores), and each file matching a ``key``
  glob (relative to the workdir, ``**`` allowed; name and content, sorted). A glob
  that matches no file is a ``ConfigError``: a typo would otherwise freeze the key.
- an entry lives at ``<PLOG_HOME>/setup-cache/<key>/``. A virtual environment holds
  its own absolute path (``bin/pip``'s ``#!`` line, ``bin/activate``), so it cannot
  be moved after it is made: with a cache, setup runs in a copy of the tree at the
  entry's stable path (``<entry>/tree/``), everything there but ``paths`` is removed
  after it succeeds, and each path is a symlink in the side's tree to the entry's.
  ``.venv/bin/python -m flask run``, ``.venv/bin/gunicorn`` and ``.venv/bin/pip``
  all work, cold or restored, because the scripts' interpreter path is the entry's.
  Only ``paths`` reach the tree, cold or warm alike; a path setup did not create is
  a ``ServiceError``. An editable install (``pip install -e .``) would point at the
  removed copy: install the project itself without ``-e`` or leave it to the tree.
- a side holds its entry with a shared ``flock`` while its service runs; building an
  entry holds it exclusively (two runs with the same key build it once). After an
  entry is built, all but the ``KEEP`` most recently used entries that no run holds
  are removed.

Without ``setup_cache`` the steps run in the side's tree itself, on every run.

Progress: ``reporting(home, stage)`` (entered by the pipeline around the measurement)
says where the cache lives and where the stage lines go (``Setup 1/2: python -m venv
.venv``, ``Setup: .venv restored from the cache``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import platform
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from plog_ci import proc
from plog_ci.config.model import ServiceConfig, SetupCache, SetupStep
from plog_ci.deploy.command import command_argv, expand
from plog_ci.errors import ConfigError, MissingToolError, ServiceError
from plog_ci.home import state_dir

# Entries kept after a new one is built (the most recently used; a held one is never removed).
KEEP = 8
# Output lines of a failed step shown in the error.
TAIL_LINES = 20
CACHE_DIR = "setup-cache"
_COMPLETE = "complete"


@dataclass(frozen=True)
class _Reporting:
    home: Path | None
    stage: Callable[[str], None]


_REPORTING: ContextVar[_Reporting | None] = ContextVar("plog_setup_reporting", default=None)


@contextlib.contextmanager
def reporting(home: Path | None, stage: Callable[[str], None]) -> Iterator[None]:
    """Within the block, setup caches under ``home`` (else ``plog_ci.home.state_dir()``)
    and shows its stages through ``stage``."""
    token = _REPORTING.set(_Reporting(home, stage))
    try:
        yield
    finally:
        _REPORTING.reset(token)


def _stage(text: str) -> None:
    current = _REPORTING.get()
    if current is not None:
        current.stage(text)


def cache_root() -> Path:
    current = _REPORTING.get()
    home = current.home if current is not None else None
    return state_dir(home) / CACHE_DIR


def step_text(step: SetupStep, width: int = 100) -> str:
    """A step as written in plog.yml (not expanded), redacted all the same, cut to its
    first line and ``width`` characters (``…`` where cut)."""
    text = proc.redact(step if isinstance(step, str) else shlex.join(step))
    first = text.splitlines()[0] if text else text
    return first if first == text and len(text) <= width else first[: width - 1] + "…"


def step_argv(step: SetupStep, port: int, env: Mapping[str, str], index: int) -> tuple[str, ...]:
    """The argv of one step: split (a string), ``{port}`` and ``${NAME}`` replaced."""
    key = f"service.setup[{index}]"
    if isinstance(step, str):
        argv = command_argv(step, port, None)
    else:
        argv = tuple(a.replace("{port}", str(port)) for a in step)
    return tuple(expand(a, env, key) for a in argv)


def run_steps(
    service: ServiceConfig, workdir: Path, env: Mapping[str, str], port: int, log: Path
) -> None:
    """Run every step in ``workdir``; ``ServiceError`` at the first that fails. The
    output of all steps goes to ``log`` (redacted)."""
    total = len(service.setup)
    with open(log, "a", encoding="utf-8") as out:
        for index, step in enumerate(service.setup):
            text = step_text(step)
            _stage(f"Setup {index + 1}/{total}: {text}")
            argv = step_argv(step, port, env, index)
            _run_step(argv, text, index, service.setup_timeout_s, workdir, env, out)


def _run_step(
    argv: tuple[str, ...],
    text: str,
    index: int,
    timeout: float,
    workdir: Path,
    env: Mapping[str, str],
    out: IO[str],
) -> None:
    where = f"service.setup[{index}] ({text})"
    try:
        result = proc.run(argv, cwd=workdir, env=env, timeout=timeout, check=False)
    except MissingToolError:
        raise ServiceError(
            f"{where}: {argv[0]!r} was not found",
            hint="install it, or name it by a path inside the repository",
        ) from None
    except PermissionError as exc:
        raise ServiceError(f"{where}: {argv[0]!r} cannot run ({exc.strerror})") from None
    except proc.ProcessError as exc:  # past its timeout
        out.write(proc.redact(exc.output))
        raise ServiceError(
            f"{where}: still running after {timeout:g}s, stopped\n--- last output ---\n"
            f"{_tail(exc.output)}",
            hint="raise service.setup_timeout in plog.yml, or make the step faster",
        ) from None
    output = proc.redact(result.stdout + result.stderr)
    out.write(output)
    if result.returncode != 0:
        raise ServiceError(
            f"{where} exited with status {result.returncode}\n--- last output ---\n{_tail(output)}",
            hint="run the step by hand in a fresh clone to see why",
        )


def _tail(text: str) -> str:
    lines = proc.redact(text).rstrip().splitlines()
    return "\n".join(lines[-TAIL_LINES:]) or "(no output)"


# --- the cache ------------------------------------------------------------------------


def cache_key(
    service: ServiceConfig, cache: SetupCache, workdir: Path, *, trusted: bool = True
) -> str:
    """The entry's name: SHA-256 (hex) of what setup's result depends on (module doc)."""
    digest = hashlib.sha256()

    def add(*parts: str) -> None:
        for part in parts:
            data = part.encode("utf-8", "surrogateescape")
            digest.update(len(data).to_bytes(8, "big") + data)

    add("plog-setup-1", service.workdir, "trusted" if trusted else "untrusted")
    add(sys.version, sys.executable, platform.machine())
    for step in service.setup:
        add("step", *([step] if isinstance(step, str) else ["argv", *step]))
    add("paths", *cache.paths)
    root = workdir.resolve()
    for pattern in cache.key:
        matches = sorted(
            path
            for path in workdir.glob(pattern)
            if path.is_file() and path.resolve().is_relative_to(root)
        )
        if not matches:
            raise ConfigError(
                f"plog.yml: service.setup_cache.key: {pattern!r} matches no file in "
                f"{service.workdir!r} of the commit",
                hint="name files setup reads, e.g. key: [requirements.txt], relative to "
                "service.workdir",
            )
        for path in matches:
            add("file", path.relative_to(workdir).as_posix())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class Setup:
    """Setup done for one side: ``close()`` releases its cache entry (if any)."""

    def __init__(self, lock: IO[bytes] | None = None) -> None:
        self._lock = lock

    def close(self) -> None:
        if self._lock is not None and not self._lock.closed:
            self._lock.close()  # releases the shared flock


def prepare(
    service: ServiceConfig,
    tree: Path,
    env: Mapping[str, str],
    port: int,
    log: Path,
    *,
    trusted: bool = True,
) -> Setup:
    """Run ``service.setup`` for the side whose exported tree is ``tree`` (or restore
    it from the cache). Nothing to do without steps. Raises ``ServiceError`` (a step
    failed, a path was not created) or ``ConfigError`` (a key glob matches nothing)."""
    if not service.setup:
        return Setup()
    workdir = tree / service.workdir
    if not workdir.is_dir() or not workdir.resolve().is_relative_to(tree.resolve()):
        raise ConfigError(
            f"plog.yml: service.workdir: {service.workdir!r} is not a directory in the repository"
        )
    cache = service.setup_cache
    if cache is None:
        run_steps(service, workdir, env, port, log)
        return Setup()
    key = cache_key(service, cache, workdir, trusted=trusted)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    entry = root / key
    lock = open(root / f"{key}.lock", "ab")
    try:
        # Shared first: the other side of this run (same key) or another run may hold
        # it shared already, and an exclusive request would wait for them all.
        fcntl.flock(lock, fcntl.LOCK_SH)
        built = False
        if not (entry / _COMPLETE).exists():
            fcntl.flock(lock, fcntl.LOCK_EX)  # no one holds an incomplete entry shared
            if not (entry / _COMPLETE).exists():  # another run may have built it meanwhile
                _build(service, cache, tree, entry, env, port, log)
                built = True
            fcntl.flock(lock, fcntl.LOCK_SH)
        (entry / _COMPLETE).touch()  # its last use, for eviction
        _link(cache, workdir, entry / "tree" / service.workdir)
        if not built:
            _stage(f"Setup: {', '.join(cache.paths)} restored from the cache ({key[:12]})")
        else:
            evict(root, keep=KEEP)
    except BaseException:
        lock.close()
        raise
    return Setup(lock)


def _build(
    service: ServiceConfig,
    cache: SetupCache,
    tree: Path,
    entry: Path,
    env: Mapping[str, str],
    port: int,
    log: Path,
) -> None:
    """Run the steps in a copy of ``tree`` at ``entry``/tree, then keep only the paths."""
    shutil.rmtree(entry, ignore_errors=True)
    copy = entry / "tree"
    try:
        shutil.copytree(tree, copy, symlinks=True)
        workdir = copy / service.workdir
        run_steps(service, workdir, env, port, log)
        missing = [p for p in cache.paths if not (workdir / p).exists()]
        if missing:
            raise ServiceError(
                f"service.setup_cache.paths: setup created no {', '.join(map(repr, missing))} "
                f"in {service.workdir!r}",
                hint="name in paths what the setup steps create, e.g. paths: [.venv]",
            )
        _prune(copy, [workdir / p for p in cache.paths])
    except BaseException:
        shutil.rmtree(entry, ignore_errors=True)
        raise
    (entry / _COMPLETE).touch()


def _prune(root: Path, keep: Sequence[Path]) -> None:
    """Remove everything under ``root`` that is neither one of ``keep`` nor holds one."""
    kept = [k.absolute() for k in keep]
    for path in list(root.iterdir()):
        absolute = path.absolute()
        if any(absolute == k for k in kept):
            continue
        if any(absolute in k.parents for k in kept) and path.is_dir() and not path.is_symlink():
            _prune(path, keep)
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _link(cache: SetupCache, workdir: Path, source: Path) -> None:
    """Each cached path, in the side's tree, as a symlink to the entry's."""
    root = workdir.resolve()
    for name in cache.paths:
        target = workdir / name
        if not target.parent.resolve().is_relative_to(root):
            raise ConfigError(
                f"plog.yml: service.setup_cache.paths: {name!r} lies outside the "
                "repository (through a symlink)",
                hint="name a path inside service.workdir",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)  # committed in the repository: setup's result wins
        target.symlink_to(source / name, target_is_directory=(source / name).is_dir())


def evict(root: Path, keep: int = KEEP) -> list[str]:
    """Remove all but the ``keep`` most recently used entries under ``root`` that no
    run holds; returns the keys removed. An entry without its ``complete`` mark is
    a build that failed or is under way: removed only when no one holds it."""

    def last_use(entry: Path) -> float:
        try:
            return (entry / _COMPLETE).stat().st_mtime
        except OSError:
            return 0.0

    entries = sorted((p for p in root.iterdir() if p.is_dir()), key=last_use, reverse=True)
    removed = []
    for entry in entries[keep:]:
        with open(root / f"{entry.name}.lock", "ab") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a run holds it
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed
