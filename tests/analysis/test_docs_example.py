"""The Python example in docs/statistics.md runs and prints what the page shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "statistics.md"


def test_statistics_doc_example_runs() -> None:
    text = DOC.read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S)
    shown = re.search(r"prints a benchstat-style table.*?```\n(.*?)```", text, re.S)
    assert code and shown
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), str(DOC), "exec"), {})
    printed = out.getvalue()
    for line in shown.group(1).strip().splitlines():
        assert line in printed
    assert "p95 <= +10% GET /pets False" in printed
