"""The cgroup's findings end to end: a container held by its CPU limit is named
throttled (issue 19), from real throttling counters under real load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plog_ci.deploy.containers import Containers
from plog_ci.deploy.podman import home_label
from plog_ci.pipeline import RunRequest, run
from plog_ci.store.run_query import run_detail
from plog_ci.store.sqlite import open_store
from testing.container_tools import base_image, containers
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.podman_config import podman_plog_yml
from testing.repos import commit_files

pytestmark = pytest.mark.slow

# A fifth of a core, and every GET /pets spins 20 ms: twice what the quota allows at
# 20 requests a second.
KNOB = 'SLOW_OPERATION = ""\nSLOWDOWN = 0.0\nNORMAL_MS = 0.0\nSLOW_KIND = "sleep"\n'
SPIN = 'SLOW_OPERATION = "GET /pets"\nSLOWDOWN = 1.0\nNORMAL_MS = 20.0\nSLOW_KIND = "cpu"\n'


@pytest.fixture(scope="module")
def tools() -> Containers:
    need_k6()
    return containers()


def test_a_container_held_by_its_cpu_limit_is_named_throttled(
    new_repo: Callable[..., Path], tools: Containers, plog_home: Path
) -> None:
    repo = new_repo("throttled")
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    assert KNOB in app
    commit_files(
        repo,
        {
            "app.py": app.replace(KNOB, SPIN),
            "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8"),
            "Containerfile": (EXAMPLE / "Containerfile").read_text(encoding="utf-8"),
            "plog.yml": podman_plog_yml(
                base_image(tools),
                resources="{cpus: 0.2, memory: 256Mi}",
                rate=20,
                vus=20,
                duration="10s",
                operations='["GET /pets"]',
                gates=["error_rate < 50%"],
                startup="60s",
            ),
        },
        "a service that spins past its CPU quota",
    )
    outcome = run(RunRequest(repo=repo, head="HEAD", branch="main"))
    assert outcome.status == "pass", outcome.summary
    store = open_store(plog_home)
    findings = {f["kind"]: f for f in store.findings(outcome.run_id or 0)}
    throttling = findings["cpu-throttling"]
    assert throttling["message"].startswith("CPU throttling is the bottleneck"), throttling
    assert throttling["data"]["throttled_share"] >= 0.5
    assert throttling["data"]["cpu_limit"] == 0.2
    # Below the limit on average: the quota, not a busy core, holds it back.
    assert throttling["data"]["mean_cpu"] <= 25
    assert "CPU throttling is the bottleneck" in outcome.report_markdown
    # The counters are stored with the run, beside each sample.
    detail = run_detail(store.path, outcome.run_id or 0)
    assert detail is not None
    head = detail["resources"]["head"]
    assert len(head[-1]) == 8 and head[-1][4] > 0  # throttled periods, since the start
    assert tools.labelled(home_label(plog_home)) == []
