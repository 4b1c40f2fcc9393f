"""``plog run`` with ``deploy.registry.kind: harbor`` end to end: the project checked
before the push, the image pushed through one URL that is both Harbor's API (the
fake held to Harbor's published description, tests/data/harbor/swagger.yaml) and a
real docker-registry behind it, the scan of the digest actually pushed awaited and
judged, its result in the report, the stored documents and the final status."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from plog_ci.deploy.containers import Containers
from plog_ci.deploy.podman import home_label
from plog_ci.errors import ExitCode
from plog_ci.openapi.model import Spec
from plog_ci.pipeline import RunOutcome, RunRequest, run
from plog_ci.store.run_query import run_detail
from plog_ci.store.sqlite import open_store
from testing.container_tools import base_image, containers, registry
from testing.harbor_front import HarborFront, harbor_front
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.podman_config import podman_plog_yml
from testing.repos import commit_files
from tests.build.fake_harbor import Artifact, FakeHarbor, load_harbor_spec, scan_report

pytestmark = pytest.mark.slow

VAR = "PLOG_TEST_HARBOR_PASSWORD"


@dataclass
class Harbor:
    """The registry, the fake's API and the front that is both; ``artifact`` makes
    the fake's artifact for each manifest the registry accepts."""

    front: HarborFront
    fake: FakeHarbor
    password: str
    ca: str | None
    artifact: Callable[[], Artifact] = Artifact
    pushed: list[str] = field(default_factory=list)  # digests, as the registry has them


@pytest.fixture(scope="module")
def tools() -> Containers:
    need_k6()
    return containers()


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_harbor_spec()


@contextlib.contextmanager
def _harbor(directory: Path, spec: Spec, *, tls: bool) -> Iterator[Harbor]:
    with registry(directory, tls=tls) as reg:
        fake = FakeHarbor(spec, reg.username, reg.password)
        fake.projects.add("team")
        holder: list[Harbor] = []

        def on_push(name: str, digest: str) -> None:
            project, _, repository = name.partition("/")
            fake.artifacts[(project, repository, digest)] = holder[0].artifact()
            holder[0].pushed.append(digest)

        with harbor_front(reg, fake.handle, on_push) as front:
            ca = (reg.cert_dir / "ca.crt").read_text(encoding="utf-8") if reg.cert_dir else None
            holder.append(Harbor(front, fake, reg.password, ca))
            yield holder[0]
        assert fake.violations == []


@pytest.fixture
def harbor(tmp_path: Path, spec: Spec) -> Iterator[Harbor]:
    with _harbor(tmp_path / "registry", spec, tls=True) as made:
        yield made


@pytest.fixture
def plain_harbor(tmp_path: Path, spec: Spec) -> Iterator[Harbor]:
    with _harbor(tmp_path / "registry", spec, tls=False) as made:
        yield made


@pytest.fixture
def run_with(
    new_repo: Callable[..., Path],
    tools: Containers,
    plog_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., RunOutcome]]:
    base = base_image(tools)

    def go(harbor: Harbor, scan: str = "", password: str | None = None) -> RunOutcome:
        repo = new_repo("petstore")
        files: dict[str, str | bytes] = {
            name: (EXAMPLE / name).read_text(encoding="utf-8")
            for name in ("app.py", "openapi.yaml", "Containerfile")
        }
        extra = "    ca_file: ca.pem\n" if harbor.ca else ""
        if scan:
            extra += f"    scan: {scan}\n"
        registry_yml = (
            "  registry:\n"
            f"    url: {harbor.front.url}\n"
            "    kind: harbor\n"
            "    repository: team/petstore\n"
            f"    username: {harbor.fake.username}\n"
            f"    password_env: {VAR}\n"
        )
        files["plog.yml"] = podman_plog_yml(base, registry=registry_yml + extra)
        if harbor.ca:
            files["ca.pem"] = harbor.ca
        commit_files(repo, files, "petstore in a container, pushed to Harbor")
        monkeypatch.setenv(VAR, harbor.password if password is None else password)
        return run(RunRequest(repo=repo, head="HEAD", branch="main"))

    yield go
    assert tools.labelled(home_label(plog_home)) == []  # nothing left running


def _stored(plog_home: Path, outcome: RunOutcome) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the stored verdict, the stored documents by name) of the run."""
    store = open_store(plog_home)
    try:
        record = store.get_run(outcome.run_id or 0)
        detail = run_detail(store.path, record.id)
    finally:
        store.close()
    assert detail is not None and record.verdict is not None
    return record.verdict, detail["documents"]


def test_a_clean_scan_passes_and_the_report_shows_it(
    harbor: Harbor, run_with: Callable[..., RunOutcome], plog_home: Path
) -> None:
    # No scan on push: PLog asks for one; the scanner then runs and finds one low.
    harbor.artifact = lambda: Artifact(
        overviews=[None],
        after_scan=[scan_report("Running"), scan_report("Success", {"Low": 1})],
    )
    outcome = run_with(harbor, "{wait: 2m, fail_on: critical}")
    assert outcome.status == "pass", outcome.summary
    assert len(harbor.pushed) == 1  # the head alone (compare.mode default, no base beside)
    digest = harbor.pushed[0]
    # The scan asked for is the digest the registry holds.
    assert harbor.fake.scans_started == [("team", "petstore", digest)]
    assert harbor.fake.calls[:3] == ["headProject", "getArtifact", "scanArtifact"]
    report = outcome.report_markdown
    section = report[report.index("## Image") :]
    assert f"{harbor.front.host}/team/petstore@{digest}" in section
    assert "### Vulnerability scan" in section
    assert "the image scan found 1 low" in section
    assert "| low | 1 |" in section and "| critical | 0 |" in section
    assert "scanner Trivy" in section
    link = f"{harbor.front.url}/harbor/projects/1/repositories/petstore/artifacts-tab/artifacts/"
    assert f"[the artifact in Harbor]({link}{digest})" in section
    assert "image scan: nothing at critical or above" in report  # the gates table
    verdict, documents = _stored(plog_home, outcome)
    assert verdict["status"] == "pass"
    scan = documents["image"]["scan"]
    assert documents["image"]["digest"] == digest
    assert (scan["outcome"], scan["counts"], scan["scanner"]) == ("pass", {"low": 1}, "Trivy")


def test_a_critical_finding_fails_the_run_with_counts_digest_and_link(
    plain_harbor: Harbor, run_with: Callable[..., RunOutcome], plog_home: Path
) -> None:
    # Scan on push: Harbor has started it already; PLog must not start another.
    plain_harbor.artifact = lambda: Artifact(
        overviews=[scan_report("Running"), scan_report("Success", {"Critical": 2, "High": 1})]
    )
    outcome = run_with(plain_harbor, "{wait: 2m, fail_on: critical}")
    assert outcome.status == "fail", outcome.summary
    assert outcome.exit_code == ExitCode.GATE_FAILED
    digest = plain_harbor.pushed[0]
    assert plain_harbor.fake.scans_started == []
    summary = outcome.summary
    assert "2 critical, 1 high (2 at critical or above)" in summary
    assert f"team/petstore@{digest}" in summary
    link = f"http://{plain_harbor.front.host}/harbor/projects/1/repositories/petstore"
    assert f"{link}/artifacts-tab/artifacts/{digest}" in summary
    verdict, documents = _stored(plog_home, outcome)
    assert verdict["status"] == "fail"
    assert verdict["decided_by"][0]["gate"] == "image scan: nothing at critical or above"
    assert documents["image"]["scan"]["hits"] == 2
    assert "**FAIL**" in outcome.report_markdown[outcome.report_markdown.index("## Image") :]


def test_a_scan_that_never_finishes_fails_with_the_wait(
    plain_harbor: Harbor, run_with: Callable[..., RunOutcome]
) -> None:
    plain_harbor.artifact = lambda: Artifact(overviews=[scan_report("Running")])
    outcome = run_with(plain_harbor, "{wait: 3s, fail_on: high}")
    assert outcome.status == "fail", outcome.summary
    assert "scan not finished within 3s (Harbor's status: Running)" in outcome.summary
    assert plain_harbor.fake.calls.count("getArtifact") >= 2  # it polled, then gave up


def test_a_missing_project_is_named_before_anything_is_pushed(
    plain_harbor: Harbor, run_with: Callable[..., RunOutcome]
) -> None:
    plain_harbor.fake.projects.clear()
    outcome = run_with(plain_harbor, "{wait: 2m}")
    assert outcome.status == "error"
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert "has no project 'team'" in outcome.summary
    assert "create the project team in Harbor" in outcome.summary
    assert plain_harbor.fake.calls == ["headProject"]
    assert plain_harbor.front.registry_requests == 0  # nothing pushed


def test_a_wrong_password_names_the_variable_and_is_nowhere(
    harbor: Harbor, run_with: Callable[..., RunOutcome], plog_home: Path
) -> None:
    canary = "canary-Xy12-not-the-harbor-password"
    outcome = run_with(harbor, "{wait: 2m}", password=canary)
    assert outcome.status == "error"
    assert f"${VAR}" in outcome.summary and "robot account" in outcome.summary
    assert harbor.front.registry_requests == 0
    assert canary not in outcome.summary + outcome.report_markdown
    files = [p for p in plog_home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" or p.name.endswith(".sqlite3") for p in files), files
    for path in files:  # the store's database, its logs, any report
        assert canary.encode() not in path.read_bytes(), path
