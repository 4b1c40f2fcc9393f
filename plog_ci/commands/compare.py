"""``plog compare RUN_A [RUN_B]``: two stored runs, per operation, benchstat-style.

``plog compare RUN_A RUN_B`` compares two stored runs per operation in the
spirit of benchstat (old, new, delta, confidence interval, p-value, verdict);
``plog compare RUN`` compares the base and head blocks of one interleaved run,
paired. ``--format json`` for tools. Exit codes: see ``commands._results``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from plog_ci.commands._params import FiniteFloatRange
from plog_ci.commands._results import FORMAT_OPTION, HOME_OPTION, fail, open_existing_store
from plog_ci.errors import PlogError

if TYPE_CHECKING:
    from plog_ci.analysis.stored_runs import RunSamples


def _side(s: RunSamples) -> dict[str, Any]:
    return {
        "run_id": s.run.id,
        "commit": s.run.commit_sha,
        "branch": s.run.branch,
        "status": s.run.status,
        "samples": s.source,
    }


@click.command("compare")
@click.argument("run_a", type=int)
@click.argument("run_b", type=int, required=False)
@click.option(
    "--alpha",
    type=FiniteFloatRange(0, 0.2, min_open=True),
    default=0.01,
    show_default=True,
    help="Significance level after Holm's correction.",
)
@click.option(
    "--min-effect",
    type=FiniteFloatRange(0, 100),
    default=5.0,
    show_default=True,
    help="Smaller changes (percent) are never claimed.",
)
@FORMAT_OPTION
@HOME_OPTION
def compare_command(
    run_a: int, run_b: int | None, alpha: float, min_effect: float, fmt: str, home: Path | None
) -> None:
    """Compare RUN_B with RUN_A per operation, or one interleaved RUN's base with its head."""
    from plog_ci.analysis.compare_table import render_text, to_json_data
    from plog_ci.analysis.comparison import LATENCY_METRICS, StatsSettings
    from plog_ci.analysis.stored_runs import (
        compare_stored,
        interleaved_sides,
        run_level_samples,
        run_samples,
    )
    from plog_ci.store.live import load_document

    adaptive: dict[str, Any] | None = None
    try:
        store = open_existing_store(home)
        try:
            run_level = None
            if run_b is None:
                old, new = interleaved_sides(store, run_a)
                paired = True
                sequence = load_document(store, run_a, "sequence")
                if isinstance(sequence, dict) and sequence.get("final"):
                    adaptive = sequence
            else:
                old, new = run_samples(store, run_a), run_samples(store, run_b)
                paired = False
                # Two separate runs: latency is judged run against run (see stats).
                run_level = (
                    run_level_samples(store, [run_a], run_b, LATENCY_METRICS)
                    if old.source == new.source == "series"
                    else None
                )
        finally:
            store.close()
        settings = StatsSettings(
            alpha=alpha,
            min_effect_pct=min_effect,
            paired=paired,
            metrics=("p95", "error_rate", "rps"),
        )
        comparisons = compare_stored(old, new, settings, run_level)
    except PlogError as exc:
        fail(exc)
        return
    # An adaptive run's relative gates were judged by its confidence sequences: say
    # so first; these fixed tests are then for reference and name no remedy.
    line = str(adaptive.get("line", "")) if adaptive is not None else ""
    if fmt == "json":
        data = to_json_data(comparisons, settings)
        data["old"], data["new"] = _side(old), _side(new)
        if adaptive is not None:
            data["adaptive"] = {"line": line, "seconds": adaptive.get("seconds")}
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    what = "base blocks against head blocks, paired" if paired else "unpaired"
    click.echo(f"old: {old.describe()}\nnew: {new.describe()}\n({what})\n")
    secondary = (
        f"adaptive run: {line}\nFor reference: fixed-length tests on the same rounds; the "
        "run's relative gates were judged by the adaptive test's confidence sequences."
        if adaptive is not None
        else None
    )
    click.echo(render_text(comparisons, settings, secondary=secondary), nl=False)
