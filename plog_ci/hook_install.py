"""Install and uninstall PLog's hook stubs in a repository (``plog hooks install``).

``install_hooks`` writes the tiny stubs from ``hooks/`` into the repository's
hooks directory (pre-commit style: a tag line marks them as ours, so a
reinstall rewrites them; a foreign hook is kept as ``<name>.legacy`` and run
first, with the same input: ``plog_ci.githooks``). ``uninstall_hooks`` removes
ours and puts a kept hook back.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from plog_ci import proc
from plog_ci.errors import InputError
from plog_ci.forge.notes import NOTES_REF, REPORTS_REF
from plog_ci.home import state_dir

TAG = "plog-ci-managed-hook"
HOOK_NAMES = ("pre-receive", "post-receive")


def check_branch_name(name: str) -> str | None:
    """Why ``name`` is not a branch name by git's own rules, or None when it is one."""
    if name.startswith("refs/"):
        return (
            f"{name!r} is a ref name; give the branch name "
            f"(--protect {name.split('/', 2)[-1] if name.startswith('refs/heads/') else 'main'})"
        )
    try:
        result = proc.run(("git", "check-ref-format", "--branch", name), check=False, timeout=10)
    except ValueError:  # a NUL byte cannot even reach git
        return f"{name!r} is not a valid branch name"
    # The output must be the name itself: "@{-1}" would be expanded, not checked.
    if result.returncode != 0 or result.stdout.rstrip("\n") != name:
        return f"{name!r} is not a valid branch name (git check-ref-format --branch)"
    return None


def hooks_dir(repo: str | Path) -> Path:
    import pygit2

    try:
        found = pygit2.discover_repository(str(repo))
    except (pygit2.GitError, OSError):
        found = None
    if found is None:
        raise InputError(
            f"{repo}: not a git repository",
            hint="give the path of the bare repository on the git server",
        )
    r = pygit2.Repository(found)
    try:
        custom = r.config["core.hooksPath"]
    except KeyError:
        custom = None
    if custom:
        base = Path(r.path if r.is_bare else (r.workdir or r.path))
        return (base / os.path.expanduser(custom)).resolve()
    return Path(r.path) / "hooks"


def _is_ours(path: Path) -> bool:
    try:
        return TAG in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _stub(hook: str, args: Sequence[str], python: str, strict: bool) -> str:
    template = (resources.files("plog_ci.hooks") / hook).read_text(encoding="utf-8")
    return (
        template.replace("@PYTHON@", shlex.quote(python))
        .replace("@HOOK@", hook)
        .replace("@MISSING_RC@", "1" if strict and hook == "pre-receive" else "0")
        .replace("@OWN_REFS@", "|".join(f"{r}|{r}/*" for r in (NOTES_REF, REPORTS_REF)))
        .replace("@ARGS@", " ".join(shlex.quote(a) for a in args))
    )


def install_hooks(
    repo: str | Path,
    *,
    protect: Sequence[str] = (),
    strict: bool = False,
    home: Path | None = None,
    url: str | None = None,
    python: str | None = None,
) -> list[Path]:
    """Write the PLog stubs into ``repo``'s hooks directory. Idempotent."""
    target = hooks_dir(repo)
    target.mkdir(parents=True, exist_ok=True)
    state = Path(home) if home is not None else state_dir(create=False)
    # --opt=value: a branch named "-b" must stay a value.
    common = [f"--home={state.resolve()}"]
    if url:
        common.append(f"--url={url}")
    pre_args = list(common)
    for branch in protect:
        pre_args.append(f"--protect={branch}")
    if strict:
        pre_args.append("--strict")
    written = []
    for hook in HOOK_NAMES:
        path = target / hook
        legacy = target / f"{hook}.legacy"
        if path.exists() and not _is_ours(path):
            if legacy.exists():
                raise InputError(
                    f"{path} and {legacy} both exist",
                    hint=f"merge them into one, or remove {legacy}, and rerun",
                )
            path.rename(legacy)
        text = _stub(
            hook, pre_args if hook == "pre-receive" else common, python or sys.executable, strict
        )
        tmp = path.with_name(f".{hook}.plog-tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o755)
        tmp.replace(path)
        written.append(path)
    return written


def uninstall_hooks(repo: str | Path) -> list[Path]:
    """Remove the PLog stubs and put chained hooks back."""
    target = hooks_dir(repo)
    removed = []
    for hook in HOOK_NAMES:
        path = target / hook
        legacy = target / f"{hook}.legacy"
        if path.exists() and _is_ours(path):
            path.unlink()
            removed.append(path)
            if legacy.exists():
                legacy.rename(path)
    return removed
