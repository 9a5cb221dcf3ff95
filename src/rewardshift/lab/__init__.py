"""The controlled RLHF laboratory (DESIGN.md, "lab").

Worlds with a known ground truth (:mod:`~rewardshift.lab.world`, :mod:`~rewardshift.lab.worlds`),
biased raters (:mod:`~rewardshift.lab.raters`), reward models
(:mod:`~rewardshift.lab.reward_model`), the weighted pool every closed-form optimiser re-weights
(:mod:`~rewardshift.lab.pool`), the optimisers themselves — KL-regularised tilt and best-of-n
(:mod:`~rewardshift.lab.optimize`) — and the analyses of what they did: over-optimisation fits,
per-axis bias shift, lost edge cases (:mod:`~rewardshift.lab.analysis`).

Import the submodules directly; this package imports nothing heavy on its own.
"""
