"""What a run tests: the commits, the plog.yml and spec at each, the spec diff, and the
operations picked for load (the pipeline's first stage).

Everything is read from git objects, never from a checkout, so a bare repository
on a server works the same as a work tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from plog_ci.config import Config, parse_config
from plog_ci.config.operations import bind_operations
from plog_ci.errors import InputError
from plog_ci.gitrepo import GitRepo
from plog_ci.openapi.diff import SpecDiff, diff_specs
from plog_ci.openapi.load import load_spec_from_git
from plog_ci.openapi.model import Spec
from plog_ci.openapi.select import Selection, select_operations


@dataclass(frozen=True)
class Plan:
    git: GitRepo
    config: Config  # plog.yml at the head
    head_sha: str
    base_sha: str | None  # the base asked for, else the head's first parent
    head_spec: Spec
    base_spec: Spec | None  # None: no base, or the spec did not exist there
    diff: SpecDiff | None
    selection: Selection
    # Why the base's spec could not be loaded ("file:line:col: reason"); None when it was
    # loaded or there is none. The head is then tested alone, as with no base commit.
    base_error: str | None = None

    @property
    def base_warning(self) -> str | None:
        """The line that says the base's spec could not be loaded and what the run does."""
        if self.base_error is None or self.base_sha is None:
            return None
        return (
            f"base {self.base_sha[:12]}'s spec cannot be loaded ({self.base_error}): "
            "testing the head alone, without an API diff or a comparison"
        )

    @property
    def spec_bytes(self) -> bytes:
        """The head's spec file as committed (its hash goes with the run)."""
        return self.git.read(self.head_sha, self.config.openapi.path)


def config_at(git: GitRepo, sha: str) -> Config:
    """plog.yml at ``sha``; InputError when there is none, ConfigError when invalid."""
    raw = git.entry(sha, "plog.yml")
    if raw is None:
        raise InputError(
            f"plog.yml: not found at {sha[:12]}",
            hint="commit a plog.yml at the repository root (see the README)",
        )
    return parse_config(raw.data, "plog.yml")


def make_plan(git: GitRepo, head_sha: str, base_sha: str | None) -> Plan:
    """Read plog.yml and the spec at ``head_sha`` (and the spec at ``base_sha``), diff them
    and select the operations to load. ConfigError (at plog.yml:LINE:COL) when plog.yml
    names an operation the head's spec lacks: before anything is deployed or loaded.
    The head's spec that cannot be loaded is an InputError (SpecError); the base's is
    not: the plan then has no base spec and no diff (every operation is new, as with no
    base commit) and ``base_error`` says why."""
    config = config_at(git, head_sha)
    spec_path = config.openapi.path
    head_spec = load_spec_from_git(git, head_sha, spec_path, config.openapi.allow_hosts)
    raw = git.entry(head_sha, "plog.yml")
    config = bind_operations(config, head_spec, raw.data if raw is not None else b"")
    base_spec, base_error = None, None
    if base_sha is not None and git.exists(base_sha, spec_path):
        try:
            base_spec = load_spec_from_git(git, base_sha, spec_path, config.openapi.allow_hosts)
        except InputError as exc:  # a pull request that fixes a broken spec is testable
            base_error = _reason(exc, base_sha)
    diff = diff_specs(base_spec, head_spec) if base_spec else None
    selection = select_operations(diff, head_spec, config.load.operations)
    if selection.unknown:
        raise InputError(
            f"plog.yml: load.operations: not in {spec_path}: " + ", ".join(selection.unknown),
            hint="write operations as 'METHOD /path' exactly as in the spec",
        )
    return Plan(git, config, head_sha, base_sha, head_spec, base_spec, diff, selection, base_error)


def _reason(exc: InputError, sha: str) -> str:
    """The error's first line as "file:line:col: reason", without the leading "SHA:"
    that names the commit (the warning names it)."""
    line = exc.message.splitlines()[0] if exc.message else type(exc).__name__
    for prefix in (f"{sha}:", f"{sha[:12]}:"):
        if line.startswith(prefix):
            return line[len(prefix) :]
    return line
