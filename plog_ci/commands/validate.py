"""``plog validate [PATH]``: check a plog.yml and the operations it names."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from plog_ci.errors import ConfigError, ExitCode, PlogError


def _report(exc: ConfigError) -> NoReturn:
    for line in exc.errors:
        click.echo(line, err=True)
    if exc.hint and len(exc.errors) == 1:
        click.echo(f"  hint: {exc.hint}", err=True)
    sys.exit(ExitCode.INVALID_INPUT)


@click.command()
@click.argument("path", required=False, default="plog.yml", type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    """Check plog.yml (default: ./plog.yml) and the spec it names. Exit 0 when valid,
    2 with every problem.

    The spec (plog.yml's openapi, from plog.yml's folder: the repository root) must
    load, and every operation plog.yml names (load.operations, gates, load.overrides)
    must be one of its operations; parameter names may differ (GET /jobs/{id} is
    GET /jobs/{jobId}).
    """
    from plog_ci.config import load_config
    from plog_ci.config.operations import bind_operations, spec_unloadable
    from plog_ci.openapi.load import load_spec_file

    file = path / "plog.yml" if path.is_dir() else path
    try:
        config = load_config(file)
    except ConfigError as exc:
        _report(exc)
    text = file.read_bytes()
    root = file.parent
    try:
        spec = load_spec_file(root / config.openapi.path, root, config.openapi.allow_hosts)
    except PlogError as exc:
        _report(spec_unloadable(config, text, exc.message, exc.hint))
    try:
        bind_operations(config, spec, text)
    except ConfigError as exc:
        _report(exc)
    helm = config.deploy.helm if config.deploy.target == "helm" else None
    if helm is not None:
        # What a deploy reads from the tree, checked here rather than after the build.
        from plog_ci.deploy.helm_values import chart_path, load_values_file

        try:
            chart_path(helm, root)
            for index, name in enumerate(helm.values_files):
                load_values_file(root, name, index)
        except ConfigError as exc:
            _report(exc)
    from plog_ci.analysis.sequential_run import nothing_followed

    note = nothing_followed(config.compare.length, config.gates)
    if note is not None:  # valid, but not what adaptive was asked for
        from plog_ci import yamldoc

        at = yamldoc.position(yamldoc.load(text, str(file)), ["compare", "length"]) or (1, 1)
        click.echo(f"{file}:{at[0]}:{at[1]}: compare.length: warning: {note}", err=True)
    click.echo(f"{path}: valid")
