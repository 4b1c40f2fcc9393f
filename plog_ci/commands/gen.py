"""``plog gen``: write a standalone k6 script (and optionally a k6-operator TestRun)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import click

from plog_ci.commands._params import POSITIVE_FLOAT, POSITIVE_INT
from plog_ci.errors import InputError


@click.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "--operations",
    default="all",
    show_default=True,
    help="'all', 'changed' (needs --base), or a comma-separated list like 'GET /pets,POST /pets'.",
)
@click.option(
    "--base",
    "base_spec",
    type=click.Path(path_type=Path),
    default=None,
    help="Older spec to diff against for --operations changed.",
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
    operations: str,
    base_spec: Path | None,
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
    from plog_ci.openapi.load import load_spec_file
    from plog_ci.openapi.select import select_operations

    loaded = load_spec_file(spec)
    load = LoadConfig()
    gates: tuple[Gate, ...] = ()
    data_root = None
    if config_path is not None:
        config_file = config_path / "plog.yml" if config_path.is_dir() else config_path
        config = load_config(config_file)
        # Gates and overrides name operations of SPEC (as load.operations do).
        config = bind_operations(config, loaded, config_file.read_bytes())
        load, gates = config.load, config.gates
        data_root = config_file.parent.resolve()
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
    if operations == "changed":
        if base_spec is None:
            raise click.BadParameter("'changed' needs --base OLD_SPEC", param_hint="--operations")
        diff = diff_specs(load_spec_file(base_spec), loaded)
    selector: str | tuple[str, ...] = (
        operations
        if operations in ("all", "changed")
        else tuple(o.strip() for o in operations.split(",") if o.strip())
    )
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
