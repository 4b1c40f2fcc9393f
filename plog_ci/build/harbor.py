"""Harbor's v2.0 API, the little PLog needs: does the project exist, and what did the
vulnerability scan of the pushed artifact find.

Operations used (tests/data/harbor/swagger.yaml, Harbor's published description):
``HEAD /projects?project_name=`` (headProject), ``GET /projects/{p}/repositories/{r}/
artifacts/{digest}?with_scan_overview=true`` (getArtifact) and ``POST .../scan``
(scanArtifact). A repository name with ``/`` is URL-encoded twice, as the description
says (``a/b`` -> ``a%252Fb``). Basic auth; the password is registered with
``plog_ci.redaction`` and never logged.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from plog_ci import proc
from plog_ci.build.errors import RegistryAuthError, RegistryError
from plog_ci.errors import DependencyError, InputError

API = "/api/v2.0"
# The report types Harbor's scanners produce; the first one found is used.
ACCEPT_VULNERABILITIES = (
    "application/vnd.security.vulnerability.report; version=1.1, "
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
)
SEVERITIES = ("negligible", "low", "medium", "high", "critical")  # ascending
FAIL_ON = ("none", *SEVERITIES)  # "none": report only, never fail
DONE = ("success", "error", "stopped")  # scan_status values that end a scan


@dataclass(frozen=True)
class ScanSummary:
    """One artifact's scan: ``status`` Harbor's ``scan_status`` ("Success", "Running",
    "Error", ...; "NotScanned" when there is no report), ``counts`` vulnerabilities by
    severity (lower-case keys), ``severity`` the overall one, ``scanner`` its name,
    ``project_id`` the artifact's project (for its page in Harbor's UI; None: unknown)."""

    status: str
    counts: Mapping[str, int] = field(default_factory=dict)
    total: int = 0
    fixable: int = 0
    severity: str = ""
    scanner: str = ""
    project_id: int | None = None

    @property
    def done(self) -> bool:
        return self.status.lower() in DONE


@dataclass(frozen=True)
class ScanVerdict:
    """``outcome``: "pass", "fail", or "unknown" (no finished scan: the caller decides);
    ``reason``: one sentence for the report."""

    outcome: str
    reason: str


def artifact_page(url: str, project_id: int, repository: str, digest: str) -> str:
    """The artifact's page in Harbor's web UI (its vulnerabilities tab is there):
    ``URL/harbor/projects/ID/repositories/NAME/artifacts-tab/artifacts/DIGEST``, with
    ``NAME`` the repository inside the project (``/`` escaped, one path segment)."""
    base = url.rstrip("/")
    if "://" not in base:
        base = f"https://{base}"
    name = quote(repository, safe="")
    page = f"{base}/harbor/projects/{project_id}/repositories/{name}"
    return f"{page}/artifacts-tab/artifacts/{digest}"


def split_repository(repository: str) -> tuple[str, str]:
    """``team/app/api`` -> (``team``, ``app/api``): Harbor's project, then its repository."""
    project, _, name = repository.strip("/").partition("/")
    if not project or not name:
        raise InputError(
            f"registry repository {repository!r}: Harbor needs PROJECT/NAME (team/petstore)"
        )
    return project, name


class HarborClient:
    """A Harbor at ``url`` (``https://harbor.example.com``). ``transport`` replaces the
    network (tests). A context manager; ``close()`` otherwise."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None,
        password: str | None,
        password_env: str | None = None,
        tls_verify: bool = True,
        ca_file: Path | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base = url.rstrip("/")
        if "://" not in base:
            base = f"https://{base}"
        self.url = base
        self.username = username
        self.password_env = password_env
        proc.register_basic_auth(username, password)
        verify: bool | ssl.SSLContext = tls_verify
        if tls_verify and ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        auth = httpx.BasicAuth(username, password) if username and password else None
        self._client = httpx.Client(
            base_url=base + API,
            auth=auth,
            verify=verify,
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> HarborClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200,),
        absent: tuple[int, ...] = (),
    ) -> httpx.Response | None:
        """The response when its status is in ``ok``; None when in ``absent``."""
        try:
            response = self._client.request(method, path, params=params, headers=headers, json=json)
        except httpx.TransportError as exc:
            detail = proc.redact(str(exc) or type(exc).__name__)
            raise DependencyError(
                f"Harbor at {self.url} is unreachable ({what}): {detail}"
            ) from exc
        status = response.status_code
        if status in ok:
            return response
        if status in absent:
            return None
        who = f"{self.username}" + (
            f" (password from ${self.password_env})" if self.password_env else ""
        )
        if status == 401:
            raise RegistryAuthError(f"Harbor at {self.url} refused the credentials of {who}")
        if status == 403:
            raise RegistryAuthError(f"Harbor at {self.url}: {who} may not {what}")
        if status >= 500:
            raise DependencyError(f"Harbor at {self.url} failed to {what}: HTTP {status}")
        raise RegistryError(
            f"Harbor at {self.url} could not {what}: HTTP {status}{_errors(response)}"
        )

    def project_exists(self, name: str) -> bool:
        """Whether project ``name`` exists. Raises as every call: RegistryAuthError for
        refused credentials, DependencyError (exit 4) when Harbor is unreachable or fails."""
        found = self._request(
            "HEAD", "/projects", f"look up project {name}",
            params={"project_name": name}, absent=(404,),
        )  # fmt: skip
        return found is not None

    def _artifact_path(self, project: str, repository: str, digest: str) -> str:
        # Twice: Harbor decodes the path, then the repository name ("a/b" -> "a%252Fb").
        name = quote(quote(repository, safe=""), safe="")
        return f"/projects/{quote(project, safe='')}/repositories/{name}/artifacts/{digest}"

    def artifact_scan(self, project: str, repository: str, digest: str) -> ScanSummary:
        """The artifact's scan overview (status "NotScanned" when it has none). Raises
        RegistryError when the artifact does not exist."""
        what = f"read artifact {project}/{repository}@{digest}"
        response = self._request(
            "GET", self._artifact_path(project, repository, digest), what,
            params={"with_scan_overview": "true"},
            headers={"X-Accept-Vulnerabilities": ACCEPT_VULNERABILITIES}, absent=(404,),
        )  # fmt: skip
        if response is None:
            raise RegistryError(
                f"Harbor at {self.url} has no artifact {project}/{repository}@{digest}"
            )
        return summary_of(response.json())

    def start_scan(self, project: str, repository: str, digest: str) -> None:
        """Ask Harbor to scan the artifact (202); for projects without scan on push."""
        self._request(
            "POST", self._artifact_path(project, repository, digest) + "/scan",
            f"scan {project}/{repository}@{digest}", json={"scan_type": "vulnerability"},
            ok=(202,),
        )  # fmt: skip

    def wait_for_scan(
        self,
        project: str,
        repository: str,
        digest: str,
        wait_s: float,
        *,
        poll_s: float = 2.0,
        start: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> ScanSummary:
        """Poll until the scan is done or ``wait_s`` seconds pass; returns the last
        summary (maybe not ``done``). With ``start``, an artifact with no scan gets one."""
        deadline = clock() + wait_s
        summary = self.artifact_scan(project, repository, digest)
        if start and summary.status == "NotScanned":
            self.start_scan(project, repository, digest)
        while not summary.done and clock() < deadline:
            sleep(min(poll_s, max(0.0, deadline - clock())))
            summary = self.artifact_scan(project, repository, digest)
        return summary


def _errors(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return ""
    return f": {proc.redact(text)[:300]}" if text else ""


def summary_of(artifact: Mapping[str, Any]) -> ScanSummary:
    """The first report of an Artifact's ``scan_overview`` (a NativeReportSummary)."""
    overview = artifact.get("scan_overview") or {}
    reports = (
        [r for r in overview.values() if isinstance(r, dict)] if isinstance(overview, dict) else []
    )
    raw_id = artifact.get("project_id")
    project_id = raw_id if isinstance(raw_id, int) else None
    if not reports:
        return ScanSummary("NotScanned", project_id=project_id)
    report = reports[0]
    vulns = report.get("summary") or {}
    counts = {str(k).lower(): int(v) for k, v in (vulns.get("summary") or {}).items()}
    scanner = (report.get("scanner") or {}).get("name") or ""
    return ScanSummary(
        status=str(report.get("scan_status") or "NotScanned"),
        counts=counts,
        total=int(vulns.get("total") or sum(counts.values())),
        fixable=int(vulns.get("fixable") or 0),
        severity=str(report.get("severity") or ""),
        scanner=str(scanner),
        project_id=project_id,
    )


def scan_verdict(summary: ScanSummary, fail_on: str) -> ScanVerdict:
    """The gate's decision: "fail" when any vulnerability is at ``fail_on`` or above
    (one of ``FAIL_ON``; "none" never fails), "unknown" when the scan did not succeed
    (not finished, failed, none), "pass" otherwise. Raises InputError for another
    ``fail_on``."""
    level = fail_on.strip().lower()
    if level not in FAIL_ON:
        raise InputError(
            f"deploy.registry.scan.fail_on: {fail_on!r} is not one of {', '.join(FAIL_ON)}"
        )
    if summary.status.lower() != "success":
        state = "no scan" if summary.status == "NotScanned" else f"scan {summary.status}"
        return ScanVerdict("unknown", f"{state}: no verdict on vulnerabilities")
    found = ", ".join(
        f"{summary.counts[s]} {s}" for s in reversed(SEVERITIES) if summary.counts.get(s)
    )
    found = found or "no vulnerabilities"
    if level != "none":
        at_or_above = SEVERITIES[SEVERITIES.index(level) :]
        hits = sum(summary.counts.get(s, 0) for s in at_or_above)
        if hits:
            return ScanVerdict("fail", f"{hits} at {level} or above ({found})")
    return ScanVerdict("pass", f"{found}; fails on {level}")
