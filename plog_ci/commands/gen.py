"""``plog gen``: write a standalone k6 script (and optionally a k6-operator TestRun).

Which operations: ``--operations``, else (with ``--config``) plog.yml's
``load.operations``, else all; ``changed`` diffs against ``--base`` and means
all when there is none. Where a spec's ``$ref`` may reach: ``--root``, else the
git repository that holds the spec (as ``plog diff`` finds it), else the spec's
own folder; reads never leave that folder (``plog_ci.openapi.sources``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from plog_ci.commands._params import POSITIVE_FLOAT, POSITIVE_INT
from plog_ci.errors import InputError

if TYPE_CHECKING:
    from plog_ci.openapi.model import Spec

# What the spec loader says when a read would leave the root (plog_ci.openapi.sources).
_LEFT_ROOT = ("leaves the repository root", "outside the repository root")


def load_confined(file: Path, root: Path | None, allow_hosts: tuple[str, ...] = ()) -> Spec:
    """The spec at ``file``, its ``$ref`` confined to ``root`` (``--root``), else to the git
    repository holding ``file``, else to ``file``'s folder.

    Raises click.BadParameter when ``file`` is not inside ``root``, and InputError
    (exit 2) when the spec cannot be loaded; when no repository holds it and a
    ``$ref`` leaves its folder, the hint names the folder and ``--root``.
    """
    from plog_ci.gitrepo import GitRepo
    from plog_ci.openapi.errors import SpecError
    from plog_ci.openapi.load import load_spec_file

    folder = Path(os.path.abspath(file)).parent
    implicit = False
    if root is None:
        try:
            root = Path(GitRepo(folder).path)
        except InputError:
            root, implicit = file.parent, True  # as written: messages show the path given
    else:
        root = Path(os.path.abspath(root))
        try:
            Path(os.path.abspath(file)).relative_to(root)
        except ValueError:
            raise click.BadParameter(
                f"{file} is not inside --root {root}", param_hint="--root"
            ) from None
    try:
        return load_spec_file(file, root=root, allow_hosts=allow_hosts)
    except SpecError as exc:
        if implicit and any(text in exc.message for text in _LEFT_ROOT):
            raise InputError(
                exc.message,
                hint=f"no git repository holds the spec, so $refs may only name files under "
                f"its folder {folder}; pass --root DIR, a folder that holds the spec and "
                "every file it refers to, to widen that",
            ) from None
        raise


def choose_operations(
    option: str | None, configured: str | tuple[str, ...] | None, *, has_base: bool
) -> str | tuple[str, ...]:
    """What to select: ``--operations`` as written (``option``: "all", "changed" or
    ``"GET /a,POST /b"``), else plog.yml's ``load.operations`` (``configured``; its
    "changed" is "all" without a base to diff against), else "all"."""
    if option is not None:
        if option in ("all", "changed"):
            return option
        return tuple(o.strip() for o in option.split(",") if o.strip())
    if configured is None or (configured == "changed" and not has_base):
        return "all"
    return configured


@click.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "--operations",
    default=None,
    help="'all', 'changed' (needs --base), or a comma-separated list like 'GET /pets,POST /pets' "
    "(default: plog.yml's load.operations with --config, else all; 'changed' there means all "
    "unless --base is given, as gen has no base commit to diff against).",
)
@click.option(
    "--base",
    "base_spec",
    type=click.Path(path_type=Path),
    default=None,
    help="Older spec to diff against for --operations changed.",
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Folder that SPEC, --base and every file their $refs name must stay inside "
    "(symlinks leaving it are refused too). Default: the git repository holding the spec, "
    "as for plog diff, else the spec's own folder.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="plog.yml to take load settings, auth, overrides and gates from.",
)
@click.option(
    "--profile",
    type=click.Choice(["smoke", "load", "stress", "spike", "soak", "breakpoint"]),
    default=None,
    help="Load profile (default: plog.yml's, else load).",
)
@click.option(
    "--rate", type=POSITIVE_FLOAT, default=None, help="Requests per second per operation (> 0)."
)
@click.option(
    "--vus", type=POSITIVE_INT, default=None, help="VUs (closed model) or pre-allocated VUs (>= 1)."
)
@click.option("--duration", default=None, help="Test duration, e.g. 30s, 2m.")
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="A host BASE_URL may name besides the spec's first server and loopback (repeatable).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the script here (default: stdout).",
)
@click.option(
    "--k6-operator",
    "testrun",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write a k6-operator ConfigMap + TestRun (JSON list) to this file.",
)
@click.option(
    "--parallelism", type=POSITIVE_INT, default=1, show_default=True, help="TestRun pods."
)
def gen(
    spec: Path,
    operations: str | None,
    base_spec: Path | None,
    root: Path | None,
    config_path: Path | None,
    profile: str | None,
    rate: float | None,
    vus: int | None,
    duration: str | None,
    allow_hosts: tuple[str, ...],
    output: Path | None,
    testrun: Path | None,
    parallelism: int,
) -> None:
    """Write a standalone k6 script for SPEC.

    The script targets $BASE_URL (default: the spec's first server).
    """
    from plog_ci.config import load_config
    from plog_ci.config.durations import parse_duration
    from plog_ci.config.model import LoadConfig
    from plog_ci.config.operations import bind_operations
    from plog_ci.gate_grammar import Gate
    from plog_ci.loadgen.script import generate
    from plog_ci.openapi.diff import diff_specs
    from plog_ci.openapi.select import select_operations

    loaded = load_confined(spec, root)
    load = LoadConfig()
    gates: tuple[Gate, ...] = ()
    data_root = None
    configured: str | tuple[str, ...] | None = None
    if config_path is not None:
        config_file = config_path / "plog.yml" if config_path.is_dir() else config_path
        config = load_config(config_file)
        # Gates and overrides name operations of SPEC (as load.operations do).
        config = bind_operations(config, loaded, config_file.read_bytes())
        load, gates = config.load, config.gates
        data_root = config_file.parent.resolve()
        configured = config.load.operations  # bound to the spec's keys above
    selector = choose_operations(operations, configured, has_base=base_spec is not None)
    changes: dict[str, object] = {}
    if profile:
        changes["profile"] = profile
    if rate is not None:
        changes["rate"] = rate
    if vus is not None:
        changes["vus"] = vus
    if duration is not None:
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--duration") from None
        if seconds <= 0:
            raise click.BadParameter(f"{duration!r} is no time at all", param_hint="--duration")
        changes["duration_s"] = seconds
    load = dataclasses.replace(load, **changes)  # type: ignore[arg-type]
    diff = None
    if selector == "changed":
        if base_spec is None:
            raise click.BadParameter("'changed' needs --base OLD_SPEC", param_hint="--operations")
        diff = diff_specs(load_confined(base_spec, root), loaded)
    selection = select_operations(diff, loaded, selector)
    if selection.unknown:
        raise click.BadParameter(
            "not in the spec: " + ", ".join(selection.unknown), param_hint="--operations"
        )
    if not selection.operations:
        raise InputError("no operation selected: nothing to generate")
    script = generate(
        loaded,
        selection.operations,
        load,
        gates=gates,
        data_root=data_root,
        allow_hosts=allow_hosts,
    )
    for warning in script.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output is None:
        click.echo(script.text, nl=False)
    else:
        output.write_text(script.text, encoding="utf-8")
        click.echo(f"wrote {output} ({len(script.operations)} operations)", err=True)
    if testrun is not None:
        from plog_ci.runner.operator import testrun_manifests

        stem = re.sub(r"[^a-z0-9-]+", "-", spec.stem.lower()).strip("-")[:40] or "test"
        manifests = testrun_manifests(
            script,
            name=f"plog-{stem}".rstrip("-"),
            parallelism=parallelism,
            base_url=script.default_base_url,
        )
        testrun.write_text(json.dumps(manifests, indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote {testrun} (ConfigMap + TestRun, parallelism {parallelism})", err=True)
