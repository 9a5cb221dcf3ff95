"""Tuning the generator (rewardshift.images.tune): DDPO, Diffusion-DPO and best-of-n."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

from rewardshift._exceptions import InputError  # noqa: E402
from rewardshift.images.diffusion import (  # noqa: E402
    DiffusionConfig,
    load_unet,
    pretrain_unet,
    sample_images,
)
from rewardshift.images.tune import (  # noqa: E402
    DDPOConfig,
    DiffusionDPOConfig,
    best_of_n,
    ddpo,
    diffusion_dpo,
    dpo_preference_stats,
)

from .test_diffusion import _one_thread  # noqa: E402, F401  (the autouse one-thread fixture)

SIZE = 8


def _squares(n: int, seed: int, levels=(60, 200)) -> np.ndarray:
    """uint8 (n, 8, 8, 3): a grey square of a random level, place and side on a dark ground."""
    rng = np.random.default_rng(seed)
    out = np.full((n, SIZE, SIZE, 3), 20, np.uint8)
    level = rng.choice(levels, n)
    corner = rng.integers(0, SIZE // 2, (n, 2))
    side = rng.integers(2, SIZE // 2 + 1, n)
    for i in range(n):
        (a, b), w = corner[i], side[i]
        out[i, a:a + w, b:b + w] = level[i]
    return out


def brightness(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float64).mean(axis=(1, 2, 3)) / 255.0


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny 8x8 UNet pretrained for a few seconds on bright and dark squares."""
    cfg = DiffusionConfig(image_size=SIZE, block_out_channels=(8, 16), norm_num_groups=4,
                          num_train_timesteps=100, train_steps=80, batch_size=32,
                          learning_rate=3e-3)
    res = pretrain_unet(_squares(256, 0), cfg, tmp_path_factory.mktemp("base"), seed=0)
    return load_unet(res.unet_path)


def _params(unet) -> list:
    return [p.detach().clone() for p in unet.parameters()]


def _unchanged(unet, before) -> bool:
    return all(torch.equal(a, b) for a, b in zip(before, unet.parameters(), strict=True))


# --------------------------------------------------------------------------- best-of-n


def test_best_of_n_exact_expectation_equals_monte_carlo():
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, (40, 4, 4, 3), dtype=np.uint8)
    rewards = rng.normal(size=40)
    res = best_of_n(pool, rewards, 5, seed=1, draws=20_000)
    assert res.weights.sum() == pytest.approx(1.0)
    se = res.rewards.std() / math.sqrt(len(res.rewards))
    assert abs(res.rewards.mean() - res.expected_reward) < 4 * se
    np.testing.assert_array_equal(res.images, pool[res.indices])
    np.testing.assert_array_equal(res.rewards, rewards[res.indices])
    assert np.all(res.rewards >= np.sort(rewards)[4])  # the best of 5 beats 4 others at least
    freq = np.bincount(res.indices, minlength=40) / 20_000
    assert np.abs(freq - res.weights).max() < 0.02
    g = rng.normal(size=40)  # any per-image function, e.g. a gold score
    assert res.expectation(g) == pytest.approx(float(res.weights @ g))


def test_best_of_n_limits_and_errors():
    pool = np.zeros((6, 4, 4, 3), np.uint8)
    r = np.array([0.3, 2.0, -1.0, 0.5, 0.1, 1.0])
    assert best_of_n(pool, r, 1, seed=0).expected_reward == pytest.approx(r.mean())
    full = best_of_n(pool, r, 6, seed=0)
    assert full.expected_reward == pytest.approx(2.0) and list(full.indices) == [1]
    assert len(best_of_n(pool, r, 2, seed=0).indices) == 3  # N // n disjoint groups
    a, b = best_of_n(pool, r, 2, seed=5, draws=9), best_of_n(pool, r, 2, seed=5, draws=9)
    np.testing.assert_array_equal(a.indices, b.indices)
    with pytest.raises(InputError, match="pool size"):
        best_of_n(pool, r, 7, seed=0)
    with pytest.raises(InputError, match="one finite reward"):
        best_of_n(pool, r[:3], 2, seed=0)


# --------------------------------------------------------------------------- DDPO


def test_ddpo_config_checks():
    with pytest.raises(InputError, match="eta"):
        DDPOConfig(eta=0.0)
    with pytest.raises(InputError, match="batch_size"):
        DDPOConfig(batch_size=1)
    assert DDPOConfig.from_dict(DDPOConfig().to_dict()) == DDPOConfig()


def test_ddpo_raises_the_reward_and_leaves_the_base(base):
    before = _params(base)
    cfg = DDPOConfig(iterations=6, batch_size=32, train_batch_size=32, steps=4,
                     learning_rate=3e-3)  # +0.03..+0.12 over 3 bases x 2 seeds
    tuned, log = ddpo(base, brightness, cfg, seed=0)
    assert _unchanged(base, before) and tuned is not base
    assert len(log) == 6 and {"reward_mean", "reward_std", "approx_kl", "clip_frac",
                              "kl_to_base", "loss"} <= set(log[0])
    assert log[0]["kl_to_base"] == pytest.approx(0.0, abs=1e-6)  # on-policy, from the base
    assert log[-1]["kl_to_base"] > 0
    # the same 128 seeds through base and tuned
    r_base = brightness(sample_images(base, 128, seed=99, steps=4))
    r_tuned = brightness(sample_images(tuned, 128, seed=99, steps=4))
    assert r_tuned.mean() > r_base.mean() + 0.01
    again, log2 = ddpo(base, brightness, cfg, seed=0)
    assert [r["reward_mean"] for r in log2] == [r["reward_mean"] for r in log]


def test_ddpo_kl_penalty_keeps_the_chain_near_the_base(base):
    cfg = DDPOConfig(iterations=3, batch_size=8, train_batch_size=8, steps=4,
                     learning_rate=3e-3)
    _, free = ddpo(base, brightness, cfg, seed=1)
    _, held = ddpo(base, brightness, dataclasses.replace(cfg, kl_coef=20.0), seed=1)
    assert held[-1]["kl_to_base"] < free[-1]["kl_to_base"]


def test_ddpo_clips_off_policy_minibatches(base):
    cfg = DDPOConfig(iterations=1, batch_size=8, train_batch_size=4, inner_epochs=2, steps=3,
                     learning_rate=3e-3, clip_range=1e-6)
    _, log = ddpo(base, brightness, cfg, seed=2)
    assert 0.0 < log[0]["clip_frac"] <= 1.0  # the first minibatch is on-policy, later ones not
    with pytest.raises(InputError, match="one finite number per image"):
        ddpo(base, lambda im: np.zeros(3), cfg, seed=0)


# --------------------------------------------------------------------------- Diffusion-DPO


def test_diffusion_dpo_learns_the_preference(base):
    winners, losers = _squares(64, 1, levels=(230,)), _squares(64, 2, levels=(40,))
    held_w, held_l = _squares(32, 3, levels=(230,)), _squares(32, 4, levels=(40,))
    cfg = DiffusionDPOConfig(steps=30, batch_size=16, beta=2000.0, learning_rate=1e-3)
    start = dpo_preference_stats(base, base, held_w, held_l, beta=cfg.beta, seed=0)
    assert start["loss"] == pytest.approx(math.log(2)) and start["accuracy"] == 0.5
    before = _params(base)
    tuned, log = diffusion_dpo(base, base, winners, losers, cfg, seed=0)
    assert _unchanged(base, before) and len(log) == 30
    assert log[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    end = dpo_preference_stats(tuned, base, held_w, held_l, beta=cfg.beta, seed=0)
    assert end["loss"] < start["loss"] - 0.05 and end["accuracy"] > 0.7
    with pytest.raises(InputError, match="pair up"):
        diffusion_dpo(base, base, winners, losers[:3], cfg, seed=0)
