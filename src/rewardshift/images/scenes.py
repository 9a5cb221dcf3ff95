"""Breakage scenes: a glass pane hit by an impact, with latents from a known physical law.

The image world's ground truth (tracker issue 11). A scene is a handful of latents; the
renderer (:mod:`rewardshift.images.render`) turns them into pixels and
:func:`scene_log_density` is their exact log-density, the world's *gold*: physical
plausibility. The laws reuse those of the feature-vector shatter world
(:mod:`rewardshift.lab.worlds.shatter`, whose docstring cites every source); the pane is its
glass material.

Latents and their distribution (all independent unless a condition is written)
-----------------------------------------------------------------------------
* ``impact_r`` in ``[0, impact_max)``: the impact point's distance from the pane centre in
  half-widths, uniform over a disc, ``p(r) = 2 r / r_max^2`` -- a centred hit is rare
  (``P(r < 0.2 r_max) = 4 %``); ``impact_phi`` its direction, uniform on ``[-pi, pi)``.
* ``energy`` [J]: ``log E ~ N(log E_med, sd)`` truncated below at the glass threshold
  ``E_c`` (Griffith: a pane that did not break is not a breakage scene).
* ``impact_angle`` [deg] from the normal: ``p(theta) = sin(2 theta)``, truncated at
  ``angle_max_deg`` (isotropic impactors; Gilbert 1893, Shoemaker 1962).
* ``asymmetry | theta ~ N(gain sin(theta), asymmetry_sd)`` truncated to ``[0, 1]``: the skew
  of the crack star and the debris cone from the tangential momentum of an oblique hit;
  ``skew_phi`` its direction, uniform.
* ``size_exponent | E ~ N(tau_m + 0.1 log(E / E_c), exponent_sd)`` truncated to
  ``[1.2, 2.0]``: fragment sizes ``n(s) ~ s^(-tau)``, ``tau_m = 1.5`` for a plate (Astrom 2006;
  Oddershede et al. 1993), slowly rising with energy (Sator et al. 2008).
* ``progress ~ Beta(2, 3)``: how far the breakage has gone, 0 = onset (cracks in an intact
  pane), 1 = rest; most frames are transitional (:data:`STAGES`).
* ``light ~ Beta(4, 4)`` (mean brightness), ``contrast ~ Beta(3, 3)`` (pane against
  background), ``clutter ~ Beta(2, 2)`` (background texture), ``hue ~ U(0, 1)`` (background
  colour), ``pattern ~ U(0, 1)`` (the phase of the crack pattern's jitter).

Derived (deterministic in ``energy``, no density of their own): ``radial_cracks =
clip(round(n_r x^(1/4)), 3, 16)`` (Vandenberghe et al. 2013), the Grady count ``2 + N0 (x -
1)^(2/3)`` with ``x = E / E_c`` (Grady 1982), ``rings = clip(round(count / radial), 1, 8)``
concentric cracks, and ``fragment_count = radial_cracks * rings``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from rewardshift._exceptions import InputError
from rewardshift.config import Config
from rewardshift.lab.worlds.shatter import MATERIALS, ShatterConfig

__all__ = ["AXES", "LATENTS", "STAGES", "SceneConfig", "Scenes", "process_stage",
           "sample_scenes", "scene_log_density"]

_SHATTER = ShatterConfig()
_GLASS = MATERIALS[0]
_N0 = 8.0               # Grady fragment-count prefactor (as in the shatter world)
_GRADY = 2.0 / 3.0      # Grady 1982 energy-balance exponent for a plate
_RADIAL_EXP = 0.25      # radial cracks ~ E^(1/4) (Vandenberghe, Vermorel & Villermaux 2013)
_TAU_RANGE = (1.2, 2.0)
_LOG_2PI = math.log(2.0 * math.pi)

#: Process stages by progress: (name, lower bound); a frame belongs to the last bound below it.
STAGES: tuple[tuple[str, float], ...] = (("onset", 0.0), ("transition", 0.1),
                                          ("scatter", 0.6), ("rest", 0.9))

#: The measured axes (:func:`rewardshift.images.measures.measure_images`): kind and meaning.
AXES: dict[str, tuple[str, str]] = {
    "fragment_count": ("physical", "number of fragments (connected components)"),
    "size_slope": ("physical", "fragment-size power-law exponent tau, n(s) ~ s^-tau"),
    "asymmetry": ("physical", "skew of the crack star about the impact, 0..1"),
    "progress": ("physical", "how far fragments have dispersed (log spread / area)"),
    "symmetry": ("perceptual", "mirror symmetry of the frame, 0..1 (1: symmetric)"),
    "contrast": ("perceptual", "global RMS contrast of the luminance, 0..~0.5"),
    "clarity": ("perceptual", "silhouette clarity: foreground/background separation, 0..1"),
    "centredness": ("perceptual", "1 - distance of the foreground centroid from the centre"),
}


@dataclass(frozen=True)
class SceneConfig(Config):
    """The physical distribution of breakage scenes (see the module docstring for each law)."""

    energy_median_j: float = field(default=_SHATTER.energy_median_j, metadata={
        "help": "median impact energy [J] before truncation at the glass threshold"})
    energy_log_sd: float = field(default=_SHATTER.energy_log_sd, metadata={
        "help": "sd of log E"})
    impact_max: float = field(default=0.75, metadata={
        "help": "largest impact offset from the pane centre, in half-widths (0, 1]"})
    angle_max_deg: float = field(default=_SHATTER.angle_max_deg, metadata={
        "help": "truncation of the sin(2 theta) angle law [deg], in (0, 90)"})
    asymmetry_gain: float = field(default=0.9, metadata={
        "help": "asymmetry per unit sin(theta) (the shatter world's gain)"})
    asymmetry_sd: float = field(default=0.08, metadata={"help": "scatter of asymmetry"})
    exponent_sd: float = field(default=0.1, metadata={
        "help": "scatter of the size exponent (Oddershede et al. 1993 span 1.3-1.9)"})
    progress_ab: tuple[float, float] = field(default=(2.0, 3.0), metadata={
        "help": "Beta parameters of progress: most frames transitional"})
    light_ab: tuple[float, float] = field(default=(4.0, 4.0), metadata={
        "help": "Beta parameters of the mean brightness"})
    contrast_ab: tuple[float, float] = field(default=(3.0, 3.0), metadata={
        "help": "Beta parameters of the pane/background contrast"})
    clutter_ab: tuple[float, float] = field(default=(2.0, 2.0), metadata={
        "help": "Beta parameters of the background texture amplitude"})

    def __post_init__(self) -> None:
        positive = {"energy_median_j": self.energy_median_j, "energy_log_sd": self.energy_log_sd,
                    "asymmetry_sd": self.asymmetry_sd, "exponent_sd": self.exponent_sd,
                    "asymmetry_gain": self.asymmetry_gain}
        for name in ("progress_ab", "light_ab", "contrast_ab", "clutter_ab"):
            ab = getattr(self, name)
            if len(ab) != 2:
                raise InputError(f"SceneConfig {name}={ab!r} must be two Beta parameters (a, b)")
            positive.update({f"{name}[0]": ab[0], f"{name}[1]": ab[1]})
        for k, v in positive.items():
            if not v > 0:
                raise InputError(f"SceneConfig {k}={v!r} must be > 0")
        if not 0 < self.impact_max <= 1:
            raise InputError(f"SceneConfig impact_max={self.impact_max!r} must be in (0, 1]: "
                             "the impact lies on the pane")
        if not 0 < self.angle_max_deg < 90:
            raise InputError(f"SceneConfig angle_max_deg={self.angle_max_deg!r} must be in "
                             "(0, 90): the sin(2 theta) law vanishes at grazing incidence")


#: The sampled latents, in :class:`Scenes` field order.
LATENTS: tuple[str, ...] = ("impact_r", "impact_phi", "energy", "impact_angle", "asymmetry",
                            "skew_phi", "size_exponent", "progress", "light", "contrast",
                            "clutter", "hue", "pattern")


@dataclass(frozen=True)
class Scenes:
    """A batch of scenes: one 1-D float64 array per latent (:data:`LATENTS`), all length ``n``.

    ``radial_cracks``, ``rings`` and ``fragment_count`` are derived from ``energy``.
    """

    impact_r: np.ndarray
    impact_phi: np.ndarray
    energy: np.ndarray
    impact_angle: np.ndarray
    asymmetry: np.ndarray
    skew_phi: np.ndarray
    size_exponent: np.ndarray
    progress: np.ndarray
    light: np.ndarray
    contrast: np.ndarray
    clutter: np.ndarray
    hue: np.ndarray
    pattern: np.ndarray

    def __post_init__(self) -> None:
        lengths = {f.name: np.shape(getattr(self, f.name)) for f in dataclasses.fields(self)}
        if len(set(lengths.values())) != 1 or len(next(iter(lengths.values()))) != 1:
            raise InputError(f"Scenes latents must be 1-D arrays of one length, got shapes "
                             f"{lengths}")

    @property
    def n(self) -> int:
        """The number of scenes."""
        return len(self.energy)

    @property
    def radial_cracks(self) -> np.ndarray:
        """Radial cracks, ``clip(round(n_r x^(1/4)), 3, 16)`` with ``x = E / E_c``."""
        x = np.maximum(self.energy / _GLASS.threshold_j, 1.0)
        return np.clip(np.round(_GLASS.radial_base * x ** _RADIAL_EXP), 3, 16)

    @property
    def rings(self) -> np.ndarray:
        """Concentric cracks: the Grady count over the radial cracks, in ``[1, 8]``."""
        x = np.maximum(self.energy / _GLASS.threshold_j, 1.0)
        grady = 2.0 + _N0 * (x - 1.0) ** _GRADY
        return np.clip(np.round(grady / self.radial_cracks), 1, 8)

    @property
    def fragment_count(self) -> np.ndarray:
        """Fragments of the crack pattern: ``radial_cracks * rings``."""
        return self.radial_cracks * self.rings

    def as_dict(self) -> dict[str, np.ndarray]:
        """Every latent and the derived counts, by name."""
        out = {name: getattr(self, name) for name in LATENTS}
        out.update(radial_cracks=self.radial_cracks, rings=self.rings,
                   fragment_count=self.fragment_count)
        return out

    def take(self, idx: np.ndarray | list[int] | slice) -> Scenes:
        """The scenes at ``idx`` (any numpy index)."""
        return Scenes(**{name: np.atleast_1d(getattr(self, name)[idx]) for name in LATENTS})


def process_stage(progress: np.ndarray) -> np.ndarray:
    """Index into :data:`STAGES` of each progress value (0 onset ... 3 rest)."""
    bounds = np.array([b for _, b in STAGES[1:]])
    return np.searchsorted(bounds, np.asarray(progress, dtype=float), side="right")


# --------------------------------------------------------------------------- sampling


def _truncnorm(rng: np.random.Generator, mu: np.ndarray, sd: float, lo: float,
               hi: float) -> np.ndarray:
    """Inverse-CDF draws of N(mu, sd) truncated to [lo, hi]."""
    a, b = special.ndtr((lo - mu) / sd), special.ndtr((hi - mu) / sd)
    u = a + (b - a) * rng.random(np.shape(mu))
    return np.clip(mu + sd * special.ndtri(u), lo, hi)


def sample_scenes(n: int, *, seed: int | np.random.Generator,
                  config: SceneConfig | None = None) -> Scenes:
    """Draw ``n`` scenes from the physical distribution; the same seed gives the same scenes.

    Parameters
    ----------
    n : int, >= 1.
    seed : int or numpy Generator.
    config : SceneConfig, optional (defaults throughout).

    Examples
    --------
    >>> s = sample_scenes(4, seed=0)
    >>> s.n, bool((s.energy > 0.3).all())
    (4, True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n={n!r} scenes: give a whole number >= 1")
    c = config or SceneConfig()
    rng = np.random.default_rng(seed)
    n = int(n)
    r = c.impact_max * np.sqrt(rng.random(n))
    phi = rng.uniform(-math.pi, math.pi, n)
    log_e = _truncnorm(rng, np.full(n, math.log(c.energy_median_j)), c.energy_log_sd,
                       math.log(_GLASS.threshold_j), math.inf)
    tmax = math.radians(c.angle_max_deg)  # inverse CDF of sin(2 theta): (1 - cos 2t)/(1 - cos 2T)
    theta = 0.5 * np.arccos(1.0 - rng.random(n) * (1.0 - math.cos(2 * tmax)))
    asym = _truncnorm(rng, c.asymmetry_gain * np.sin(theta), c.asymmetry_sd, 0.0, 1.0)
    skew = rng.uniform(-math.pi, math.pi, n)
    tau = _truncnorm(rng, _tau_mean(log_e), c.exponent_sd, *_TAU_RANGE)
    betas = [rng.beta(*ab, n) for ab in (c.progress_ab, c.light_ab, c.contrast_ab, c.clutter_ab)]
    hue, pattern = rng.random(n), rng.random(n)
    return Scenes(impact_r=r, impact_phi=phi, energy=np.exp(log_e),
                  impact_angle=np.degrees(theta), asymmetry=asym, skew_phi=skew,
                  size_exponent=tau, progress=betas[0], light=betas[1], contrast=betas[2],
                  clutter=betas[3], hue=hue, pattern=pattern)


def _tau_mean(log_e: np.ndarray) -> np.ndarray:
    return _GLASS.size_exponent + 0.1 * (log_e - math.log(_GLASS.threshold_j))


# --------------------------------------------------------------------------- density


def _norm_logpdf(z: np.ndarray) -> np.ndarray:
    return -0.5 * z * z - 0.5 * _LOG_2PI


def _truncnorm_logpdf(x: np.ndarray, mu: np.ndarray, sd: float, lo: float,
                      hi: float) -> np.ndarray:
    mass = special.ndtr((hi - mu) / sd) - special.ndtr((lo - mu) / sd)
    inside = (x >= lo) & (x <= hi)
    with np.errstate(divide="ignore"):
        return np.where(inside, _norm_logpdf((x - mu) / sd) - math.log(sd) - np.log(mass),
                        -np.inf)


def _beta_logpdf(x: np.ndarray, ab: tuple[float, float]) -> np.ndarray:
    a, b = ab
    inside = (x > 0) & (x < 1)
    xs = np.clip(x, 1e-300, 1 - 1e-16)
    return np.where(inside, (a - 1) * np.log(xs) + (b - 1) * np.log1p(-xs) - special.betaln(a, b),
                    -np.inf)


def _uniform_logpdf(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.where((x >= lo) & (x <= hi), -math.log(hi - lo), -np.inf)


def scene_log_density(scenes: Scenes, config: SceneConfig | None = None) -> np.ndarray:
    """Exact log-density of each scene under the physical distribution (the gold), ``(n,)``.

    Coordinates: ``impact_r``, ``impact_phi``, ``log E``, ``theta`` in radians, ``asymmetry``,
    ``skew_phi``, ``size_exponent``, ``progress``, ``light``, ``contrast``, ``clutter``,
    ``hue``, ``pattern``; the derived counts carry no density. Higher is more plausible;
    ``-inf`` outside the support.
    """
    c = config or SceneConfig()
    with np.errstate(divide="ignore", invalid="ignore"):
        r = scenes.impact_r
        log_r = np.where((r > 0) & (r < c.impact_max),
                         np.log(2 * np.maximum(r, 1e-300) / c.impact_max ** 2), -np.inf)
        log_e = np.log(scenes.energy)
        log_energy = _truncnorm_logpdf(log_e, np.full_like(log_e, math.log(c.energy_median_j)),
                                       c.energy_log_sd, math.log(_GLASS.threshold_j), math.inf)
        theta, tmax = np.radians(scenes.impact_angle), math.radians(c.angle_max_deg)
        log_theta = np.where((theta > 0) & (theta < tmax),
                             np.log(2 * np.sin(2 * theta) / (1 - math.cos(2 * tmax))), -np.inf)
        log_asym = _truncnorm_logpdf(scenes.asymmetry, c.asymmetry_gain * np.sin(theta),
                                     c.asymmetry_sd, 0.0, 1.0)
        log_tau = _truncnorm_logpdf(scenes.size_exponent, _tau_mean(log_e), c.exponent_sd,
                                    *_TAU_RANGE)
        log_beta = sum(_beta_logpdf(getattr(scenes, name), ab) for name, ab in (
            ("progress", c.progress_ab), ("light", c.light_ab), ("contrast", c.contrast_ab),
            ("clutter", c.clutter_ab)))
        log_unif = (_uniform_logpdf(scenes.impact_phi, -math.pi, math.pi)
                    + _uniform_logpdf(scenes.skew_phi, -math.pi, math.pi)
                    + _uniform_logpdf(scenes.hue, 0.0, 1.0)
                    + _uniform_logpdf(scenes.pattern, 0.0, 1.0))
        return log_r + log_energy + log_theta + log_asym + log_tau + log_beta + log_unif
