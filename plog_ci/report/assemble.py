"""Assemble a run's report from what the stages produced: the headline, the markdown,
and where the file goes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from plog_ci.ab.baseline import Baseline
from plog_ci.analysis.compare_table import render_text
from plog_ci.analysis.comparison import Comparison
from plog_ci.analysis.findings import Finding
from plog_ci.analysis.gates import Verdict
from plog_ci.analysis.sequential_run import SequentialRun
from plog_ci.build.harbor_scan import ImageFacts
from plog_ci.config import Config
from plog_ci.config.paths import resolve_inside
from plog_ci.gitrepo import GitRepo
from plog_ci.openapi.changelog import render as render_changes
from plog_ci.plan import Plan
from plog_ci.report.exchanges import exchange_sections
from plog_ci.report.image_scan import image_section
from plog_ci.report.markdown import ReportData, render_markdown, write_report
from plog_ci.results import LoadResult, OperationStats
from plog_ci.templating import md_escape


@dataclass(frozen=True)
class Report:
    headline: str  # the verdict's reason and the run's numbers, one line
    markdown: str
    path: Path
    # What the markdown was rendered from: a later section is added by rendering it again.
    data: ReportData | None = field(default=None, compare=False, repr=False)


def with_ai_section(report: Report, section: str) -> Report:
    """The report rendered again with ``section`` (markdown, already escaped) under
    the findings, and re-written where it was (atomically)."""
    if report.data is None:
        raise ValueError("a report without its data cannot be rendered again")
    data = replace(report.data, ai_section=section)
    markdown = render_markdown(data)
    path = write_report(markdown, report.path.parent, data.head_sha, data.run_id)
    return Report(report.headline, markdown, path, data)


def headline(verdict: Verdict, total: OperationStats) -> str:
    numbers = (
        f"{total.count} requests, p95 {total.p95:.1f} ms, errors {total.error_rate * 100:.2f}%"
    )
    return f"{verdict.reason}. {numbers}" if verdict.reason else numbers


def report_root(git: GitRepo, home: Path) -> Path:
    """What ``report.dir`` is relative to: the work tree, or for a bare repository
    ``$PLOG_HOME/reports/REPO``."""
    if git.repo.workdir:
        return Path(git.repo.workdir)
    return home / "reports" / git.path.name


def report_dir(config: Config, git: GitRepo, home: Path) -> Path:
    """``report.dir`` under its root, resolved at the moment of use: a path that
    leaves the root (``..``, absolute, or a symlink pointing out, which the text
    of plog.yml cannot show) is a ConfigError, and nothing is written."""
    return resolve_inside(report_root(git, home), config.report.dir, "report.dir", no_git=True)


WARNINGS_SHOWN = 50  # the rest are counted: a spec of thousands of operations


@dataclass(frozen=True)
class RunFacts:
    """The run around the measurement, as the report names it."""

    run_id: int
    run_url: str | None  # the run's dashboard page, when a dashboard URL is configured
    branch: str | None
    profile: str
    startup_s: float
    script_operations: tuple[str, ...]
    feeds: tuple[tuple[str, str, str], ...] = ()  # (producer, consumer, path parameter)
    # What the script could not send as the spec says (the terminal's warnings)
    warnings: tuple[str, ...] = ()


def readers(feeds: tuple[tuple[str, str, str], ...]) -> dict[str, str]:
    """Producer -> "GET /x/{id} (id), ...": who reads the ids each producer made."""
    out: dict[str, list[str]] = {}
    for producer, consumer, param in dict.fromkeys(feeds):
        out.setdefault(producer, []).append(f"{consumer} ({param})")
    return {producer: ", ".join(names) for producer, names in out.items()}


def write_run_report(
    plan: Plan,
    facts: RunFacts,
    result: LoadResult,
    baseline: Baseline,
    verdict: Verdict,
    findings: Sequence[Finding],
    comparisons: Sequence[Comparison] | None,
    home: Path,
    image: ImageFacts | None = None,
    sequential: SequentialRun | None = None,
) -> Report:
    """Render the markdown report and write it where ``report.dir`` says (atomically);
    ``image``: the head's pushed image and its scan, when it was pushed;
    ``sequential``: an adaptive run's sequences (its fixed tests are then shown for
    reference)."""
    config = plan.config
    line = headline(verdict, result.total)
    operations = config.load.operations
    data = ReportData(
        repo=plan.git.path.name,
        head_sha=plan.head_sha,
        base_sha=plan.base_sha,
        branch=facts.branch,
        run_id=facts.run_id,
        run_url=facts.run_url,
        profile=facts.profile,
        duration_s=result.duration_s,
        aborted=result.aborted,
        exchange_sections=exchange_sections(result.exchanges),
        planned_s=config.load.duration_s,
        setup=result.setup,
        warnings=facts.warnings[:WARNINGS_SHOWN],
        warnings_left=max(0, len(facts.warnings) - WARNINGS_SHOWN),
        readers=readers(facts.feeds),
        rate=config.load.rate,
        status=verdict.status,
        headline=line,
        outcomes=verdict.outcomes,
        # Most failing first, then slowest: what needs a look leads the table.
        stats=tuple(
            sorted(result.operations.values(), key=lambda s: (-s.error_rate, -s.p95, s.operation))
        ),
        total=result.total,
        diff_markdown=_changes(plan),
        selected=facts.script_operations,
        selector=operations if isinstance(operations, str) else ", ".join(operations),
        script_hash=result.script_hash,
        startup_s=facts.startup_s,
        baseline_source=baseline.source,
        # The base's spec could not be loaded: say so, not which stored runs were tried.
        baseline_note=(
            plan.base_warning if plan.base_warning and baseline.source == "none" else None
        )
        or baseline.note,
        baseline_stats=baseline.stats,
        findings=tuple(findings),
        comparison_table=(
            render_text(comparisons, secondary=secondary_note(sequential)) if comparisons else ""
        ),
        image_section=image_section(image),
    )
    markdown = render_markdown(data)
    path = write_report(markdown, report_dir(config, plan.git, home), plan.head_sha, facts.run_id)
    return Report(line, markdown, path, data)


def secondary_note(sequential: SequentialRun | None) -> str | None:
    """The line that leads an adaptive run's fixed tests, or None for a fixed run."""
    if sequential is None or not sequential.verdict.decisions:
        return None
    metrics = ", ".join(sorted({d.key[1] for d in sequential.verdict.decisions}))
    return (
        f"For reference: fixed-length tests on the same {sequential.looks[-1].rounds} "
        f"rounds. The relative gates on {metrics} are judged by the adaptive test's "
        f"confidence sequences ({sequential.line()}), not by these tests."
    )


def _changes(plan: Plan) -> str:
    """The report's API changes part: the spec diff, why there is none when the base's
    spec could not be loaded, or empty (no base: the template says so)."""
    if plan.diff is not None:
        return render_changes(plan.diff)
    if plan.base_warning is not None:
        return f"## API changes\n\nNo diff: {md_escape(plan.base_warning)}."
    return ""
