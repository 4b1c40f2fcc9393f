"""One list of exit codes: the ExitCode enum, documented as it is."""

from __future__ import annotations

import re
from pathlib import Path

import plog_ci.errors
from plog_ci.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent


def _readme_codes() -> list[int]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n### Exit codes\n", 1)[1].split("\n#", 1)[0]
    return [int(m[1]) for m in re.finditer(r"^\|\s*(\d+)\s*\|", section, re.MULTILINE)]


def _docstring_codes() -> list[int]:
    doc = plog_ci.errors.__doc__ or ""
    return [int(m[1]) for m in re.finditer(r"^(\d+)\s{2,}\S", doc, re.MULTILINE)]


def test_the_readme_table_lists_exactly_the_exit_codes() -> None:
    assert _readme_codes() == sorted(int(code) for code in ExitCode)


def test_the_errors_docstring_lists_exactly_the_exit_codes() -> None:
    assert _docstring_codes() == sorted(int(code) for code in ExitCode)


def test_interrupted_is_130() -> None:
    # 128 + SIGINT, what shells and CI runners expect of an interrupted program.
    assert int(ExitCode.INTERRUPTED) == 130
