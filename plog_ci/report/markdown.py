"""The markdown report: deterministic, rendered from a package template."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from plog_ci import __version__
from plog_ci.analysis.findings import Finding
from plog_ci.analysis.gates import GateOutcome
from plog_ci.results import OperationStats, SetupTally
from plog_ci.templating import render

VERDICT_LABELS = {"pass": "PASS", "fail": "FAIL", "no-verdict": "NO VERDICT", "error": "ERROR"}


@dataclass(frozen=True)
class ReportData:
    repo: str
    head_sha: str
    base_sha: str | None
    branch: str | None
    run_id: int
    profile: str
    duration_s: float
    rate: float | None
    status: str
    headline: str
    outcomes: tuple[GateOutcome, ...]
    stats: tuple[OperationStats, ...]
    total: OperationStats
    diff_markdown: str  # the spec changes as markdown (openapi.changelog); "" without a base
    selected: tuple[str, ...]
    selector: str
    script_hash: str
    startup_s: float
    baseline_source: str = "none"
    baseline_note: str = ""
    baseline_stats: dict[str, OperationStats] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    comparison_table: str = ""
    aborted: str | None = None  # why the test stopped early; duration_s is then what ran
    # (operation, exchange texts): failed exchanges (plog_ci.report.exchanges)
    exchange_sections: list[tuple[str, list[str]]] = field(default_factory=list)
    planned_s: float | None = None  # the duration asked for
    setup: tuple[SetupTally, ...] = ()  # what each producer made before the load
    readers: dict[str, str] = field(default_factory=dict)  # producer -> who reads its ids
    warnings: tuple[str, ...] = ()  # what the script could not send as the spec says
    warnings_left: int = 0  # warnings not shown
    run_url: str | None = None  # the run's dashboard page (plog_ci.dashboard_link)
    image_section: str = ""  # the pushed image and its scan (plog_ci.report.image_scan)
    ai_section: str = ""  # the AI analysis, once narrated (report.narration)


def render_markdown(data: ReportData) -> str:
    return render(
        "report/report.md.j2",
        version=__version__,
        verdict_label=VERDICT_LABELS.get(data.status, data.status.upper()),
        **data.__dict__,
    )


def write_report(text: str, directory: Path, head_sha: str, run_id: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"plog-{head_sha[:12]}-run{run_id}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # readers never see half a report
    return path
