"""The OpenAI-compatible HTTP client against a scripted loopback server (fault injection)."""

from __future__ import annotations

import logging
import time

import pytest

from rewardshift import InputError
from rewardshift.generate import GenerationConfig, OpenAIBackend, ServerError, sample_seed
from rewardshift.samples import read_samples, write_samples

PROMPTS = [("p0", "alpha"), ("p1", "beta"), ("p2", "gamma"), ("p3", "delta")]
KEY = "sk-rewardshift-test-0123456789abcdef"


def backend(url: str, **kw) -> OpenAIBackend:
    kw = {"max_retries": 3, "backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0, **kw}
    return OpenAIBackend(url, "tiny", **kw)


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def texts(samples):
    return [(s.prompt_id, s.meta["sample_index"], s.text) for s in samples]


# --------------------------------------------------------------------------- the happy path


def test_completions_fields_order_and_request_body(fake_server):
    cfg = GenerationConfig(n=3, max_new_tokens=7, temperature=0.7, top_p=0.9, seed=5,
                           top_logprobs=2)
    samples = backend(fake_server.url).generate(PROMPTS[:2], cfg)
    assert [(s.prompt_id, s.meta["sample_index"]) for s in samples] == [
        ("p0", 0), ("p0", 1), ("p0", 2), ("p1", 0), ("p1", 1), ("p1", 2)]
    seed = sample_seed(5, "p0", 0)
    assert samples[1].text == f"alpha|seed={seed}|i=1"  # choices sorted by index
    assert samples[0].meta == {"sample_index": 0, "finish_reason": "length", "seed": seed}
    assert samples[0].logprob == pytest.approx(-0.75)
    assert samples[0].top_logprobs == ({"a": -0.5, "b": -1.0}, {"c": -0.25, "d": -2.0})
    assert samples[0].source == "tiny" and samples[0].prompt == "alpha"
    assert samples[0].token_ids is None  # the standard API gives no ids
    path, headers, body = fake_server.requests[0]
    assert path == "/v1/completions"
    assert "Authorization" not in headers  # no key in the environment: none sent
    assert {k: body[k] for k in ("model", "max_tokens", "temperature", "top_p", "n",
                                 "logprobs")} == {"model": "tiny", "max_tokens": 7,
                                                  "temperature": 0.7, "top_p": 0.9, "n": 3,
                                                  "logprobs": 2}
    assert len(fake_server.requests) == 2  # one request per prompt, n samples each


def test_chat_endpoint_system_prompt_and_logprobs(fake_server):
    cfg = GenerationConfig(n=2, chat=True, system_prompt="Be brief.", top_logprobs=2)
    samples = backend(fake_server.url).generate([("q", "hello")], cfg)
    path, _, body = fake_server.requests[0]
    assert path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "hello"}]
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    assert [s.text.split("|")[-1] for s in samples] == ["i=0", "i=1"]
    assert samples[0].logprob == pytest.approx(-0.75)
    assert samples[0].top_logprobs == ({"a": -0.5, "b": -1.0}, {"c": -0.25, "d": -2.0})


def test_without_logprobs_nothing_is_asked_or_recorded(fake_server):
    cfg = GenerationConfig(logprobs=False)
    (s,) = backend(fake_server.url).generate(["x"], cfg)
    assert "logprobs" not in fake_server.requests[0][2]
    assert s.logprob is None and s.top_logprobs is None


def test_total_logprob_without_top_k_asks_for_one(fake_server):
    (s,) = backend(fake_server.url).generate(["x"], GenerationConfig())
    assert fake_server.requests[0][2]["logprobs"] == 1
    assert s.logprob == pytest.approx(-0.75) and s.top_logprobs is None


def test_same_seed_same_samples_whatever_the_concurrency_and_order(fake_server):
    cfg = GenerationConfig(n=2, seed=3)
    one = backend(fake_server.url, max_concurrency=1).generate(PROMPTS, cfg)
    many = backend(fake_server.url, max_concurrency=4).generate(PROMPTS, cfg)
    rev = backend(fake_server.url, max_concurrency=4).generate(PROMPTS[::-1], cfg)
    assert one == many
    assert sorted(texts(rev)) == sorted(texts(one))
    other = backend(fake_server.url).generate(PROMPTS, GenerationConfig(n=2, seed=4))
    assert texts(other) != texts(one)


def test_split_n_sends_one_request_per_sample_with_its_own_seed(fake_server):
    cfg = GenerationConfig(n=3, seed=1)
    samples = backend(fake_server.url, split_n=True).generate([("p", "x")], cfg)
    bodies = [b for _, _, b in fake_server.requests]
    assert sorted(b["seed"] for b in bodies) == sorted(sample_seed(1, "p", j) for j in range(3))
    assert all(b["n"] == 1 for b in bodies)
    assert [s.meta["sample_index"] for s in samples] == [0, 1, 2]
    assert [s.meta["seed"] for s in samples] == [sample_seed(1, "p", j) for j in range(3)]
    # n=1 asks exactly the same with or without split_n
    a = backend(fake_server.url).generate([("p", "x")], GenerationConfig(seed=1))
    assert a == samples[:1]


# --------------------------------------------------------------------------- faults


def test_429_then_success_loses_and_doubles_nothing(fake_server, caplog):
    fake_server.plan("beta", "429", "429")
    fake_server.plan("delta", "503")
    cfg = GenerationConfig(n=3)
    with caplog.at_level(logging.WARNING, logger="rewardshift.generate"):
        samples = backend(fake_server.url, max_concurrency=4).generate(PROMPTS, cfg)
    assert [(s.prompt_id, s.meta["sample_index"]) for s in samples] == [
        (pid, j) for pid, _ in PROMPTS for j in range(3)]
    assert len(set(texts(samples))) == 12
    assert fake_server.count("beta") == 3 and fake_server.count("delta") == 2
    assert fake_server.count("alpha") == 1
    assert sum("HTTP 429" in r.getMessage() for r in caplog.records) == 2
    clean = backend(fake_server.url).generate(PROMPTS, cfg)
    assert samples == clean  # a retried request gives what an unretried one gives


@pytest.mark.parametrize("fault", ["500", "malformed", "drop", "slow"])
def test_transient_faults_are_retried(fake_server, fault):
    fake_server.plan("beta", fault)
    b = backend(fake_server.url, timeout=0.3 if fault == "slow" else 5.0)
    samples = b.generate(PROMPTS[:2], GenerationConfig(n=2))
    assert len(samples) == 4 and fake_server.count("beta") == 2
    assert samples[2].text.startswith("beta|")


def test_timeout_gives_a_clear_error(fake_server):
    fake_server.plan("alpha", "slow", "slow")
    t0 = time.perf_counter()
    with pytest.raises(ServerError, match=r"no answer within timeout=0.2 s; gave up after 2 "
                                          r"attempt\(s\)") as info:
        backend(fake_server.url, timeout=0.2, max_retries=1).generate(["alpha"],
                                                                       GenerationConfig())
    assert time.perf_counter() - t0 < fake_server.slow_seconds * 2
    assert info.value.status is None and info.value.url == fake_server.url + "/completions"
    assert fake_server.url in str(info.value)


def test_malformed_json_every_time_gives_a_clear_error(fake_server):
    fake_server.plan("alpha", *["malformed"] * 3)
    with pytest.raises(ServerError, match=r"malformed JSON in the answer .*gave up after 3"):
        backend(fake_server.url, max_retries=2).generate(["alpha"], GenerationConfig())


def test_persistent_429_names_the_fix(fake_server):
    fake_server.plan("alpha", *["429"] * 3)
    with pytest.raises(ServerError, match="rate-limiting: lower max_concurrency") as info:
        backend(fake_server.url, max_retries=2).generate(["alpha"], GenerationConfig())
    assert info.value.status == 429 and "try later (429)" in str(info.value)


@pytest.mark.parametrize(("fault", "status", "text"), [
    ("400", 400, "max_tokens is too large"), ("401", 401, "Check the API key")])
def test_4xx_is_not_retried_and_quotes_the_server(fake_server, fault, status, text):
    fake_server.plan("alpha", fault)
    with pytest.raises(ServerError, match=text) as info:
        backend(fake_server.url).generate(["alpha"], GenerationConfig())
    assert info.value.status == status
    assert fake_server.count("alpha") == 1


def test_connection_refused(free_port):
    url = f"http://127.0.0.1:{free_port}/v1"
    with pytest.raises(ServerError, match=r"connection refused; is the server running.*gave up "
                                          r"after 2 attempt\(s\)") as info:
        backend(url, max_retries=1).generate(["alpha"], GenerationConfig())
    assert info.value.status is None


def test_too_few_choices_points_to_split_n(fake_server):
    fake_server.plan("alpha", "few")
    with pytest.raises(ServerError, match=r"asked for n=3 .*got 1.*split_n=True"):
        backend(fake_server.url).generate(["alpha"], GenerationConfig(n=3))


def test_an_answer_that_is_not_the_openai_api(fake_server):
    fake_server.plan("alpha", "not-openai")
    with pytest.raises(ServerError, match="no 'choices' list"):
        backend(fake_server.url).generate(["alpha"], GenerationConfig())
    assert fake_server.count("alpha") == 1


def test_one_failed_request_fails_the_call(fake_server):
    fake_server.plan("gamma", "400")
    with pytest.raises(ServerError, match="HTTP 400"):
        backend(fake_server.url, max_concurrency=2).generate(PROMPTS, GenerationConfig())


# --------------------------------------------------------------------------- the API key


def test_api_key_is_sent_but_never_logged_raised_or_written(fake_server, monkeypatch, caplog,
                                                            tmp_path):
    from rewardshift.rundir import RunDir

    b = backend(fake_server.url, max_retries=1)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # read at call time, after construction
    fake_server.plan("alpha", "echo-key-500", "echo-key-401")
    fake_server.plan("beta", "echo-key-500")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ServerError) as info:
            b.generate([("a", "alpha")], GenerationConfig())
        samples = b.generate([("b", "beta")], GenerationConfig(top_logprobs=2))
    assert all(h["Authorization"] == f"Bearer {KEY}" for _, h, _ in fake_server.requests)
    assert "bad key: Bearer ***" in str(info.value)  # the server's message, scrubbed
    assert "bad key: Bearer ***" in caplog.text  # the retry warning, scrubbed
    run = RunDir.create(tmp_path, "run")
    run.write_config({"backend": b.to_dict(), "generation": GenerationConfig().to_dict()})
    run.write_samples(samples)
    write_samples(samples, tmp_path / "samples.jsonl")
    read_samples(tmp_path / "samples.jsonl")
    leaks = [str(info.value), repr(info.value.args), repr(b), str(b.to_dict()), str(vars(b)),
             caplog.text, *(str(r.args) for r in caplog.records)]
    leaks += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*")
              if p.is_file()]
    assert not [t for t in leaks if KEY in t or KEY[:12] in t]


def test_no_key_variable_sends_no_key(fake_server, monkeypatch):
    monkeypatch.setenv("MY_KEY", KEY)
    backend(fake_server.url, api_key_env=None).generate(["x"], GenerationConfig())
    backend(fake_server.url, api_key_env="MY_KEY").generate(["y"], GenerationConfig())
    headers = [h.get("Authorization") for _, h, _ in fake_server.requests]
    assert headers == [None, f"Bearer {KEY}"]


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(("url", "kw", "match"), [
    ("127.0.0.1:8000/v1", {}, "must be an http"),
    (f"http://user:{KEY}@127.0.0.1/v1", {}, "must not carry credentials"),
    ("http://127.0.0.1/v1", {"max_concurrency": 0}, "max_concurrency=0"),
    ("http://127.0.0.1/v1", {"timeout": 0}, "timeout=0"),
    ("http://127.0.0.1/v1", {"max_retries": -1}, "max_retries=-1"),
])
def test_bad_arguments(url, kw, match):
    with pytest.raises(InputError, match=match) as info:
        OpenAIBackend(url, "m", **kw)
    assert KEY not in str(info.value)


def test_score_is_refused_with_a_pointer():
    from rewardshift.generate import GenerationError

    with pytest.raises(GenerationError, match="TransformersBackend"):
        OpenAIBackend("http://127.0.0.1:1/v1", "m").score(["a"], ["b"])
