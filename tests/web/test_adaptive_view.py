"""An adaptive run's sequence on the run page and in its live stream (issue 22): the
looks' intervals as a table, spec text escaped, and an event when the document changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from waitress.server import create_server

from plog_ci.analysis.sequential_run import Monitor, family
from plog_ci.gate_grammar import parse_gate
from plog_ci.store.live import save_documents
from plog_ci.store.sqlite import ResultsStore, open_store
from tests.test_adaptive_run import _rounds
from tests.web.conftest import add_run
from tests.web.test_dashboard_stream import _events

HOSTILE = "GET /x/<script>alert(1)</script>"


def _documents(n: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    ops = ("GET /pets", HOSTILE)
    limits, decisive = family([parse_gate("p95 <= +10%")], ops)
    monitor = Monitor(limits, decisive, 0.01, 5.0, 20, 40, 1.5, on_look=docs.append)
    rounds = _rounds(n, 1.4)
    rounds = {
        side: [
            {("GET /pets" if op == "GET /pets" else HOSTILE): s for op, s in r.items()} for r in rs
        ]
        for side, rs in rounds.items()
    }
    for k in range(1, n + 1):
        if monitor.look({side: r[:k] for side, r in rounds.items()}):
            break
    return docs


@pytest.fixture
def server(make_app: Callable[..., Flask]) -> Iterator[str]:
    srv = create_server(make_app(), host="127.0.0.1", port=0, threads=4, ident="plog")
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}"
    srv.close()


def test_the_page_shows_each_look_escaped(store: ResultsStore, server: str) -> None:
    run_id = add_run(store)
    docs = _documents(10)
    save_documents(store, run_id, {"sequence": docs[-1]})
    page = httpx.get(f"{server}/runs/{run_id}", timeout=10).text
    assert '<section id="sequence">' in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert page.count('<tr><td class="num">') >= len(docs[-1]["looks"])


def test_the_stream_sends_the_sequence_as_it_narrows(
    store: ResultsStore, plog_home: Path, server: str
) -> None:
    run_id = add_run(store, finished=False, status="running")
    docs = _documents(10)

    def write() -> None:
        writer = open_store(plog_home)
        for doc in docs[6:]:
            time.sleep(0.3)
            save_documents(writer, run_id, {"sequence": doc})
        time.sleep(0.3)
        writer.finish_run(run_id, "fail", {"status": "fail", "reason": "x"}, None)
        writer.close()

    thread = threading.Thread(target=write)
    with httpx.stream("GET", f"{server}/runs/{run_id}/events", timeout=10) as res:
        thread.start()
        seen = _events(res, "end")
    thread.join()
    sent = [e["data"] for e in seen if e["event"] == "sequence"]
    assert len(sent) >= 2 and [len(d["looks"]) for d in sent] == sorted(
        len(d["looks"]) for d in sent
    )
    assert sent[-1]["sequences"][1]["operation"] == HOSTILE  # data, for textContent
