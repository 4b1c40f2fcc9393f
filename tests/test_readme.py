"""The README documents every plog.yml key and every command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plog_ci.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _keys(node: dict[str, Any], prefix: str) -> list[str]:
    out = []
    for branch in node.get("oneOf", []):
        if "properties" in branch:
            out += _keys(branch, prefix)
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        if prefix == "" and "properties" in sub:  # a section: its keys are documented
            out += _keys(sub, path)
        else:
            out.append(path)
    return out


def test_every_config_key_is_in_the_readme() -> None:
    schema = json.loads((ROOT / "plog_ci/config/schema/plog.schema.json").read_text())
    missing = [k for k in _keys(schema, "") if f"`{k}`" not in README and f"`{k}," not in README]
    assert missing == []


def test_every_command_is_in_the_readme() -> None:
    for name, command in cli.commands.items():
        if not command.hidden:
            assert f"`plog {name}" in README, name
