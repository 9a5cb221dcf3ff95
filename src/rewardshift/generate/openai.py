"""The OpenAI-compatible HTTP backend: vLLM, SGLang, llama.cpp and the OpenAI API itself.

Standard library only (``urllib`` and a thread pool), so it adds no dependency.

One request per prompt asks for all ``n`` samples (``n=config.n``); servers that do not honour
``n`` are refused with a clear error, and ``split_n=True`` sends ``n`` requests of one sample
each instead. ``GenerationConfig.chat`` picks the endpoint: ``/completions`` (raw prompt) or
``/chat/completions`` (the prompt as a user message, after the optional system message).

Every request carries ``seed = sample_seed(config.seed, prompt_id, 0)`` (with ``split_n``,
sample ``j`` carries ``sample_seed(config.seed, prompt_id, j)``), so a server that honours
seeds returns the same samples for the same config whatever the concurrency; whether it does
is the server's business (vLLM does per request; see the tests for llama.cpp).

Failures, per request:

* 429, 408 and 5xx statuses, refused or dropped connections, timeouts and a body that is not
  JSON are retried up to ``max_retries`` times, waiting ``min(max_backoff, backoff * 2**a)``
  seconds (times a random factor in [0.5, 1]) before retry ``a + 1``, or the server's
  ``Retry-After`` when it gives one (capped at ``max_backoff``);
* any other 4xx is answered at once with :class:`ServerError` carrying the server's message;
* when a request finally fails, the whole call raises (no partial result is returned, so no
  sample is silently lost); a retried request replaces its failed attempt, so none is doubled.

The API key is read from the environment variable ``api_key_env`` at each request and sent as
``Authorization: Bearer ...``; it is never stored on the backend, and it is scrubbed from every
log record and error message.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.generate.base import (
    GenerationConfig,
    GenerationError,
    Prompt,
    ServerError,
    check_prompts,
    sample_seed,
)
from rewardshift.samples import Sample

__all__ = ["OpenAIBackend"]

logger = logging.getLogger("rewardshift.generate")

_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_REDACTED = "***"
_MAX_MESSAGE = 300  # characters of a server's error body quoted in an exception


@dataclass(frozen=True)
class _Request:
    """One HTTP request: which prompt, which sample indices it answers, and its body."""

    prompt_id: str
    prompt: str
    first_index: int
    n: int
    seed: int
    body: dict[str, Any]


class _Retryable(Exception):
    """An attempt failed in a way worth retrying; ``reason`` is safe to log."""

    def __init__(self, reason: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retry_after = reason, status, retry_after


class OpenAIBackend:
    """Generate through an OpenAI-compatible server.

    Parameters
    ----------
    base_url : the API root, e.g. ``"http://127.0.0.1:8000/v1"``; endpoints are appended.
    model : the ``model`` field of each request (the name the server serves).
    api_key_env : environment variable holding the API key, read at each request; when it is
        unset or empty no ``Authorization`` header is sent (local servers need none). ``None``
        never sends a key.
    max_concurrency : requests in flight at once.
    timeout : seconds to wait on connecting and on each read before the attempt fails.
    max_retries : retries of one request after its first attempt (0 = no retry).
    backoff, max_backoff : first and largest wait between retries, seconds.
    split_n : send ``n`` one-sample requests per prompt instead of one request with ``n``.
    source : the samples' ``source``; default ``model``.
    """

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = "OPENAI_API_KEY",
                 max_concurrency: int = 4, timeout: float = 60.0, max_retries: int = 4,
                 backoff: float = 0.5, max_backoff: float = 30.0, split_n: bool = False,
                 source: str | None = None) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InputError(f"base_url={_scrub_url(base_url)!r} must be an http(s) URL such as "
                             "'http://127.0.0.1:8000/v1'")
        if parsed.username or parsed.password:
            raise InputError("base_url must not carry credentials; put the API key in the "
                             f"environment variable named by api_key_env ({api_key_env!r})")
        for name, value, low in (("max_concurrency", max_concurrency, 1),
                                 ("max_retries", max_retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name}={value!r} must be an integer >= {low}")
        for name, seconds in (("timeout", timeout), ("backoff", backoff),
                              ("max_backoff", max_backoff)):
            if not (isinstance(seconds, (int, float)) and math.isfinite(seconds)
                    and seconds >= 0):
                raise InputError(f"{name}={seconds!r} must be a finite number of seconds >= 0")
        if not timeout > 0:
            raise InputError(f"timeout={timeout!r} must be > 0 seconds")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.max_concurrency, self.timeout, self.max_retries = max_concurrency, timeout, max_retries
        self.backoff, self.max_backoff, self.split_n = backoff, max_backoff, split_n
        self.source = source or model

    def __repr__(self) -> str:
        return (f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key_env={self.api_key_env!r}, source={self.source!r})")

    def to_dict(self) -> dict[str, Any]:
        """The settings, for ``config.json`` (names the key's variable, never the key)."""
        return {"backend": "openai", "base_url": self.base_url, "model": self.model,
                "api_key_env": self.api_key_env, "max_concurrency": self.max_concurrency,
                "timeout": self.timeout, "max_retries": self.max_retries,
                "backoff": self.backoff, "max_backoff": self.max_backoff,
                "split_n": self.split_n, "source": self.source}

    # ------------------------------------------------------------------ generate

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[Sample]:
        """``config.n`` samples of each prompt, prompt-major (see the module docstring).

        Raises
        ------
        InputError
            for malformed prompts.
        ServerError
            when a request fails after its retries, or the server answers in a shape that is
            not the OpenAI API (naming the URL, the status and the server's message).
        """
        pairs = check_prompts(prompts)
        path = "/chat/completions" if config.chat else "/completions"
        requests = []
        for pid, prompt in pairs:
            if self.split_n:
                requests += [self._request(pid, prompt, j, 1, config) for j in range(config.n)]
            else:
                requests.append(self._request(pid, prompt, 0, config.n, config))
        answers = self._run_all(path, requests)
        out: list[Sample] = []
        for req, answer in zip(requests, answers, strict=True):
            out += self._samples(path, req, answer, config)
        return out

    def _request(self, pid: str, prompt: str, first: int, n: int,
                 config: GenerationConfig) -> _Request:
        seed = sample_seed(config.seed, pid, first)
        body: dict[str, Any] = {"model": self.model, "max_tokens": config.max_new_tokens,
                                "temperature": config.temperature, "top_p": config.top_p,
                                "n": n, "seed": seed}
        if config.chat:
            messages = [{"role": "user", "content": prompt}]
            if config.system_prompt is not None:
                messages.insert(0, {"role": "system", "content": config.system_prompt})
            body["messages"] = messages
            if config.logprobs:
                body["logprobs"] = True
                body["top_logprobs"] = config.top_logprobs
        else:
            body["prompt"] = prompt
            if config.logprobs:
                # the completions API gives the chosen tokens' logprobs only with logprobs >= 1
                body["logprobs"] = max(config.top_logprobs, 1)
        return _Request(pid, prompt, first, n, seed, body)

    def _run_all(self, path: str, requests: Sequence[_Request]) -> list[dict[str, Any]]:
        """Send every request (``max_concurrency`` at once); answers in request order."""
        stop = threading.Event()
        workers = min(self.max_concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rewardshift-http") as ex:
            futures = [ex.submit(self._post, path, r.body, stop) for r in requests]
            try:
                return [f.result() for f in futures]
            except BaseException:
                stop.set()  # in-flight requests give up at their next retry
                for f in futures:
                    f.cancel()
                raise

    def _samples(self, path: str, req: _Request, answer: Mapping[str, Any],
                 config: GenerationConfig) -> list[Sample]:
        url = self.base_url + path
        choices = answer.get("choices") if isinstance(answer, Mapping) else None
        if not isinstance(choices, list) or not all(isinstance(c, Mapping) for c in choices):
            raise ServerError(f"{url}: the answer has no 'choices' list; is this an "
                              "OpenAI-compatible endpoint?", url=url, status=200)
        if len(choices) != req.n:
            hint = (" The server may ignore n: use OpenAIBackend(..., split_n=True)."
                    if req.n > 1 else "")
            raise ServerError(f"{url}: asked for n={req.n} samples of prompt {req.prompt_id!r}, "
                              f"got {len(choices)}.{hint}", url=url, status=200)
        choices = sorted(choices, key=lambda c: c.get("index", 0))
        out = []
        for j, choice in enumerate(choices):
            text = _choice_text(choice, config.chat, url)
            total, top = _choice_logprobs(choice, config, url)
            meta = {"sample_index": req.first_index + j,
                    "finish_reason": choice.get("finish_reason"), "seed": req.seed}
            out.append(Sample(text=text, prompt_id=req.prompt_id, prompt=req.prompt,
                              logprob=total, top_logprobs=top, source=self.source, meta=meta))
        return out

    # ------------------------------------------------------------------ score

    def score(self, prompts: Sequence[str], completions: Sequence[str],
              config: GenerationConfig | None = None) -> np.ndarray:
        """Not available: the OpenAI API has no portable way to score a given completion.

        Raises
        ------
        GenerationError
            always; score with the transformers backend on the same weights instead.
        """
        raise GenerationError("the OpenAI-compatible backend cannot score given completions "
                              "(the API has no portable way); use the samples' own logprob, "
                              "or TransformersBackend on the same weights")

    # ------------------------------------------------------------------ HTTP

    def _post(self, path: str, body: Mapping[str, Any], stop: threading.Event) -> dict[str, Any]:
        """POST ``body`` as JSON with retries; the decoded JSON answer."""
        url = self.base_url + path
        data = json.dumps(body).encode("utf-8")
        attempt = 0
        while True:
            key = os.environ.get(self.api_key_env) if self.api_key_env else None
            try:
                return self._attempt(url, data, key or None)
            except _Retryable as err:
                if attempt >= self.max_retries or stop.is_set():
                    raise ServerError(_scrub(f"{url}: {err.reason}; gave up after "
                                             f"{attempt + 1} attempt(s). {_hint(err.status)}",
                                             key), url=url, status=err.status) from None
                wait = min(self.max_backoff, self.backoff * 2 ** attempt) * random.uniform(0.5, 1)
                if err.retry_after is not None:
                    wait = min(self.max_backoff, err.retry_after)
                attempt += 1
                logger.warning("%s", _scrub(f"{url}: {err.reason}; retry {attempt}/"
                                            f"{self.max_retries} in {wait:.2f} s", key))
                if stop.wait(wait):
                    raise ServerError(f"{url}: cancelled after another request failed", url=url,
                                      status=err.status) from None

    def _attempt(self, url: str, data: bytes, key: str | None) -> dict[str, Any]:
        """One POST. Raises :class:`_Retryable` or :class:`ServerError` (not retried)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            status = e.code
            message = _server_message(e, key)
            if status in _RETRY_STATUS:
                raise _Retryable(f"HTTP {status} {message}", status=status,
                                 retry_after=_retry_after(e.headers)) from None
            raise ServerError(_scrub(f"{url}: HTTP {status} {message} (not retried: the "
                                     f"request itself was refused). {_hint(status)}", key),
                              url=url, status=status) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, TimeoutError):
                raise _Retryable(f"no answer within timeout={self.timeout} s") from None
            if isinstance(reason, ConnectionRefusedError):
                raise _Retryable("connection refused; is the server running on this "
                                 "address?") from None
            raise _Retryable(f"cannot connect ({reason})") from None
        except TimeoutError:
            raise _Retryable(f"no answer within timeout={self.timeout} s") from None
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise _Retryable(f"connection failed ({type(e).__name__}: {e})") from None
        try:
            answer = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            start = _scrub(raw.decode("utf-8", "replace"), key)[:80]
            raise _Retryable(f"malformed JSON in the answer ({e}); body starts "
                             f"{start!r}") from None
        if not isinstance(answer, dict):
            raise ServerError(f"{url}: expected a JSON object, got {type(answer).__name__}",
                              url=url, status=200)
        return answer


# --------------------------------------------------------------------------- parsing


def _choice_text(choice: Mapping[str, Any], chat: bool, url: str) -> str:
    if chat:
        message = choice.get("message")
        text = message.get("content") if isinstance(message, Mapping) else None
        if text is None and isinstance(message, Mapping):
            text = ""  # a refusal or tool call carries no content
    else:
        text = choice.get("text")
    if not isinstance(text, str):
        field = "message.content" if chat else "text"
        raise ServerError(f"{url}: a choice has no string '{field}'; is this the right endpoint "
                          f"for chat={chat}?", url=url, status=200)
    return text


def _choice_logprobs(choice: Mapping[str, Any], config: GenerationConfig, url: str
                     ) -> tuple[float | None, tuple[dict[str, float], ...] | None]:
    """``(total logprob, per-token top-k dicts)`` of one choice, ``None`` where not given.

    Completions: ``logprobs = {tokens, token_logprobs, top_logprobs: [{tok: lp}]}``. Chat:
    ``logprobs = {content: [{token, logprob, top_logprobs: [{token, logprob}]}]}``.
    """
    if not config.logprobs:
        return None, None
    lp = choice.get("logprobs")
    if not isinstance(lp, Mapping):
        logger.warning("%s: the server returned no logprobs; Sample.logprob is left empty", url)
        return None, None
    if config.chat:
        content = lp.get("content") or []
        chosen = [c.get("logprob") for c in content if isinstance(c, Mapping)]
        tops = [{t["token"]: t["logprob"] for t in (c.get("top_logprobs") or [])
                 if isinstance(t, Mapping) and "token" in t}
                for c in content if isinstance(c, Mapping)]
    else:
        chosen = list(lp.get("token_logprobs") or [])
        tops = [dict(t) if isinstance(t, Mapping) else {} for t in (lp.get("top_logprobs") or [])]
    values = [v for v in chosen if isinstance(v, (int, float)) and not isinstance(v, bool)]
    # an empty completion (the model stopped at once) has total 0 over its returned tokens
    total = float(sum(values)) if len(values) == len(chosen) else None
    if total is not None and not (math.isfinite(total) and total <= 1e-6):
        logger.warning("%s: the server returned an invalid total logprob %r; left empty", url,
                       total)
        total = None
    elif total is not None:
        total = min(total, 0.0)
    top = None
    if config.top_logprobs:
        k = config.top_logprobs
        top = tuple(_top_k(t, k) for t in tops)
        if not top or not all(top):
            top = None
    return total, top


def _top_k(entries: Mapping[str, Any], k: int) -> dict[str, float]:
    """The ``k`` largest finite entries, most likely first."""
    finite = [(str(t), float(v)) for t, v in entries.items()
              if isinstance(v, (int, float)) and math.isfinite(v)]
    finite.sort(key=lambda tv: -tv[1])
    return dict(finite[:k])


# --------------------------------------------------------------------------- helpers


def _server_message(err: urllib.error.HTTPError, key: str | None) -> str:
    """The server's error message (``error.message`` of an OpenAI error body) or reason.

    The key is scrubbed before the message is shortened, so no fragment of it survives.
    """
    try:
        raw = err.read(4096)
    except OSError:
        raw = b""
    text = raw.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, Mapping):
        inner = obj.get("error", obj)
        msg = inner.get("message") if isinstance(inner, Mapping) else inner
        msg = msg if msg is not None else obj.get("detail")
        if msg is not None:
            text = str(msg)
    text = _scrub(" ".join(text.split()), key)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "..."
    return f"{err.reason}: {text}" if text else str(err.reason)


def _retry_after(headers: Any) -> float | None:
    value: Any = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _hint(status: int | None) -> str:
    if status in (401, 403):
        return ("Check the API key: it is read from the environment variable named by "
                "api_key_env.")
    if status == 404:
        return "Check base_url (it usually ends in /v1) and the model name."
    if status == 429:
        return "The server is rate-limiting: lower max_concurrency or raise max_retries."
    if status is None:
        return "Check that the server is up and reachable, or raise timeout / max_retries."
    if status >= 500:
        return "The server failed; see its log."
    return "Check the request settings (model name, max_tokens, logprobs, n)."


def _scrub(text: str, key: str | None) -> str:
    """``text`` with the API key (and anything that repeats it) replaced by ``***``."""
    if key:
        text = text.replace(key, _REDACTED)
    return text


def _scrub_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", f":{_REDACTED}@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url
