"""Harbor in a podman run (``deploy.registry.kind: harbor``): the project is checked
before anything is pushed, and the pushed artifact's vulnerability scan is awaited
and judged after the push (``deploy.registry.scan``).

Decisions, so that the report and the status can say them plainly:

- Only the head's image is scanned and gated: the gate judges the commit under
  test. The base (side by side) is pushed to the same project, so the project
  check covers it, but it is not waited for.
- A scan that has not finished within ``scan.wait`` fails the gate ("scan not
  finished within 2m"), and so does a scan that ended without a report (Harbor's
  ``Error`` or ``Stopped``): a gate does not pass on what nobody saw. With
  ``fail_on: none`` both are reported and nothing fails.
- A failed gate does not stop the run: the service is still measured, and the
  scan's outcome joins the gates (``plog_ci.analysis.image_gate.scan_gated``), so
  the run ends ``fail`` with the scan's reason, as for any failing gate, and its
  report shows the counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from plog_ci.build.errors import RegistryAuthError, RegistryError
from plog_ci.build.harbor import (
    SEVERITIES,
    HarborClient,
    ScanSummary,
    artifact_page,
    scan_verdict,
    split_repository,
)
from plog_ci.build.registry import Access
from plog_ci.config.deploy import RegistryConfig


@dataclass(frozen=True)
class ScanOutcome:
    """The head image's scan as judged: ``outcome`` "pass", "fail" or "report"
    (``fail_on: none``: never fails); ``reason`` one line for the status and the
    report; ``status`` Harbor's scan_status ("NotScanned": no report); ``counts``
    by severity (lower-case); ``hits`` findings at ``fail_on`` or above (None: no
    finished scan); ``link`` the artifact's page in Harbor's UI (None: unknown);
    ``wait_s`` seconds it was waited for at most."""

    outcome: str
    reason: str
    fail_on: str
    wait_s: float
    status: str
    counts: Mapping[str, int] = field(default_factory=dict)
    total: int = 0
    fixable: int = 0
    scanner: str = ""
    hits: int | None = None
    link: str | None = None

    @property
    def finished(self) -> bool:
        return self.status.lower() == "success"


@dataclass(frozen=True)
class ImageFacts:
    """The head's pushed image, for the report: ``reference`` ``HOST/REPO@sha256:...``,
    ``digest`` the registry's manifest digest, ``kind`` the registry's (oci, harbor),
    ``scan`` its judged scan (None: none configured, ``note`` says why)."""

    reference: str
    digest: str
    kind: str
    scan: ScanOutcome | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """``{reference, digest, kind, note, scan: {outcome, reason, fail_on, wait_s,
        status, counts, total, fixable, scanner, hits, link} | null}``."""
        scan = self.scan
        return {
            "reference": self.reference,
            "digest": self.digest,
            "kind": self.kind,
            "note": self.note,
            "scan": None
            if scan is None
            else {
                "outcome": scan.outcome,
                "reason": scan.reason,
                "fail_on": scan.fail_on,
                "wait_s": scan.wait_s,
                "status": scan.status,
                "counts": dict(scan.counts),
                "total": scan.total,
                "fixable": scan.fixable,
                "scanner": scan.scanner,
                "hits": scan.hits,
                "link": scan.link,
            },
        }


def harbor_client(registry: RegistryConfig, access: Access) -> HarborClient:
    """A client of the Harbor that ``registry`` names, with the push's credentials and
    TLS (``access``: the password already taken from its variable and registered)."""
    scheme = "https" if registry.secure else "http"
    return HarborClient(
        f"{scheme}://{registry.host}",
        username=access.username,
        password=access.password,
        password_env=access.password_env,
        tls_verify=access.tls_verify,
        ca_file=access.ca_file,
    )


def check_project(client: HarborClient, registry: RegistryConfig) -> None:
    """Before the push: the repository's project exists and Harbor takes the
    credentials. Raises RegistryError (exit 2) naming the project, or
    RegistryAuthError naming the user and the password's variable, each with what to
    do; DependencyError (exit 4) when Harbor is unreachable."""
    project, _ = split_repository(registry.repository)
    who = client.username or "anonymous"
    source = f" (password from ${client.password_env})" if client.password_env else ""
    try:
        found = client.project_exists(project)
    except RegistryAuthError as exc:
        raise RegistryAuthError(
            f"{exc.message}; nothing was pushed",
            hint=f"fix the robot account {who}{source}: its password, its expiry, and a push "
            f"permission on project {project}",
        ) from None
    if not found:
        raise RegistryError(
            f"Harbor at {client.url} has no project {project!r} (deploy.registry.repository "
            f"{registry.repository}); nothing was pushed",
            hint=f"create the project {project} in Harbor and make {who} a member that may "
            "push, or correct deploy.registry.repository",
        )


def await_scan(
    client: HarborClient,
    registry: RegistryConfig,
    digest: str,
    *,
    poll_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ScanOutcome:
    """After the push: start the artifact's scan unless Harbor has one (scan on push),
    wait up to ``scan.wait`` and judge it against ``scan.fail_on``. Raises as
    ``HarborClient`` does (an artifact Harbor does not have is a RegistryError)."""
    scan = registry.scan
    assert scan is not None
    project, name = split_repository(registry.repository)
    summary = client.wait_for_scan(
        project, name, digest, scan.wait_s, poll_s=poll_s, sleep=sleep, clock=clock
    )
    return judge_scan(summary, client.url, registry.repository, digest, scan.fail_on, scan.wait_s)


def judge_scan(
    summary: ScanSummary, url: str, repository: str, digest: str, fail_on: str, wait_s: float
) -> ScanOutcome:
    """``summary`` (Harbor's, after the wait) as the gate's outcome (see the module
    doc for a scan that did not finish). Raises InputError for an unknown ``fail_on``."""
    level = fail_on.strip().lower()
    verdict = scan_verdict(summary, level)
    _, name = split_repository(repository)
    link = (
        artifact_page(url, summary.project_id, name, digest)
        if summary.project_id is not None
        else None
    )
    where = f"{repository}@{digest}" + (f" ({link})" if link else "")
    hits = None
    if verdict.outcome == "unknown":
        if summary.done:
            why = f"the scan ended with status {summary.status}, without a report"
        else:
            why = f"scan not finished within {span(wait_s)} (Harbor's status: {summary.status})"
        outcome = "report" if level == "none" else "fail"
        reason = f"{why}: {where}"
    else:
        if level != "none":
            hits = sum(summary.counts.get(s, 0) for s in SEVERITIES[SEVERITIES.index(level) :])
        outcome = "report" if level == "none" else verdict.outcome
        found = counts_text(summary.counts)
        if outcome == "fail":
            reason = f"the image scan found {found} ({hits} at {level} or above) in {where}"
        else:
            reason = f"the image scan found {found} in {repository}@{digest}"
    return ScanOutcome(
        outcome=outcome,
        reason=reason,
        fail_on=level,
        wait_s=wait_s,
        status=summary.status,
        counts=dict(summary.counts),
        total=summary.total,
        fixable=summary.fixable,
        scanner=summary.scanner,
        hits=hits,
        link=link,
    )


def counts_text(counts: Mapping[str, int]) -> str:
    """``{"critical": 2, "low": 1}`` -> "2 critical, 1 low" (worst first)."""
    found = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts.get(s))
    return found or "no vulnerabilities"


def span(seconds: float) -> str:
    """120 -> "2m", 90 -> "1m30s", 45 -> "45s", 1.5 -> "1.5s" (as plog.yml writes them)."""
    if seconds != int(seconds) or seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"
