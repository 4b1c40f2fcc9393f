"""The benchmark suite's index: every module is listed with its purpose and runs by name."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import bench
from bench.__main__ import SUITE, main

BENCH = Path(bench.__file__).parent


def test_every_benchmark_module_is_listed_and_has_a_main() -> None:
    modules = {m.name for m in pkgutil.iter_modules([str(BENCH)]) if not m.name.startswith("_")}
    assert {b.name for b in SUITE} == modules
    for name in modules:
        tree = ast.parse((BENCH / f"{name}.py").read_text(encoding="utf-8"))
        mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
        assert mains and mains[0].args.args, f"bench/{name}.py needs main(argv)"


def test_list_prints_every_name_with_its_purpose(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SUITE)
    for line, b in zip(lines, SUITE, strict=True):
        assert line.split()[:2] == [b.name, "quick" if b.quick else "by"]
        assert b.purpose in line


def test_a_name_gets_the_remaining_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["stats_synthetic", "--help"])
    assert exc.value.code == 0
    assert "python -m bench stats_synthetic [-h] [--trials TRIALS]" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no benchmark 'nope'"):
        main(["nope"])
