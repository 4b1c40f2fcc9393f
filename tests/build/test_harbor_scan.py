"""Harbor's part of a podman run, against the fake held to Harbor's published
description: the project check before the push, the scan awaited and judged, its
gate among the verdict's, and the report's "Image" section (Harbor's strings as text)."""

from __future__ import annotations

import re

import pytest

from plog_ci.analysis.gates import GateOutcome, Verdict
from plog_ci.analysis.image_gate import scan_gated
from plog_ci.build.errors import RegistryAuthError, RegistryError
from plog_ci.build.harbor import ScanSummary, summary_of
from plog_ci.build.harbor_scan import (
    ImageFacts,
    ScanOutcome,
    await_scan,
    check_project,
    judge_scan,
    span,
)
from plog_ci.config.deploy import RegistryConfig, ScanConfig
from plog_ci.gate_grammar import Gate
from plog_ci.report.image_scan import image_section
from tests.build.conftest import HARBOR_URL, PASSWORD, VAR, harbor_client
from tests.build.fake_harbor import (
    REPORT_MIME,
    Artifact,
    FakeHarbor,
    scan_report,
)
from tests.build.test_harbor import Clock

DIGEST = "sha256:" + "cd" * 32
URL = HARBOR_URL


_client = harbor_client


def _registry(wait_s: float = 120.0, fail_on: str = "critical") -> RegistryConfig:
    return RegistryConfig(
        url="harbor.example.com", repository="team/petstore", username="robot$plog",
        password_env=VAR, kind="harbor", scan=ScanConfig(wait_s=wait_s, fail_on=fail_on),
    )  # fmt: skip


def test_a_missing_project_and_refused_credentials_say_what_to_do(harbor: FakeHarbor) -> None:
    with _client(harbor) as client:
        check_project(client, _registry())  # "team" exists
        harbor.projects.clear()
        with pytest.raises(RegistryError) as missing:
            check_project(client, _registry())
    assert "has no project 'team'" in missing.value.message
    assert "create the project team in Harbor" in str(missing.value)
    with _client(harbor, password="wrong-" + PASSWORD) as client:
        with pytest.raises(RegistryAuthError) as refused:
            check_project(client, _registry())
    text = str(refused.value)
    assert f"${VAR}" in text and "fix the robot account robot$plog" in text
    assert "nothing was pushed" in text and PASSWORD not in text


def test_a_scan_is_started_when_harbor_has_none_and_waited_for(harbor: FakeHarbor) -> None:
    harbor.artifacts[("team", "petstore", DIGEST)] = Artifact(
        [None], after_scan=[scan_report("Pending"), scan_report("Success", {"Medium": 3})]
    )
    clock = Clock()
    with _client(harbor) as client:
        outcome = await_scan(client, _registry(), DIGEST, sleep=clock.sleep, clock=clock)
    assert harbor.scans_started == [("team", "petstore", DIGEST)]
    assert (outcome.outcome, outcome.hits, outcome.scanner) == ("pass", 0, "Trivy")
    assert outcome.reason == f"the image scan found 3 medium in team/petstore@{DIGEST}"
    assert outcome.link == (
        f"{URL}/harbor/projects/1/repositories/petstore/artifacts-tab/artifacts/{DIGEST}"
    )


def test_a_scan_that_does_not_finish_fails_after_the_wait(harbor: FakeHarbor) -> None:
    harbor.artifacts[("team", "petstore", DIGEST)] = Artifact([scan_report("Running")])
    clock = Clock()
    with _client(harbor) as client:
        outcome = await_scan(client, _registry(wait_s=120), DIGEST, sleep=clock.sleep, clock=clock)
    assert harbor.scans_started == []  # Harbor had one running (scan on push)
    assert clock.now == pytest.approx(120.0)
    assert outcome.outcome == "fail"
    assert outcome.reason.startswith("scan not finished within 2m (Harbor's status: Running): ")
    assert DIGEST in outcome.reason and "/artifacts-tab/artifacts/" in outcome.reason


@pytest.mark.parametrize(
    ("status", "counts", "fail_on", "expected", "reason"),
    [
        (
            "Success",
            {"High": 1},
            "high",
            "fail",
            "the image scan found 1 high (1 at high or above)",
        ),
        ("Success", {"High": 1}, "critical", "pass", "the image scan found 1 high in"),
        ("Success", {"Critical": 9}, "none", "report", "the image scan found 9 critical in"),
        ("Error", None, "critical", "fail", "the scan ended with status Error, without a report"),
        ("Error", None, "none", "report", "the scan ended with status Error"),
    ],
)
def test_judged_scans(
    status: str, counts: dict[str, int] | None, fail_on: str, expected: str, reason: str
) -> None:

    summary = summary_of(
        {"project_id": 4, "scan_overview": {REPORT_MIME: scan_report(status, counts)}}
    )
    outcome = judge_scan(summary, URL, "team/app/api", DIGEST, fail_on, 30.0)
    assert outcome.outcome == expected
    assert outcome.reason.startswith(reason), outcome.reason
    assert outcome.link is not None and "/projects/4/repositories/app%2Fapi/" in outcome.link


def _scan(outcome: str, **kw: object) -> ImageFacts:
    defaults: dict[str, object] = {
        "reason": "the image scan found 2 critical (2 at critical or above) in x",
        "fail_on": "critical", "wait_s": 120.0, "status": "Success",
        "counts": {"critical": 2}, "total": 2, "scanner": "Trivy", "hits": 2,
    }  # fmt: skip
    defaults.update(kw)
    scan = ScanOutcome(outcome=outcome, **defaults)  # type: ignore[arg-type]
    return ImageFacts(f"127.0.0.1:5000/team/petstore@{DIGEST}", DIGEST, "harbor", scan)


def test_the_scan_gate_joins_the_verdict() -> None:
    p95 = GateOutcome(Gate("p95 < 2s", "p95", "<", 2000.0), "*", 900.0, True, "900 ms")
    passing = Verdict("pass", (p95,), "")
    assert scan_gated(passing, None) is passing
    assert scan_gated(passing, _scan("report")) is passing  # fail_on: none
    clean = scan_gated(passing, _scan("pass", counts={}, hits=0))
    assert clean.status == "pass" and clean.outcomes[-1].passed is True
    assert clean.outcomes[-1].gate.label == "image scan: nothing at critical or above"
    failed = scan_gated(passing, _scan("fail"))
    assert failed.status == "fail" and failed.reason.startswith("the image scan found 2 critical")
    assert [o.gate.label for o in failed.decisive] == ["image scan: nothing at critical or above"]
    both = scan_gated(Verdict("fail", (p95,), "p95 900 ms over 500 ms"), _scan("fail"))
    assert both.reason.endswith("; p95 900 ms over 500 ms")


def test_the_report_section_shows_harbor_strings_as_text() -> None:
    assert image_section(None) == ""
    hostile = _scan(
        "fail",
        scanner='<script>alert(1)</script>"><img onerror=x>',
        counts={"critical": 2, "[x](javascript:alert(1))": 1},
        link="javascript:alert(1)",
    )
    text = image_section(hostile) + image_section(_scan("fail", status="${Success}"))
    assert re.search(r"(?<!\\)[<>]", text) is None  # every angle bracket escaped
    assert "\\<script\\>alert\\(1\\)\\</script\\>" in text
    assert "\\[x\\]\\(javascript:alert\\(1\\)\\) | 1 |" in text  # a severity Harbor sent
    assert "$\\{Success\\}" in text
    assert "](javascript:" not in text  # no link drawn from it
    assert "| critical | 2 |" in text and "**FAIL**" in text
    link = f"https://h.example/harbor/projects/1/repositories/p/artifacts-tab/artifacts/{DIGEST}"
    assert f"[the artifact in Harbor]({link})" in image_section(_scan("fail", link=link))
    none = ImageFacts(
        "h/team/petstore@" + DIGEST, DIGEST, "oci", note="the registry is of kind oci"
    )
    assert "No scan: the registry is of kind oci." in image_section(none)


def test_span() -> None:
    assert [span(s) for s in (120, 90, 45, 1.5, 3600)] == ["2m", "1m30s", "45s", "1.5s", "60m"]
    assert ScanSummary("Running").done is False
