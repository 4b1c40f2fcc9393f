"""The Harbor client against a fake that holds every request and answer to Harbor's
published description (tests/data/harbor/swagger.yaml, Harbor v2.15.2, Apache-2.0)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from plog_ci.build.errors import RegistryAuthError, RegistryError
from plog_ci.build.harbor import (
    HarborClient,
    ScanSummary,
    scan_verdict,
    split_repository,
)
from plog_ci.deploy.process import free_port
from plog_ci.errors import DependencyError, ExitCode, InputError
from tests.build.conftest import PASSWORD, VAR, harbor_client
from tests.build.fake_harbor import Artifact, FakeHarbor, scan_report

DIGEST = "sha256:" + "ab" * 32


_client = harbor_client


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_fake_refuses_requests_off_the_description(harbor: FakeHarbor) -> None:
    base = "https://harbor.example.com/api/v2.0"
    artifact = f"{base}/projects/team/repositories/petstore/artifacts/{DIGEST}"
    off: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{base}/projects/team/artefacts", {}),  # no such path
        ("PATCH", f"{base}/projects", {}),  # no such method there
        ("HEAD", f"{base}/projects", {}),  # project_name is required
        ("HEAD", f"{base}/projects", {"params": {"project_name": "team", "name": "x"}}),
        ("GET", artifact, {"params": {"with_scan_overview": "yes"}}),  # not a boolean
        ("GET", artifact, {"headers": {"X-Request-Id": ""}}),  # minLength 1
        ("POST", f"{artifact}/scan", {"json": {"scan_type": "malware"}}),  # not in the enum
        ("DELETE", f"{base}/health", {}),
        ("GET", "https://harbor.example.com/api/v3/projects/team", {}),  # not under basePath
        ("GET", artifact, {"headers": {"Authorization": "Bearer abc"}}),
    ]
    with httpx.Client(transport=harbor.transport()) as client:
        for method, url, kw in off:
            with pytest.raises(AssertionError, match="off Harbor's description"):
                client.request(method, url, **kw)
    assert len(harbor.violations) == len(off)
    harbor.violations.clear()
    # And the answers are held to it: a body where none is documented, a misspelt field.
    op = harbor.spec.operations["HEAD /projects"]
    with pytest.raises(AssertionError, match="has no body"):
        harbor.answer(op, 200, {"name": "team"})
    get = harbor.spec.find("GET /projects/{}/repositories/{}/artifacts/{}")
    assert get is not None
    with pytest.raises(AssertionError, match="'scan_overveiw' is not in the description"):
        harbor.answer(get, 200, {"digest": DIGEST, "scan_overveiw": {}})
    with pytest.raises(AssertionError, match="does not document"):
        harbor.answer(get, 418)
    harbor.violations.clear()


def test_project_exists(harbor: FakeHarbor) -> None:
    with _client(harbor) as client:
        assert client.project_exists("team") is True
        assert client.project_exists("nobody") is False
        assert client.project_exists('"><img onerror=x> ${x}') is False
    assert harbor.calls == ["headProject"] * 3


def test_scan_summary_of_a_repository_with_a_slash(harbor: FakeHarbor) -> None:
    # "app/api" goes as app%252Fapi: the fake finds it only when encoded twice.
    counts = {"Critical": 1, "High": 2, "Low": 5}
    harbor.artifacts[("team", "app/api", DIGEST)] = Artifact([scan_report("Success", counts)])
    with _client(harbor) as client:
        summary = client.artifact_scan("team", "app/api", DIGEST)
    assert summary == ScanSummary(
        "Success", {"critical": 1, "high": 2, "low": 5}, 8, 1, "Critical", "Trivy", 1
    )
    assert scan_verdict(summary, "critical").outcome == "fail"
    assert scan_verdict(summary, "critical").reason == (
        "1 at critical or above (1 critical, 2 high, 5 low)"
    )


def test_wait_for_scan_starts_one_and_polls_until_done(harbor: FakeHarbor) -> None:
    overviews = [None, scan_report("Pending"), scan_report("Running"),
                 scan_report("Success", {"Medium": 3})]  # fmt: skip
    harbor.artifacts[("team", "petstore", DIGEST)] = Artifact(list(overviews))
    clock = Clock()
    with _client(harbor) as client:
        summary = client.wait_for_scan(
            "team", "petstore", DIGEST, 120, poll_s=2, sleep=clock.sleep, clock=clock
        )
    assert harbor.scans_started == [("team", "petstore", DIGEST)]
    assert summary.status == "Success" and summary.counts == {"medium": 3}
    assert clock.sleeps == [2, 2, 2]
    assert harbor.calls == ["getArtifact", "scanArtifact", *["getArtifact"] * 3]
    assert scan_verdict(summary, "high").outcome == "pass"
    assert scan_verdict(summary, "medium").outcome == "fail"


def test_a_scan_that_does_not_finish_in_time_has_no_verdict(harbor: FakeHarbor) -> None:
    harbor.artifacts[("team", "petstore", DIGEST)] = Artifact([scan_report("Running")])
    clock = Clock()
    with _client(harbor) as client:
        summary = client.wait_for_scan(
            "team", "petstore", DIGEST, 5, poll_s=2, sleep=clock.sleep, clock=clock
        )
    assert summary.status == "Running" and not summary.done
    assert clock.now == 5 and harbor.scans_started == []
    verdict = scan_verdict(summary, "critical")
    assert (verdict.outcome, verdict.reason) == (
        "unknown",
        "scan Running: no verdict on vulnerabilities",
    )


def test_refusals_name_the_user_and_the_variable_never_the_password(
    harbor: FakeHarbor, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "canary-Xy12-wrong"
    harbor.artifacts[("team", "petstore", DIGEST)] = Artifact()
    with _client(harbor, wrong) as client, pytest.raises(RegistryAuthError) as caught:
        client.artifact_scan("team", "petstore", DIGEST)
    assert caught.value.message == (
        f"Harbor at https://harbor.example.com refused the credentials of robot$plog "
        f"(password from ${VAR})"
    )
    with _client(harbor) as client:
        with pytest.raises(RegistryError, match="has no artifact team/other@"):
            client.artifact_scan("team", "other", DIGEST)
        harbor.fail_with = 500
        with pytest.raises(DependencyError, match="HTTP 500"):
            client.project_exists("team")
    out, err = capfd.readouterr()
    for text in (str(caught.value), repr(caught.value), caplog.text, out, err):
        assert wrong not in text and PASSWORD not in text


def test_an_unreachable_harbor_is_a_dependency_error() -> None:
    client = HarborClient(f"https://127.0.0.1:{free_port()}", username="u",
                          password="p" * 8, timeout_s=2)  # fmt: skip
    with client, pytest.raises(DependencyError, match="is unreachable") as caught:
        client.project_exists("team")
    assert caught.value.exit_code == ExitCode.MISSING_DEPENDENCY


def test_verdicts_and_names() -> None:
    clean = ScanSummary("Success", {}, 0, 0, "None", "Trivy")
    assert scan_verdict(clean, "low") == scan_verdict(clean, "LOW")
    assert scan_verdict(clean, "low").reason == "no vulnerabilities; fails on low"
    many = ScanSummary("Success", {"critical": 4}, 4)
    assert scan_verdict(many, "none").outcome == "pass"  # report only
    assert scan_verdict(ScanSummary("NotScanned"), "critical").reason.startswith("no scan")
    assert scan_verdict(ScanSummary("Error"), "critical").outcome == "unknown"
    with pytest.raises(InputError, match="not one of none, negligible, low"):
        scan_verdict(clean, "severe")
    assert split_repository("team/app/api") == ("team", "app/api")
    with pytest.raises(InputError, match="PROJECT/NAME"):
        split_repository("petstore")
