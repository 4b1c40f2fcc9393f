"""Paths written in plog.yml stay inside the repository (or the report root).

Every path in plog.yml (``service.workdir``, ``openapi.path``,
``load.overrides[op].data``, ``report.dir``) is checked twice: when the file is
read (``path_problem``: relative, no ``..``, no absolute or home paths, so
``plog validate`` and the pre-receive hook refuse what ``plog run`` would), and
again where it is used (``resolve_inside``: the real path, symlinks followed,
must stay under the root it is relative to).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from plog_ci.errors import ConfigError

HINT = "use a relative path inside the repository"
_DRIVE = re.compile(r"^[A-Za-z]:")


def path_problem(value: str, *, no_git: bool = False) -> str | None:
    """Why ``value`` is not a path inside the repository, or None when it is one."""
    if not value.strip():
        return "is empty"
    if "\x00" in value:
        return f"{value!r} contains a NUL byte"
    if value.startswith(("/", "\\")) or _DRIVE.match(value):
        return f"{value!r} is an absolute path; paths in plog.yml are relative to the repository"
    if value.startswith("~"):
        return f"{value!r} names a home directory; paths in plog.yml are relative to the repository"
    parts = re.split(r"[\\/]", value)
    if ".." in parts:
        return f"{value!r} leaves the repository"
    if no_git and ".git" in parts:
        return f"{value!r} is inside .git"
    return None


def resolve_inside(root: Path, value: str, key: str, *, no_git: bool = False) -> Path:
    """The real path of ``value`` under ``root``; ConfigError when it is not inside.

    Symlinks are followed, so a committed link (``plog-reports -> /tmp``) is
    refused here even though the text of plog.yml is fine.
    """
    problem = path_problem(value, no_git=no_git)
    if problem:
        raise ConfigError(f"plog.yml: {key}: {problem}", hint=HINT)
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(root / value))
    if real != real_root and real_root not in real.parents:
        raise ConfigError(
            f"plog.yml: {key}: {value!r} resolves to {real}, outside {real_root} (a symlink?)",
            hint=f"{HINT}; a symlink there may not point out of it",
        )
    return real
