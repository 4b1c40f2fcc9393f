"""What ``plog init`` finds in a repository: the spec, the command that starts the
service, the setup that gives it its dependencies, its port and a health path.

Every value is a ``Finding``: the value, where it came from (``found in Procfile``)
and whether it is a guess; what cannot be found is ``None`` (the caller asks for it
or writes a placeholder). Nothing found here is ever run: a command is only read.

The spec: any ``*.yaml``/``*.yml``/``*.json`` file (at most ``MAX_SPEC_BYTES``) whose
top level holds ``openapi`` (OpenAPI 3) or ``swagger`` (Swagger 2.0), outside
``SKIP_DIRS``; the shallowest wins, then a name with "openapi" or "swagger" in it,
then the name's order. The health path: a GET operation without path parameters
whose last segment is one of ``HEALTH_NAMES`` (under the spec's base path: Swagger
2.0 ``basePath``, OpenAPI 3 ``servers[0]``'s path), else ``/`` (a guess). The command
and setup: ``plog_ci.config.project_commands``; a command only a shell could run
(``plog_ci.config.shell_syntax``) is kept aside as ``run_shell``, not as ``run``.
``load.auth``: ``plog_ci.config.auth_guess``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plog_ci import yamldoc
from plog_ci.config import shell_syntax
from plog_ci.config.auth_guess import guess_auth, load_spec
from plog_ci.config.project_commands import Commands, find_commands

SKIP_DIRS = frozenset(
    {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache", "dist"}
)
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
MAX_SPEC_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 6
HEALTH_NAMES = ("health", "healthz", "healthcheck", "ping", "status", "ready", "readyz", "livez")
_TOP_KEY = re.compile(rb"^[\"']?(openapi|swagger)[\"']?\s*:", re.MULTILINE)


@dataclass(frozen=True)
class Finding:
    """A value for plog.yml: ``source`` says where it was found, or why it is a guess."""

    value: Any
    source: str
    guessed: bool = False

    @property
    def comment(self) -> str:
        return f"guessed: {self.source}" if self.guessed else f"found in {self.source}"


@dataclass
class Scan:
    """Everything ``plog init`` learnt about one repository."""

    root: Path
    spec: Finding | None = None
    run: Finding | None = None
    setup: Finding | None = None  # value: list of steps
    setup_cache: Finding | None = None  # value: {"key": [...], "paths": [...]}
    port: Finding | None = None  # a fixed port, when the command cannot take {port}
    run_shell: Finding | None = None  # a command found that only a shell could run
    auth: Finding | None = None  # value: the load.auth mapping; source: its comment
    health: Finding = field(default_factory=lambda: Finding("/", "no health path found", True))
    warnings: list[str] = field(default_factory=list)


def scan(root: Path) -> Scan:
    """Look at the repository at ``root`` (read only)."""
    result = Scan(root)
    spec = find_spec(root)
    if spec is not None:
        result.spec = Finding(spec.as_posix(), _spec_source(root, spec))
        health = health_path(root / spec)
        if health is not None:
            result.health = Finding(health[0], f"{spec.as_posix()}: {health[1]}")
    commands: Commands = find_commands(root)
    result.run = _finding(commands.run)
    result.setup = _finding(commands.setup)
    result.setup_cache = _finding(commands.setup_cache)
    result.port = _finding(commands.port)
    result.warnings.extend(commands.warnings)
    if result.run is not None and shell_syntax.problem(result.run.value):
        result.run_shell, result.run = result.run, None
    if spec is not None:
        _guess_auth(root, spec, result)
    return result


def _guess_auth(root: Path, spec: Path, result: Scan) -> None:
    """``load.auth`` from the spec's security schemes (``plog_ci.config.auth_guess``)."""
    loaded = load_spec(root / spec, root)
    if loaded is None:
        return
    guess, note = guess_auth(loaded)
    if guess is not None:
        result.auth = Finding(guess.value, guess.comment, True)
    if note is not None:
        result.warnings.append(note)


def _finding(item: tuple[Any, str, bool] | None) -> Finding | None:
    return None if item is None else Finding(*item)


def _spec_source(root: Path, spec: Path) -> str:
    return f"{spec.as_posix()} (top-level '{spec_kind(root / spec)}:')"


def _head(path: Path, size: int = 65536) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def find_spec(root: Path) -> Path | None:
    """The spec's path relative to ``root`` (module doc for the rule), or None."""
    candidates: list[tuple[int, int, str, Path]] = []
    real_root = root.resolve()
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and depth < MAX_DEPTH)
        for name in files:
            path = here / name
            if not name.lower().endswith(SPEC_SUFFIXES) or not _inside(path, real_root):
                continue
            if spec_kind(path):
                named = 0 if re.search("openapi|swagger", name, re.IGNORECASE) else 1
                candidates.append((depth, named, name, path.relative_to(root)))
    return min(candidates)[3] if candidates else None


def _inside(path: Path, real_root: Path) -> bool:
    try:
        return path.is_file() and path.resolve().is_relative_to(real_root)
    except OSError:
        return False


def spec_kind(path: Path) -> str | None:
    """``"openapi"`` or ``"swagger"`` when ``path`` is an OpenAPI 3 or Swagger 2.0
    document (its top level holds that key), else None."""
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            return None
    except OSError:
        return None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_bytes())
        except (ValueError, OSError):
            return None
        if not isinstance(data, dict):
            return None
        return "openapi" if "openapi" in data else "swagger" if "swagger" in data else None
    match = _TOP_KEY.search(_head(path, MAX_SPEC_BYTES))
    return match.group(1).decode() if match else None


def _load(path: Path) -> Any:
    try:
        data = path.read_bytes()
        if path.suffix.lower() == ".json":
            return json.loads(data)
        limits = yamldoc.Limits(max_bytes=MAX_SPEC_BYTES, max_depth=64, max_nodes=1_000_000)
        return yamldoc.to_plain(yamldoc.load(data, path.name, limits))
    except (ValueError, OSError, yamldoc.YamlError):
        return None


def base_path(doc: dict[str, Any]) -> str:
    """The spec's base path: Swagger 2.0 ``basePath``, or the path of OpenAPI 3's first
    server URL (server variables in it replaced by their defaults); ``""`` for none."""
    if "swagger" in doc:
        value = doc.get("basePath")
        return str(value).rstrip("/") if isinstance(value, str) else ""
    servers = doc.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return ""
    url = str(servers[0].get("url", ""))
    for name, var in (servers[0].get("variables") or {}).items():
        if isinstance(var, dict) and "default" in var:
            url = url.replace("{" + str(name) + "}", str(var["default"]))
    return urlsplit(url).path.rstrip("/")


def health_path(spec: Path) -> tuple[str, str] | None:
    """``(path on the service, "GET /path")`` of the spec's health-like operation."""
    doc = _load(spec)
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        return None
    found = []
    for path, item in doc["paths"].items():
        if not isinstance(path, str) or "{" in path or not isinstance(item, dict):
            continue
        last = path.rstrip("/").rsplit("/", 1)[-1].lower()
        if "get" in item and last in HEALTH_NAMES:
            found.append((HEALTH_NAMES.index(last), path.count("/"), path))
    if not found:
        return None
    path = min(found)[2]
    return base_path(doc) + path, f"GET {path}"
