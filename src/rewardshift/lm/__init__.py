"""Real preference tuning of small language models: a text world with a known distribution.

:mod:`rewardshift.lm.grammar` is a stochastic grammar of short texts (customer reviews and
descriptions of an object breaking) whose every text can be sampled, recognised, parsed back to
its attributes and given its exact probability.
"""
