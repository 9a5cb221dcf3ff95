"""The CNN regressor: it reads latents the analytic measures read crudely; save/load; seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from rewardshift.images import measure_images, render, sample_scenes  # noqa: E402
from rewardshift.images.cnn import ImageRegressor, fit_regressor  # noqa: E402

NAMES = {"fragment_count": "fragment_count", "asymmetry": "asymmetry", "progress": "progress"}


def _targets(s):
    d = s.as_dict()
    return {k: np.log(d[k]) if k == "fragment_count" else d[k] for k in NAMES}


def test_cnn_beats_the_analytic_measures(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train, test = sample_scenes(2000, seed=0), sample_scenes(500, seed=1)
    x_test = render(test)
    reg = fit_regressor(render(train), _targets(train), seed=0, epochs=6)
    pred, crude = reg.predict(x_test), measure_images(x_test)
    truth = test.as_dict()
    rho = {k: (stats.spearmanr(pred[k], truth[k])[0], stats.spearmanr(crude[a], truth[k])[0])
           for k, a in NAMES.items()}
    msg = ", ".join(f"{k}: cnn {c:.3f} vs analytic {a:.3f}" for k, (c, a) in rho.items())
    assert rho["fragment_count"][0] > 0.7 and rho["progress"][0] > 0.55, msg
    assert all(c > a for c, a in rho.values()), msg
    feats = reg.features(x_test[:10])
    assert feats.shape == (10, reg.config.hidden)
    back = ImageRegressor.load(reg.save(tmp_path / "cnn"))
    for k, v in back.predict(x_test[:10]).items():
        np.testing.assert_allclose(v, pred[k][:10], rtol=1e-6, atol=1e-9)


def test_same_seed_same_regressor():
    torch.set_num_threads(1)
    s = sample_scenes(128, seed=2)
    x, y = render(s), _targets(s)
    calls = []
    a = fit_regressor(x, y, seed=3, epochs=2, progress=lambda *c: calls.append(c))
    b = fit_regressor(x, y, seed=3, epochs=2)
    for k in NAMES:
        np.testing.assert_array_equal(a.predict(x[:8])[k], b.predict(x[:8])[k])
    assert calls == [("cnn: epoch", 1, 2), ("cnn: epoch", 2, 2)]
