"""An adaptive run's Sequential comparison table in real headless Chromium (issue 22):
the live stream redraws it look by look as the intervals narrow, the spec's operation
names stay text, and the page stays clean (no console error, no CSP refusal)."""

from __future__ import annotations

import itertools
import re
import threading
from pathlib import Path
from typing import Any

from plog_ci.analysis.sequential_run import Monitor, family
from plog_ci.gate_grammar import parse_gate
from plog_ci.store.live import save_documents
from plog_ci.store.sqlite import ResultsStore, open_store
from tests.test_adaptive_run import _rounds
from tests.web.browser.conftest import Tab
from tests.web.browser.test_run_page import no_injected_markup
from tests.web.test_adaptive_view import HOSTILE
from tests.web.test_run_template import running_run

INTERVAL = re.compile(r"\[([+-]\d+\.\d)%, ([+-]\d+\.\d)%\]")


def _documents(rounds: int) -> list[dict[str, Any]]:
    """The sequence documents of a run whose second operation is 5% slower against
    `p95 <= +5%`: undecided for many looks, its interval narrowing at each."""
    docs: list[dict[str, Any]] = []
    ops = ("GET /pets", HOSTILE)
    limits, decisive = family([parse_gate("p95 <= +5%")], ops)
    monitor = Monitor(limits, decisive, 0.01, 5.0, 20, 40, 1.5, on_look=docs.append)
    sides = {
        side: [
            {("GET /pets" if op == "GET /pets" else HOSTILE): s for op, s in r.items()} for r in rs
        ]
        for side, rs in _rounds(rounds, 1.05).items()
    }
    for k in range(1, rounds + 1):
        if monitor.look({side: r[:k] for side, r in sides.items()}):
            break
    return docs


def _widths(texts: list[str]) -> list[float]:
    found = [INTERVAL.search(t) for t in texts]
    return [float(m[2]) - float(m[1]) for m in found if m is not None]


def test_the_sequence_table_grows_look_by_look(
    tab: Tab, store: ResultsStore, plog_home: Path
) -> None:
    run_id = running_run(store)
    docs = _documents(16)
    assert len(docs) == 16
    page = tab.page
    response = page.goto(f"/runs/{run_id}")
    assert response is not None and response.ok
    assert page.locator("#sequence").is_hidden()  # no look yet
    stop = threading.Event()

    def write() -> None:  # as the worker does after each round, from its own connection
        writer = open_store(plog_home)
        try:
            for doc in docs:
                if stop.wait(0.3):
                    return
                save_documents(writer, run_id, {"sequence": doc})
        finally:
            writer.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        # An early look is drawn before the last one is written: the table is live.
        page.wait_for_function("() => document.querySelectorAll('#sequence tbody tr').length >= 2")
        early = page.locator("#sequence tbody tr").count()
        assert early < len(docs)
        page.wait_for_function(
            "n => document.querySelectorAll('#sequence tbody tr').length >= n",
            arg=len(docs[-1]["looks"]),
            timeout=20_000,  # a busy CI runner: the writer needs about 5 s
        )
    finally:
        stop.set()
        thread.join(timeout=5)
    assert page.locator("#sequence").is_visible()
    headers = page.locator("#sequence thead th").all_inner_texts()
    assert any(HOSTILE in h for h in headers)  # the name as text, not markup
    # The slowed operation's column: its interval only narrows, look by look.
    column = page.locator("#sequence tbody tr td:nth-child(4)").all_inner_texts()
    widths = _widths(column)
    assert len(widths) >= 8 and widths[-1] < widths[0] / 2
    assert all(b <= a + 0.11 for a, b in itertools.pairwise(widths))  # 0.1% rounding
    assert "looks so far" in page.locator("#sequence-line").inner_text()
    tab.snap("sequence-live")
    no_injected_markup(tab)
    tab.assert_clean()
