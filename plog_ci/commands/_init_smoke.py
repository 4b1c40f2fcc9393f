"""The smoke run ``plog init --run`` offers: the working tree as it is (tracked and
untracked files git does not ignore; every file but ``SKIP_DIRS`` outside a git
repository), with the new plog.yml cut to a smoke test (``init_writer.smoke_variant``),
committed once in a temporary repository and run through the real pipeline, as
``plog run`` does. Nothing is committed in the user's repository; the report is
copied to its report folder (``plog-reports/`` by default)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from plog_ci import proc
from plog_ci.commands._output import err_console
from plog_ci.config.init_writer import dump, smoke_variant
from plog_ci.config.project_scan import SKIP_DIRS
from plog_ci.pipeline import RunOutcome, RunRequest, run

IDENTITY = {
    "GIT_AUTHOR_NAME": "plog init",
    "GIT_AUTHOR_EMAIL": "plog-init@localhost",
    "GIT_COMMITTER_NAME": "plog init",
    "GIT_COMMITTER_EMAIL": "plog-init@localhost",
}


def working_files(root: Path) -> list[Path]:
    """The files of the working tree, relative to ``root`` (plog.yml left out)."""
    if (root / ".git").exists():
        listed = proc.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
        ).stdout
        names = [Path(n) for n in listed.split("\0") if n]
    else:
        names = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            names += [(Path(folder) / f).relative_to(root) for f in files]
    return [n for n in names if n != Path("plog.yml")]


def _copy(root: Path, dest: Path) -> None:
    real_root = root.resolve()
    for name in working_files(root):
        source = root / name
        if not (source.is_file() or source.is_symlink()):
            continue  # listed but deleted
        if source.is_symlink() and not source.resolve().is_relative_to(real_root):
            continue  # a link out of the repository stays out
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def smoke_run(root: Path, doc: CommentedMap, home: Path | None) -> RunOutcome:
    """Run the smoke test (module doc); the outcome, as ``plog run`` gives it."""
    console = err_console()
    console.print("smoke run: the working tree with the new plog.yml, in a temporary copy")
    with tempfile.TemporaryDirectory(prefix="plog-init-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        _copy(root, repo)
        (repo / "plog.yml").write_text(dump(smoke_variant(doc)), encoding="utf-8")
        env = {**proc.clean_git_env(), **IDENTITY}
        for argv in (
            ["git", "init", "--quiet"],
            ["git", "add", "--all"],
            ["git", "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "plog init"],
        ):
            proc.run(argv, cwd=repo, env=env)
        outcome = run(RunRequest(repo=repo, head="HEAD", home=home), console=console)
        if outcome.report_path is not None and outcome.report_path.is_file():
            kept = root / "plog-reports" / outcome.report_path.name
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(outcome.report_path, kept)
            outcome = replace(outcome, report_path=kept)
    return outcome
