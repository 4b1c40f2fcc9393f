"""service.setup: the steps run in the side's tree before the service starts, their
result cached by the key files' hash, restored (not rerun) on an unchanged key, rerun
on a changed one; a failing or slow step is named with its last output lines.

The service is a real console script (``tinyserve``) pip installs from a wheel in the
repository (``--no-index``: no network) into a virtual environment made by setup; a
restore must leave ``.venv/bin/tinyserve`` and ``.venv/bin/python`` working after the
tree setup ran in is gone.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import httpx
import pytest

from plog_ci.config.model import ServiceConfig, SetupCache
from plog_ci.config.parse import parse_config
from plog_ci.deploy import setup
from plog_ci.deploy.process import Replicas
from plog_ci.errors import ConfigError, ServiceError
from plog_ci.redaction import register_secret

SERVER = """\
import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"tinyserve ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    port = int(os.environ["PORT"])
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def _wheel(folder: Path) -> Path:
    """A pure-Python wheel of ``tinyserve`` 1.0 with a console script (PEP 427)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tinyserve-1.0-py3-none-any.whl"
    files = {
        "tinyserve/__init__.py": SERVER,
        "tinyserve-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinyserve\n"
        "Version: 1.0\n",
        "tinyserve-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
        "tinyserve-1.0.dist-info/entry_points.txt": "[console_scripts]\n"
        "tinyserve = tinyserve:main\n",
    }
    record = []
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            data = text.encode()
            archive.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
        record.append("tinyserve-1.0.dist-info/RECORD,,")
        archive.writestr("tinyserve-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _wheel(tmp_path_factory.mktemp("wheels") / "wheels")


def _tree(root: Path, wheel: Path, requirements: str = "tinyserve\n") -> Path:
    """An exported tree: the wheel and the requirements file that names it."""
    shutil.copytree(wheel.parent, root / "wheels")
    (root / "requirements.txt").write_text(requirements)
    return root


STEPS: tuple[str | tuple[str, ...], ...] = (
    # Counts the runs of setup, in a file outside the tree (${MARK}: from service.env).
    ("python", "-c", "import sys; open(sys.argv[1], 'a').write('x')", "${MARK}"),
    "python -m venv --without-pip .venv",
    "python -m pip --python .venv/bin/python install --quiet --no-index --find-links wheels "
    "-r requirements.txt",
)


def _service(mark: Path, cache: bool = True, **changes: object) -> ServiceConfig:
    fields: dict[str, object] = {
        "run": ".venv/bin/tinyserve",
        "env": (("MARK", str(mark)),),
        "setup": STEPS,
        "setup_cache": SetupCache(("requirements.txt", "wheels/*.whl"), (".venv",))
        if cache
        else None,
        "startup_timeout_s": 20.0,
    }
    fields.update(changes)
    return ServiceConfig(**fields)  # type: ignore[arg-type]


def _serve(service: ServiceConfig, tree: Path, logs: Path) -> str:
    """Start the side as measure does, check it answers, stop it; its answer."""
    logs.mkdir(exist_ok=True)
    with Replicas(service, tree, logs / "head.log", 1) as side:
        side.wait_healthy()
        return httpx.get(side.processes[0].base_url + "/health", timeout=5).text


def test_setup_cached_restored_and_rerun_on_a_changed_key(
    tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLOG_HOME", str(tmp_path / "home"))
    mark = tmp_path / "runs"
    stages: list[str] = []
    service = _service(mark)
    with setup.reporting(tmp_path / "home", stages.append):
        first = _tree(tmp_path / "first", wheel)
        assert _serve(service, first, tmp_path / "logs") == "tinyserve ok"
        assert mark.read_text() == "x"
        assert stages[0].startswith("Setup 1/3: python -c")
        assert stages[1] == "Setup 2/3: python -m venv --without-pip .venv"
        # The tree setup ran for is gone: the restored scripts must not point into it.
        shutil.rmtree(first)
        second = _tree(tmp_path / "second", wheel)
        stages.clear()
        assert _serve(service, second, tmp_path / "logs") == "tinyserve ok"
        assert mark.read_text() == "x"  # restored, not rerun
        assert len(stages) == 1 and stages[0].startswith("Setup: .venv restored from the cache")
        python = subprocess.run(
            [str(second / ".venv/bin/python"), "-c", "import tinyserve, sys; print(sys.prefix)"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert python.stdout.strip().endswith(".venv")
        # A changed key file: setup runs again.
        third = _tree(tmp_path / "third", wheel, "tinyserve  # pinned later\n")
        assert _serve(service, third, tmp_path / "logs") == "tinyserve ok"
        assert mark.read_text() == "xx"
    entries = [p for p in (tmp_path / "home" / "setup-cache").iterdir() if p.is_dir()]
    assert len(entries) == 2
    # Only the cached path is kept in an entry.
    assert sorted(p.name for p in (entries[0] / "tree").iterdir()) == [".venv"]


def test_setup_without_cache_runs_in_the_tree_every_time(tmp_path: Path, wheel: Path) -> None:
    mark = tmp_path / "runs"
    service = _service(mark, cache=False, setup=STEPS[:2], run="python -m http.server {port}")
    for name in ("a", "b"):
        tree = _tree(tmp_path / name, wheel)
        _serve(service, tree, tmp_path / "logs")
        assert (tree / ".venv" / "bin" / "python").exists()
        assert not (tree / ".venv").is_symlink()
    assert mark.read_text() == "xx"


def test_a_failing_step_names_itself_its_status_and_last_lines(tmp_path: Path) -> None:
    register_secret("s3cr3t-value-42")
    script = (
        "import os, sys\nfor i in range(40): print('line', i)\n"
        "print(os.environ['API_TOKEN'])\nsys.exit(3)"
    )
    service = ServiceConfig(
        run="python -m http.server {port}",
        env=(("API_TOKEN", "s3cr3t-value-42"),),
        setup=("python -c pass", ("python", "-c", script)),
        setup_cache=SetupCache(("run.txt",), ("out",)),
    )
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "run.txt").write_text("1")
    with setup.reporting(tmp_path / "home", lambda text: None):
        with pytest.raises(ServiceError) as caught:
            Replicas(service, tmp_path / "tree", tmp_path / "head.log", 1)
    message = caught.value.message
    assert message.startswith("service.setup[1] (python -c 'import os, sys…) exited with status 3")
    assert "exited with status 3" in message
    assert "line 39" in message and "line 19" not in message  # the last 20 lines
    assert "s3cr3t-value-42" not in message and "***" in message
    assert "s3cr3t" not in (tmp_path / "head-setup.log").read_text()
    # A failed build leaves no entry behind: the next run tries again.
    assert [p for p in (tmp_path / "home" / "setup-cache").iterdir() if p.is_dir()] == []


def test_a_slow_step_is_stopped_at_setup_timeout(tmp_path: Path) -> None:
    service = ServiceConfig(
        run="python -m http.server {port}",
        setup=("python -c 'import time; print(\"waiting\", flush=True); time.sleep(30)'",),
        setup_timeout_s=1.0,
    )
    (tmp_path / "tree").mkdir()
    with pytest.raises(ServiceError) as caught:
        Replicas(service, tmp_path / "tree", tmp_path / "head.log", 1)
    assert "service.setup[0]" in caught.value.message
    assert "still running after 1s, stopped" in caught.value.message
    assert "setup_timeout" in (caught.value.hint or "")


def test_setup_errors_for_what_cannot_work(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    env = dict(os.environ)
    missing = ServiceConfig(run="x", setup=("no-such-tool-plog --x",))
    with pytest.raises(ServiceError, match=r"service.setup\[0\] .*'no-such-tool-plog' was not"):
        setup.prepare(missing, tree, env, 1, tmp_path / "s.log")
    unset = ServiceConfig(run="x", setup=("python -c pass ${NOT_SET_PLOG}",))
    with pytest.raises(ConfigError, match=r"service.setup\[0\]: \$\{NOT_SET_PLOG\} is not set"):
        setup.prepare(unset, tree, {}, 1, tmp_path / "s.log")
    nokey = ServiceConfig(
        run="x", setup=("python -c pass",), setup_cache=SetupCache(("req*.txt",), (".venv",))
    )
    with setup.reporting(tmp_path / "home", lambda text: None):
        with pytest.raises(ConfigError, match=r"'req\*\.txt' matches no file"):
            setup.prepare(nokey, tree, env, 1, tmp_path / "s.log")
        (tree / "requirements.txt").write_text("x")
        with pytest.raises(ServiceError, match=r"setup created no '\.venv'"):
            setup.prepare(nokey, tree, env, 1, tmp_path / "s.log")


def test_the_key_covers_steps_files_and_trust(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("flask\n")
    cache = SetupCache(("requirements.txt",), (".venv",))
    service = ServiceConfig(run="x", setup=("python -m venv .venv",), setup_cache=cache)
    key = setup.cache_key(service, cache, tmp_path)
    assert key == setup.cache_key(service, cache, tmp_path)
    other = ServiceConfig(run="x", setup=("python -m venv  .venv2",), setup_cache=cache)
    assert setup.cache_key(other, cache, tmp_path) != key
    # A fork's run (secrets withheld) never fills an entry a trusted run restores.
    assert setup.cache_key(service, cache, tmp_path, trusted=False) != key
    (tmp_path / "requirements.txt").write_text("flask==3\n")
    assert setup.cache_key(service, cache, tmp_path) != key


def test_eviction_keeps_the_newest_and_the_held(tmp_path: Path) -> None:
    import fcntl

    root = tmp_path / "cache"
    for index in range(5):
        entry = root / f"k{index}"
        (entry / "tree").mkdir(parents=True)
        (entry / "complete").touch()
        os.utime(entry / "complete", (1000.0 + index, 1000.0 + index))
    with open(root / "k0.lock", "ab") as held:
        fcntl.flock(held, fcntl.LOCK_SH)
        removed = setup.evict(root, keep=2)
    assert sorted(removed) == ["k1", "k2"]
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["k0", "k3", "k4"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "  setup_cache: {key: [requirements.txt], paths: [.venv]}\n",
            "plog.yml:4:3: service.setup_cache: there is no service.setup to cache",
        ),
        (
            "  setup: ['python -m venv .venv']\n  setup_cache: {key: [../secrets], paths: [.]}\n",
            "plog.yml:5:23: service.setup_cache.key[0]: '../secrets' leaves the repository",
        ),
        (
            "  setup: ['python -m venv .venv']\n  setup_timeout: 0s\n",
            "plog.yml:5:18: service.setup_timeout: must be longer than 0",
        ),
        (
            '  setup: ["python -c \'x"]\n',
            "plog.yml:4:11: service.setup[0]: cannot split",
        ),
    ],
)
def test_setup_config_problems_name_the_key_and_line(text: str, expected: str) -> None:
    doc = "version: 1\nservice:\n  run: x\n" + text + "openapi: openapi.yaml\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(doc)
    assert caught.value.errors[0].startswith(expected), caught.value.errors


def test_setup_config_reads_into_the_model() -> None:
    config = parse_config(
        "version: 1\nservice:\n  run: .venv/bin/gunicorn app:app\n  setup:\n"
        "    - python -m venv .venv\n    - [.venv/bin/pip, install, -r, requirements.txt]\n"
        "  setup_cache: {key: [requirements.txt], paths: [.venv]}\n  setup_timeout: 2m\n"
        "openapi: openapi.yaml\n"
    )
    assert config.service.setup == (
        "python -m venv .venv",
        (".venv/bin/pip", "install", "-r", "requirements.txt"),
    )
    assert config.service.setup_cache == SetupCache(("requirements.txt",), (".venv",))
    assert config.service.setup_timeout_s == 120.0
    assert parse_config("version: 1\nservice: {run: x}\nopenapi: o.yaml\n").service.setup == ()


def test_head_and_base_with_one_key_share_the_entry(
    tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Side by side, the base's setup has the head's key while the head holds the entry
    (it deadlocked once: an exclusive lock asked while the same run held it shared)."""
    import signal

    mark = tmp_path / "runs"
    service = _service(mark)
    head_tree, base_tree = _tree(tmp_path / "head", wheel), _tree(tmp_path / "base", wheel)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the base waited on the head's lock"))
    signal.alarm(60)
    try:
        with setup.reporting(tmp_path / "home", lambda text: None):
            with Replicas(service, head_tree, tmp_path / "head.log", 1) as head:
                with Replicas(service, base_tree, tmp_path / "base.log", 1) as base:
                    head.wait_healthy()
                    base.wait_healthy()
    finally:
        signal.alarm(0)
    assert mark.read_text() == "x"  # built once, restored for the base
