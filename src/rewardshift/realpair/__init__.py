"""A matched real base/tuned pair made here (Gemma 3 270M + biased raters + TRL DPO with LoRA).

See :mod:`rewardshift.realpair.run` for the pipeline, :mod:`rewardshift.realpair.raters` for
the raters and :mod:`rewardshift.realpair.convert` for the base model.
"""

from rewardshift._deprecated import moved
from rewardshift.realpair.convert import PACKAGED_GEMMA, gguf_to_transformers, packaged_gemma_gguf
from rewardshift.realpair.raters import RealRaters, label_pairs, pair_summary, trim_to_sentence
from rewardshift.realpair.run import MadePair, RealPairConfig, make_real_pair, training_prompts

__all__ = ["MadePair", "PACKAGED_GEMMA", "RealPairConfig", "RealRaters", "gguf_to_transformers",
           "label_pairs", "make_real_pair", "packaged_gemma_gguf", "pair_summary",
           "training_prompts", "trim_to_sentence"]

__getattr__ = moved(__name__, {"run_real_pair": "rewardshift.jobs.realpair"})
