"""The run page's service resources (issue 19): a container's throttled share and
OOM kills beside CPU and memory, from the counters stored with each sample; a
process side shows CPU and RSS only."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask

from plog_ci.store.sqlite import ResultsStore
from plog_ci.web.dashboard.resources_view import resource_rows
from tests.web.test_run_template import get, new_run

T0 = 1_800_000_000.0
MIB = 1 << 20


def test_rows_give_the_growth_of_the_counters_over_the_sampling() -> None:
    rows = resource_rows(
        {
            "head": [
                [T0, 20.0, 100 * MIB, 100, 10, 0.5, 0, 1],
                [T0 + 1, 40.0, 120 * MIB, 110, 14, 0.9, 0, 1],
                [T0 + 2, 60.0, 110 * MIB, 120, 20, 1.4, 1, 0],
            ],
            "base": [[T0, 30.0, 80 * MIB], [T0 + 1, 50.0, 90 * MIB]],
        }
    )
    base, head = rows
    assert base == {
        "target": "base",
        "samples": 2,
        "cpu_mean": 40.0,
        "cpu_max": 50.0,
        "memory_max": 90 * MIB,
        "memory_name": "RSS",
        "container": False,
    }
    assert head["container"] and head["memory_name"] == "working set"
    assert head["throttled_share"] == 0.5  # 10 of the 20 periods after the first sample
    assert round(head["throttled_s"], 9) == 0.9 and head["oom_kills"] == 1
    assert resource_rows(None) == [] and resource_rows({"head": []})[0]["cpu_mean"] is None


def test_the_page_shows_throttling_for_a_container_side(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    run_id = new_run(store)
    store.save_resources(
        run_id,
        "head",
        [(T0, 20.0, 100 * MIB, 100, 10, 0.5, 0, 1), (T0 + 1, 40.0, 120 * MIB, 120, 25, 1.5, 0, 1)],
    )
    store.save_resources(run_id, "base", [(T0, 30.0, 80 * MIB), (T0 + 1, 50.0, 90 * MIB)])
    page = get(make_app(), f"/runs/{run_id}")
    section = page[page.index('<section id="resources">') :]
    section = section[: section.index("</section>")]
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in section.split("<tr>")[2:]]
    assert cells == [
        ["base", "2", "40%", "50%", "90.0 MiB", "–", "–", "–"],
        ["head", "2", "30%", "40%", "120.0 MiB", "75%", "1.0 s", "0"],
    ]
    assert "CFS periods" in section and "working set" in section


def test_a_process_run_has_no_throttling_columns(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    run_id = new_run(store)
    store.save_resources(run_id, "head", [(T0, 30.0, 80 * MIB), (T0 + 1, 50.0, 90 * MIB)])
    page = get(make_app(), f"/runs/{run_id}")
    assert "Throttled" not in page and "resident memory" in page and "50%" in page
