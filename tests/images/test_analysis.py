"""The image analyses on measures with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from rewardshift._exceptions import InputError
from rewardshift.images.analysis import axis_shift, edge_case_recall, iconic_mean, shift_contrast

KINDS = {"symmetry": "perceptual", "asymmetry": "physical"}


def _sets(seed: int = 0, n: int = 600):
    rng = np.random.default_rng(seed)
    ref = {"symmetry": rng.normal(0, 1, n), "asymmetry": rng.normal(0, 1, n)}
    tuned = {"symmetry": rng.normal(1, 0.3, n), "asymmetry": rng.normal(-0.2, 0.95, n)}
    return ref, tuned


def test_axis_shift_and_contrast_find_the_narrowed_perceptual_axis():
    ref, tuned = _sets()
    rows = {r["axis"]: r for r in axis_shift(ref, tuned, KINDS, n_boot=100)}
    s = rows["symmetry"]
    assert s["log_variance_ratio"] == pytest.approx(np.log(0.09), abs=0.2)
    assert s["log_variance_ratio_ci"][1] < 0 and s["mean_shift_sd_ci"][0] > 0.8
    c = shift_contrast(ref, tuned, KINDS, n_boot=100)
    assert c["holds"] and c["contrast"]["ci"][1] < 0
    same = shift_contrast(ref, ref, KINDS, n_boot=50)
    assert same["contrast"]["value"] == 0 and not same["holds"]


def test_edge_case_recall_and_iconic_mean():
    ref, tuned = _sets()
    cut = np.quantile(ref["asymmetry"], 0.9)
    rec = edge_case_recall(ref, tuned, {"asymmetric": lambda m: m["asymmetry"] > cut},
                           n_boot=100)["asymmetric"]
    assert rec["share_truth"] == pytest.approx(0.1, abs=0.01)
    assert rec["recall"] < 1 and rec["recall_ci"][0] <= rec["recall"] <= rec["recall_ci"][1]
    im = iconic_mean(ref, tuned, ["symmetry", "asymmetry"])
    assert im["z"][0] == pytest.approx(1.0, abs=0.15) and im["distance"] > 0.9
    with pytest.raises(InputError, match="holds none"):
        edge_case_recall(ref, tuned, {"never": lambda m: m["asymmetry"] > 1e9})


def test_seeded_intervals_repeat_and_bad_input_is_clear():
    ref, tuned = _sets(n=100)
    assert axis_shift(ref, tuned, KINDS, n_boot=30, seed=2) == axis_shift(
        ref, tuned, KINDS, n_boot=30, seed=2)
    with pytest.raises(InputError, match="lacks the measured axes"):
        axis_shift({"symmetry": ref["symmetry"]}, tuned, KINDS)
    with pytest.raises(InputError, match="perceptual and one physical"):
        shift_contrast(ref, tuned, {"symmetry": "perceptual"})
