"""Deprecated alias: scoring moved to :mod:`rewardshift.generate.scoring` (removed in 0.3)."""

import warnings

from rewardshift.generate.scoring import (
    MAX_LOGITS,
    Encoded,
    encode_pairs,
    ids_logprobs,
    pad_batch,
    sequence_logprobs,
)

warnings.warn("rewardshift.lm.scoring moved to rewardshift.generate.scoring", DeprecationWarning,
              stacklevel=2)

__all__ = ["Encoded", "MAX_LOGITS", "encode_pairs", "ids_logprobs", "pad_batch",
           "sequence_logprobs"]
