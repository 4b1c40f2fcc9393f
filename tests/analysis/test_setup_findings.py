"""What setup made, read back from k6's console output and turned into findings."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from plog_ci.analysis.setup_findings import setup_findings
from plog_ci.results import SetupTally
from plog_ci.runner.exchanges import read_setup


def _line(value: object) -> str:
    encoded = base64.b64encode(json.dumps(value).encode()).decode()
    return f'time="..." level=error msg="PLOG_SETUP {encoded}" source=console\n'


def test_setup_lines_are_read_and_malformed_ones_skipped(tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    good = {"producer": "POST /pets", "side": "head", "created": 4, "answered": 5, "tried": 5}
    console.write_text(
        _line(good)
        + _line({**good, "created": 6})  # more than tried: not a real tally
        + _line({**good, "created": True})  # a bool is not a count
        + _line(["not", "a", "mapping"])
        + "PLOG_SETUP !!!not-base64\n"
        + _line({**good, "answered": 3})  # fewer answered than created
        + _line({**good, "producer": "POST /owners", "side": "", "created": 0, "answered": 0})
    )
    assert read_setup(console) == (
        SetupTally("POST /pets", "head", 4, 5, 5),
        SetupTally("POST /owners", "", 0, 5, 0),
    )
    assert read_setup(tmp_path / "missing.log") == ()


def test_a_producer_that_made_nothing_names_each_operation_left_without_an_id() -> None:
    feeds = [
        ("POST /pets", "GET /pets/{petId}", "petId"),
        ("POST /pets", "DELETE /pets/{petId}", "petId"),
        ("POST /owners", "GET /owners/{id}", "id"),
    ]
    found = setup_findings(
        [SetupTally("POST /pets", "", 0, 5, 0), SetupTally("POST /owners", "base", 3, 5, 5)],
        [*feeds, feeds[0]],  # a producer feeding one operation twice is named once
    )
    assert [(f.operation, f.severity) for f in found] == [
        ("POST /pets", "warning"),
        ("GET /pets/{petId}", "warning"),
        ("DELETE /pets/{petId}", "warning"),
        ("POST /owners", "info"),
    ]
    assert found[0].message.startswith("created none of the 5 resources setup asked for, so ")
    assert found[1].message.startswith("no real id for petId: POST /pets gave none")
    assert found[3].message == (
        "created 3 of 5 resources on the base; GET /owners/{id} (id) took turns among those"
    )
    # Every producer that made all it was asked for: nothing to say.
    assert setup_findings([SetupTally("POST /pets", "", 5, 5, 5)], feeds) == []


def test_answers_without_an_id_are_told_apart_from_failures() -> None:
    (producer, reader) = setup_findings(
        [SetupTally("POST /members", "", 0, 5, 5)], [("POST /members", "GET /m/{mid}", "mid")]
    )
    assert producer.message.startswith(
        "answered 5 of 5 as documented, but no id was found in the answers, so GET /m/{mid}"
    )
    assert reader.message.startswith("no real id for mid: POST /members gave none")
