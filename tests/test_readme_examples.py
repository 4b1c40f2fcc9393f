"""The README's plog.yml examples, as printed (issue 17: "make the README's examples of
plog.yml tests").

Each ```yaml block under "plog.yml examples" is a whole plog.yml for the example
service: ``plog validate`` accepts it in a repository holding that service, together
the blocks use every key of the schema, the first is the example's own file, and the
first two run for real (the second builds a virtual environment with service.setup and
restores it from the cache on the next run).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from plog_ci.cli import cli
from plog_ci.store.sqlite import open_store
from testing.k6_tools import need_k6
from testing.repos import commit_files, plog_run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "petstore"
SECTION = (ROOT / "README.md").read_text(encoding="utf-8").split("### plog.yml examples", 1)[1]
SECTION = SECTION.split("\n## ", 1)[0]
BLOCKS = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)


def _schema_keys(node: dict[str, Any], prefix: str) -> set[str]:
    """Every key path the schema allows (``load.overrides.*.path``, ``gates[].check``)."""
    out: set[str] = set()
    for branch in node.get("oneOf", []):
        out |= _schema_keys(branch, prefix)
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        out.add(path)
        out |= _schema_keys(sub, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and "properties" in extra:
        out |= _schema_keys(extra, f"{prefix}.*")
    items = node.get("items")
    if isinstance(items, dict):
        out |= _schema_keys(items, f"{prefix}[]")
    return out


def _used_keys(value: Any, prefix: str, schema_keys: set[str]) -> set[str]:
    out: set[str] = set()
    if isinstance(value, dict):
        for name, sub in value.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            if path not in schema_keys and f"{prefix}.*" in {
                k.rsplit(".", 1)[0] for k in schema_keys
            }:
                path = f"{prefix}.*"  # a free name: an operation under load.overrides
                out |= _used_keys(sub, path, schema_keys)
                continue
            out.add(path)
            out |= _used_keys(sub, path, schema_keys)
    elif isinstance(value, list):
        for item in value:
            out |= _used_keys(item, f"{prefix}[]", schema_keys)
    return out


def _service_repo(root: Path, config: str) -> Path:
    """The example service with ``config`` as its plog.yml, and the files the examples
    name (an empty requirements.txt: its service needs nothing PLog lacks; a chart and
    a values file, PLog's own service chart standing in for the user's)."""
    root.mkdir(parents=True)
    for name in ("app.py", "openapi.yaml"):
        shutil.copy(EXAMPLE / name, root / name)
    (root / "requirements.txt").write_text("# the example needs nothing more\n")
    (root / "loadtest").mkdir()
    (root / "loadtest" / "pets.csv").write_text('body\n"{""name"": ""Max""}"\n')
    # The Kubernetes example's chart and values file (plog validate reads them).
    shutil.copytree(ROOT / "charts" / "service", root / "deploy" / "chart")
    (root / "deploy" / "values-perf.yaml").write_text("replicaCount: 2\n")
    (root / "plog.yml").write_text(config)
    return root


def test_the_section_has_the_examples() -> None:
    assert len(BLOCKS) >= 7
    assert all(block.lstrip().split("\n", 1)[0].startswith(("version: 1", "#")) for block in BLOCKS)


def test_the_first_example_is_the_example_services_own_file() -> None:
    assert BLOCKS[0] == (EXAMPLE / "plog.yml").read_text(encoding="utf-8")


def test_together_they_use_every_key_of_the_schema() -> None:
    schema = json.loads((ROOT / "plog_ci/config/schema/plog.schema.json").read_text())
    keys = _schema_keys(schema, "")
    used: set[str] = set()
    for block in BLOCKS:
        used |= _used_keys(YAML(typ="safe").load(block), "", keys)
    # openapi is a string or a mapping; gates items are strings or mappings
    assert sorted(keys - used) == []


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_plog_validate_accepts_each_example(number: int, tmp_path: Path) -> None:
    repo = _service_repo(tmp_path / "svc", BLOCKS[number])
    done = CliRunner().invoke(cli, ["validate", str(repo / "plog.yml")])
    assert done.exit_code == 0, done.output


def test_the_first_two_examples_run(new_repo: Callable[..., Path], plog_home: Path) -> None:
    need_k6()
    repo = new_repo("svc")
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    files: dict[str, str | bytes] = {
        "app.py": app,
        "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8"),
        "requirements.txt": "flask>=3,<4\n",  # from PyPI (or pip's own cache)
        "plog.yml": BLOCKS[1],
    }
    commit_files(repo, files, "with setup")
    first = plog_run(repo, plog_home, timeout=240)
    assert first.returncode == 0, first.stdout + first.stderr
    (built,) = (plog_home / "setup-cache").glob("*/tree/.venv/pyvenv.cfg")
    made = built.stat().st_mtime_ns
    # An unchanged requirements.txt: the environment comes from the cache, not rebuilt.
    commit_files(repo, {"app.py": app + "\n# again\n"}, "again")
    second = plog_run(repo, plog_home, timeout=240)
    assert second.returncode == 0, second.stdout + second.stderr
    assert list((plog_home / "setup-cache").glob("*/tree/.venv/pyvenv.cfg")) == [built]
    assert built.stat().st_mtime_ns == made
    store = open_store(plog_home)
    try:
        assert [store.get_run(n).status for n in (1, 2)] == ["pass", "pass"]
    finally:
        store.close()


def test_the_commands_block_runs_as_printed(tmp_path: Path) -> None:
    """The README's "Examples that run as they are": the block, run by bash from the
    repository root; the service it starts in the background is stopped afterwards
    (its process group)."""
    need_k6()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("Examples that run as they are, from this repository:", 1)[1]
    (commands,) = re.findall(r"```sh\n(.*?)```", block, re.S)[:1]
    log = tmp_path / "out.txt"
    with open(log, "w") as sink:  # a file: the background service keeps it open
        process = subprocess.Popen(
            ["bash", "-c", commands],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    out = log.read_text(errors="replace")
    # As pasted into a shell: each command's own output (plog diff exits 1 on breaking
    # changes, and the block goes on), k6's run last.
    assert re.search(r"plog\.yml: valid|is valid|OK", out), out[:2000]
    assert "0 added, 3 modified, 0 removed operations; **breaking**." in out
    assert "wrote /tmp/script.js" in out or Path("/tmp/script.js").is_file()
    assert process.returncode == 0, out[-3000:]  # k6 run: every threshold held
    assert re.search(r"checks_succeeded\.*: 100\.00%", out), out[-3000:]
