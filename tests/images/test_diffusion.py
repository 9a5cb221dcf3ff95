"""The generator (rewardshift.images.diffusion): DDPM pretraining, saving, DDIM as a policy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

from rewardshift._exceptions import InputError  # noqa: E402
from rewardshift.images.diffusion import (  # noqa: E402
    DiffusionConfig,
    build_unet,
    ddim_scheduler,
    ddim_step_gaussian,
    gaussian_log_prob,
    images_to_tensor,
    load_scheduler,
    load_unet,
    pretrain_unet,
    sample_images,
    tensor_to_images,
)

TINY = DiffusionConfig(image_size=16, block_out_channels=(8, 16), norm_num_groups=4,
                       num_train_timesteps=100, train_steps=4, batch_size=8, warmup_steps=2)


def _discs(n: int, seed: int) -> np.ndarray:
    """uint8 (n, 16, 16, 3): one flat-coloured disc per image on a black ground."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:16, :16]
    cy, cx, rad = rng.uniform(4, 12, n), rng.uniform(4, 12, n), rng.uniform(2, 5, n)
    inside = (yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2 < rad[:, None, None] ** 2
    colour = rng.integers(80, 256, (n, 3))
    return (inside[..., None] * colour[:, None, None, :]).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_unet():
    torch.manual_seed(0)
    return build_unet(TINY).eval()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread: tiny models on a shared 2-core machine run ~10x faster than with 2."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_config_checks_its_fields():
    with pytest.raises(InputError, match="norm_num_groups"):
        DiffusionConfig(block_out_channels=(12, 16), norm_num_groups=8)
    with pytest.raises(InputError, match="multiple"):
        DiffusionConfig(image_size=6, block_out_channels=(8, 8, 8), norm_num_groups=4)
    with pytest.raises(InputError, match="sample_steps"):
        DiffusionConfig(num_train_timesteps=10, sample_steps=20)
    assert DiffusionConfig.from_dict(TINY.to_dict()) == TINY


def test_tensor_round_trip_is_exact():
    imgs = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    x = images_to_tensor(imgs)
    assert x.shape == (3, 3, 16, 16) and float(x.min()) >= -1 and float(x.max()) <= 1
    np.testing.assert_array_equal(tensor_to_images(x), imgs)
    with pytest.raises(InputError, match="uint8"):
        images_to_tensor(imgs.astype(np.float32))


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("steps", [5, 7])
def test_ddim_mean_matches_diffusers_step(eta, steps):
    """Our Gaussian's mean is DDIMScheduler.step's prev_sample with zero variance noise."""
    sched = ddim_scheduler(build_unet(TINY))
    sched.set_timesteps(steps)
    gen = torch.Generator().manual_seed(steps)
    for t in sched.timesteps:
        x = torch.randn((2, 3, 16, 16), generator=gen) * 1.5
        eps = torch.randn((2, 3, 16, 16), generator=gen)
        mu, sigma = ddim_step_gaussian(sched, eps, int(t), x, eta)
        ref = sched.step(eps, t, x, eta=eta, variance_noise=torch.zeros_like(x)).prev_sample
        torch.testing.assert_close(mu, ref, rtol=1e-5, atol=1e-5)
        var = sched._get_variance(int(t), int(t) - 100 // steps)
        assert sigma == pytest.approx(eta * float(var) ** 0.5, rel=1e-4)  # float32 there
        if eta > 0:
            assert sigma > 0  # every step of the chain is a proper Gaussian, the last included


def test_gaussian_log_prob_matches_torch_normal():
    gen = torch.Generator().manual_seed(1)
    mu, x = torch.randn((4, 3, 2, 2), generator=gen), torch.randn((4, 3, 2, 2), generator=gen)
    ref = torch.distributions.Normal(mu, 0.3).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_log_prob(x, mu, 0.3), ref)


def test_sampling_is_seeded_per_sample(tiny_unet):
    a = sample_images(tiny_unet, 5, seed=3, steps=4, batch_size=2)
    b = sample_images(tiny_unet, 3, seed=3, steps=4, batch_size=3)
    assert a.dtype == np.uint8 and a.shape == (5, 16, 16, 3)
    np.testing.assert_array_equal(a[:3], b)  # noise of sample i depends on (seed, i) only
    c = sample_images(tiny_unet, 5, seed=4, steps=4)
    assert not np.array_equal(a, c)
    d0 = sample_images(tiny_unet, 2, seed=3, steps=4, eta=0.0)
    d1 = sample_images(tiny_unet, 2, seed=3, steps=4, eta=0.0)
    np.testing.assert_array_equal(d0, d1)


def test_chain_log_probs_are_the_step_gaussians(tiny_unet):
    chain = sample_images(tiny_unet, 3, seed=5, steps=4, eta=1.0, return_chain=True)
    assert chain.latents.shape == (3, 5, 3, 16, 16) and chain.log_probs.shape == (3, 4)
    np.testing.assert_array_equal(chain.images,
                                  sample_images(tiny_unet, 3, seed=5, steps=4, eta=1.0))
    sched = ddim_scheduler(tiny_unet)
    sched.set_timesteps(4)
    torch.testing.assert_close(chain.timesteps, sched.timesteps)
    with torch.no_grad():
        for j, t in enumerate(chain.timesteps):
            x_t = chain.latents[:, j]
            mu, sigma = ddim_step_gaussian(sched, tiny_unet(x_t, t).sample, int(t), x_t, 1.0)
            lp = gaussian_log_prob(chain.latents[:, j + 1], mu, sigma)
            torch.testing.assert_close(lp, chain.log_probs[:, j], rtol=1e-4, atol=1e-2)


def test_save_and_reload_give_the_same_outputs(tiny_unet, tmp_path):
    tiny_unet.save_pretrained(str(tmp_path / "unet"))
    again = load_unet(tmp_path / "unet")
    x, t = torch.randn((2, 3, 16, 16)), torch.tensor([10, 90])
    with torch.no_grad():
        torch.testing.assert_close(again(x, t).sample, tiny_unet(x, t).sample, rtol=0, atol=0)
    np.testing.assert_array_equal(sample_images(again, 2, seed=1, steps=3),
                                  sample_images(tiny_unet, 2, seed=1, steps=3))
    with pytest.raises(InputError, match="config.json"):
        load_unet(tmp_path)


def test_pretraining_is_deterministic_and_saves_diffusers_folders(tmp_path):
    imgs = _discs(24, 0)
    a = pretrain_unet(imgs, TINY, tmp_path / "a", seed=11)
    b = pretrain_unet(imgs, TINY, tmp_path / "b", seed=11)
    assert [r["loss"] for r in a.log] == [r["loss"] for r in b.log]
    assert len(a.log) == TINY.train_steps and np.isfinite(a.final_loss)
    ua, ub = load_unet(a.unet_path), load_unet(b.unet_path)
    for pa, pb in zip(ua.parameters(), ub.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    sched = load_scheduler(a.scheduler_path)
    assert sched.config.num_train_timesteps == TINY.num_train_timesteps
    assert (tmp_path / "a" / "diffusion_config.json").is_file()
    c = pretrain_unet(imgs, TINY, tmp_path / "c", seed=12)
    assert [r["loss"] for r in c.log] != [r["loss"] for r in a.log]
    with pytest.raises(InputError, match="16x16"):
        pretrain_unet(np.zeros((2, 8, 8, 3), np.uint8), TINY, tmp_path / "d", seed=0)


def test_pretraining_lowers_the_loss(tmp_path):
    cfg = dataclasses.replace(TINY, train_steps=150, batch_size=32, learning_rate=3e-3)
    res = pretrain_unet(_discs(256, 1), cfg, tmp_path, seed=0)
    first = np.mean([r["loss"] for r in res.log[:10]])
    assert res.final_loss < 0.6 * first
