"""A fake OpenAI-compatible server on loopback that holds every request to OpenAI's
published API description and answers what the test scripts.

Only ``POST {prefix}/chat/completions`` exists (anything else: 404). Each request
body is checked against ``CreateChatCompletionRequest`` (``testing.openai_spec``);
a body that breaks it is answered 400 and its errors kept in ``problems``, so a
client bug fails the test. Each 200 answer is checked against
``CreateChatCompletionResponse`` before it is sent (a scripted answer that OpenAI's
schema refuses is a bug of the test).

Answers (``FakeOpenAI.script``, taken in order; ``default`` when it is empty):

- ``Reply(content=...)``: a completion whose message content is that text;
  ``Reply.claims([...])`` writes ``{"claims": [...]}``;
- ``Reply(finish_reason="length")``: an answer cut at max_tokens;
- ``Reply(refusal="...")``: a refusal;
- ``Reply(status=500, error_body=...)``: an HTTP error with that body;
- ``Reply(hang=True)``: nothing until the server stops (the client must give up);
- a callable ``(request body) -> Reply``: an answer built from the request (the
  evidence ids the bundle holds: ``evidence_lines``).

``requests`` keeps ``(time.monotonic(), headers (names in lower case), body)``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testing.openai_spec import request_errors, response_errors


@dataclass(frozen=True)
class Reply:
    content: str | None = None
    finish_reason: str = "stop"
    refusal: str | None = None
    status: int = 200
    error_body: str = ""
    hang: bool = False

    @classmethod
    def claims(cls, claims: list[dict[str, Any]]) -> Reply:
        return cls(content=json.dumps({"claims": claims}))


Answer = Reply | Callable[[dict[str, Any]], Reply]


def evidence_lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The evidence items the request's user message carries (its JSON lines)."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    inside = user.split("<evidence>\n", 1)[1].split("\n</evidence>", 1)[0]
    return [json.loads(line) for line in inside.splitlines()]


def completion(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": reply.finish_reason,
                "logprobs": None,
                "message": {
                    "role": "assistant",
                    "content": reply.content,
                    "refusal": reply.refusal,
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


@dataclass
class FakeOpenAI:
    url: str = ""  # the base URL a client is given (…/v1)
    script: list[Answer] = field(default_factory=list)
    default: Answer = field(default_factory=lambda: Reply.claims([]))
    requests: list[tuple[float, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            answer = self.script.pop(0) if self.script else self.default
        return answer(body) if callable(answer) else answer


def _handler(fake: FakeOpenAI, prefix: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet tests
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            error = {"message": message, "type": "invalid_request_error", "code": None}
            self._send(status, json.dumps({"error": error}).encode())

        def do_GET(self) -> None:
            self._error(404, "not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path != f"{prefix}/chat/completions":
                self._error(404, f"no route {self.path}")
                return
            try:
                body = json.loads(raw)
            except ValueError:
                fake.problems.append("the body is not JSON")
                self._error(400, "the body is not JSON")
                return
            with fake.lock:
                fake.requests.append(
                    (time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body)
                )
            errors = request_errors(body)
            if errors:
                fake.problems.extend(errors)
                self._error(400, "; ".join(errors)[:2000])
                return
            reply = fake.next_answer(body)
            if reply.hang:
                fake.stopping.wait()
                return
            if reply.status != 200:
                self._send(reply.status, reply.error_body.encode())
                return
            answer = completion(reply, str(body["model"]))
            wrong = response_errors(answer)
            if wrong:  # the test scripted an answer OpenAI's schema refuses
                fake.problems.extend(f"scripted answer: {e}" for e in wrong)
                self._error(500, "scripted answer breaks the schema")
                return
            self._send(200, json.dumps(answer).encode())

    return Handler


@contextmanager
def fake_openai(prefix: str = "/v1") -> Iterator[FakeOpenAI]:
    """A running fake on 127.0.0.1 (see the module doc), stopped on exit."""
    fake = FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake, prefix))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
