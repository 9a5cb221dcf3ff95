"""The image world (tracker issue 11): breakage scenes, their renderer, pixel measures, a CNN.

* :mod:`~rewardshift.images.scenes` -- latents from a known physical distribution and their
  exact log-density (the gold);
* :mod:`~rewardshift.images.render` -- a vectorised numpy renderer to ``uint8 (N, H, W, 3)``;
* :mod:`~rewardshift.images.measures` -- physical and perceptual axes from pixels alone;
* :mod:`~rewardshift.images.cnn` -- a small torch CNN regressor (needs the ``images`` extra).

torch is imported only by :mod:`~rewardshift.images.cnn`; import it directly.
"""

from __future__ import annotations

from rewardshift.images.measures import measure_images
from rewardshift.images.render import render
from rewardshift.images.scenes import (
    AXES,
    LATENTS,
    STAGES,
    SceneConfig,
    Scenes,
    process_stage,
    sample_scenes,
    scene_log_density,
)

__all__ = ["AXES", "LATENTS", "STAGES", "SceneConfig", "Scenes", "measure_images",
           "process_stage", "render", "sample_scenes", "scene_log_density"]
