"""The image reward model: Bradley–Terry on pairs, held-out accuracy near the noise ceiling."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rewardshift._exceptions import InputError  # noqa: E402
from rewardshift.images.reward import (  # noqa: E402
    ImageRewardConfig,
    ImageRewardModel,
    fit_image_reward,
    noise_ceiling,
)


def _data(n: int = 400, pairs: int = 1500, seed: int = 0):
    """Images whose brightness the raters like, noisy Bradley–Terry labels."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0, 1, n)
    noise = rng.normal(0, 20, (n, 16, 16, 3))
    images = np.clip(level[:, None, None, None] * 200 + 25 + noise, 0, 255).astype(np.uint8)
    a, b = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    keep = a != b
    a, b = a[keep], b[keep]
    p = 1 / (1 + np.exp(-(level[a] - level[b]) * 6))
    first = rng.random(len(a)) < p
    return images, np.where(first, a, b), np.where(first, b, a), p, level


def test_learns_what_raters_like_up_to_their_noise():
    torch.set_num_threads(1)
    images, chosen, rejected, p, level = _data()
    model = fit_image_reward(images, chosen, rejected, ImageRewardConfig(epochs=6, seed=0))
    ceiling = noise_ceiling(p)
    assert 0.6 < model.heldout_accuracy <= ceiling + 0.06, (model.heldout_accuracy, ceiling)
    rho = np.corrcoef(model.score(images), level)[0, 1]
    assert rho > 0.8, rho


def test_same_seed_same_model_and_save_load(tmp_path):
    torch.set_num_threads(1)
    images, chosen, rejected, _, _ = _data(120, 300)
    cfg = ImageRewardConfig(epochs=2, seed=3)
    a = fit_image_reward(images, chosen, rejected, cfg)
    b = fit_image_reward(images, chosen, rejected, cfg)
    assert np.array_equal(a.score(images), b.score(images))
    back = ImageRewardModel.load(a.save(tmp_path / "rm"))
    assert np.allclose(back.score(images), a.score(images))
    assert back.heldout_accuracy == a.heldout_accuracy


def test_bad_input_is_a_clear_error(tmp_path):
    images, chosen, rejected, _, _ = _data(50, 100)
    with pytest.raises(InputError, match="uint8"):
        fit_image_reward(images.astype(float), chosen, rejected)
    with pytest.raises(InputError, match="lie in"):
        fit_image_reward(images, chosen + 1000, rejected)
    with pytest.raises(InputError, match="no image reward model"):
        ImageRewardModel.load(tmp_path)
    assert noise_ceiling(np.array([0.5, 0.9])) == pytest.approx(0.7)
