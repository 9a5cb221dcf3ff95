"""The shatter world: brittle objects breaking under impact, seen at some moment of the process.

This world dramatises the first seed text: a physically faithful frame is asymmetric (most
impacts are oblique), transitional (fragments still in flight) and "messy"; the frames people
like are symmetric, high-contrast and iconic (the peak burst or the clean end state). Those
are physically *atypical*, so the gold reward -- physical plausibility, the log-likelihood of
the frame under the true generative model -- scores them poorly.

Generative model (truth)
------------------------
An outcome is drawn in the latent coordinates ``(log E, theta, material, log t, z_a, z_s)``:

* impact energy ``E`` [J]: log-normal, median ``energy_median_j`` (a 0.3 kg glass dropped
  from 0.7 m carries ``m g h ~ 2 J``), log-sd ``energy_log_sd``;
* impact angle ``theta`` from the surface normal: ``p(theta) = sin(2 theta)`` on
  ``[0, 90 deg)``, the law for isotropically arriving impactors (Gilbert 1893; Shoemaker 1962,
  "Interpretation of lunar craters": the most probable angle is 45 deg and a head-on impact is
  rare), truncated at ``angle_max_deg``;
* material: glass / ice / ceramic with frequencies ``material_probs`` (illustrative);
* time since impact ``t``: log-normal in units of the material's settling time ``tau``,
  median ``time_median_tau`` -- most frames are transitional, with fragments in flight;
* ``z_a, z_s ~ N(0, 1)``: scatter of the asymmetry and of the size exponent.

Fracture model (the observables, i.e. the physical axes)
--------------------------------------------------------
With ``x = E / E_c`` (``E_c`` the material's threshold energy, Griffith energy balance: a crack
runs only when the released elastic energy pays for the new surface):

* ``fragment_count = 0`` for ``x <= 1``, else ``2 + round(N0 (x - 1)^(2/3))``: the exponent
  2/3 is Grady's energy-balance scaling (Grady 1982, J. Appl. Phys. 53, 322: fragment size
  ``~ (K_Ic / rho c eps_dot)^(2/3)``, and kinetic energy ``~ eps_dot^2``, so size
  ``~ E^(-1/3)`` and a plate's count ``~ E^(2/3)``); the onset at ``x = 1`` is illustrative.
* ``radial_cracks = round(n_r x^(1/4))`` above threshold: Vandenberghe, Vermorel &
  Villermaux 2013 (PRL 110, 174302) find the number of radial cracks of an impacted plate
  grows as the square root of impact speed, i.e. as ``E^(1/4)``.
* ``size_exponent = tau_m + 0.1 log(max(x, 1)) + sd_s z_s``: power-law fragment sizes
  ``n(s) ~ s^(-tau)``; ``tau_m = (2D - 1)/D`` from branching-merging crack dynamics
  (Astrom 2006, Adv. Phys. 55, 247), 1.5 for plates (D = 2) and 5/3 for blocks (D = 3),
  consistent with Oddershede, Dimon & Bohr 1993 (PRL 71, 3107); the slow logarithmic growth
  with energy follows Sator, Mechkov & Sausset 2008 (EPL 81, 44002).
* ``asymmetry = clip(0.9 sin(theta) + sd_a z_a, 0, 1)``: oblique impact carries tangential
  momentum, so the crack star and the debris cone skew with ``sin(theta)`` (illustrative
  gain 0.9).
* ``in_flight = exp(-t / tau)`` above threshold (0 for an intact object): the fraction of
  fragments not yet at rest, a relaxation with the settling time ``tau`` of the material
  (illustrative, ~ free fall from table height ``sqrt(2h/g) ~ 0.4 s`` with bounces).
* ``time = t`` [ms].

Perceptual axes (what raters see)
---------------------------------
With ``mess = 4 f (1 - f)`` for ``f = in_flight`` (1 when half the debris is airborne):
``symmetry = 1 - asymmetry (0.6 + 0.4 mess)`` (scattered debris exaggerates asymmetry);
``clarity = (1 - 0.6 mess)(1 - 0.25 min(1, log1p(count)/log1p(200)))`` (silhouette and
contrast, lost to overlapping debris and fine fragments); ``iconic_moment = (2 f - 1)^2`` for a
broken object (1 at the peak burst ``f = 1`` and at the settled end state ``f = 0``, 0 for the
half-way frame), 0 for an intact one. These three forms are illustrative choices; their
iconic point is 1.

Gold reward and base policy
---------------------------
``gold = truth_log_prob``: the log-density of the outcome in the latent coordinates above
(``log E``, ``theta`` in radians, the material's log-probability, ``log t``, and the residuals
``z_a, z_s`` recovered from the observables). Clipped asymmetries are scored at their clipped
residual (their point mass is ignored). The base policy is the truth when
``base_dispersion = 1`` and ``base_angle_mix = 0``; otherwise an imperfect fit: every
log-sd and noise sd multiplied by ``base_dispersion`` (> 1 over-disperses, < 1
under-disperses) and the angle law mixed with a uniform one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rewardshift._deprecated import moved
from rewardshift._exceptions import InputError
from rewardshift.lab.world import AxisInfo, World, WorldSample, check_n, require_features

__all__ = ["MATERIALS", "Material", "ShatterConfig", "ShatterWorld", "material_of", "rows_of"]

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Material:
    """Constants of one brittle material.

    ``toughness`` (fracture toughness ``K_Ic`` [MPa m^0.5]) is documentation: soda-lime glass
    ~0.75 (Wiederhorn 1969), fresh-water ice ~0.1 (Schulson 1999), porcelain ~1.0 (household
    ceramic; technical alumina is 3-4). ``threshold_j`` (``E_c``), ``settle_ms`` (``tau``) and
    ``radial_base`` (``n_r``) are illustrative, ordered by toughness; ``size_exponent`` is the
    Astrom 2006 value for the object's dimension (pane 2-D, block 3-D, shell in between).
    """

    name: str
    toughness: float
    threshold_j: float
    settle_ms: float
    size_exponent: float
    radial_base: float
    face: str  # drawing colour


MATERIALS: tuple[Material, ...] = (
    Material("glass", 0.75, 0.3, 250.0, 1.5, 6.0, "#9fd3e6"),
    Material("ice", 0.1, 0.1, 200.0, 5.0 / 3.0, 4.0, "#e4f4ff"),
    Material("ceramic", 1.0, 0.6, 300.0, 1.6, 5.0, "#f0dcb8"),
)
_N0 = 8.0          # fragment-count prefactor at x - 1 = 1 (illustrative)
_GRADY = 2.0 / 3.0  # Grady 1982 energy-balance exponent (plate)
_ASYM_GAIN = 0.9   # asymmetry per unit sin(theta) (illustrative)


@dataclass(frozen=True)
class ShatterConfig:
    """Configuration of the shatter world (truth and base policy)."""

    energy_median_j: float = field(default=2.0, metadata={
        "help": "median impact energy [J] (0.3 kg dropped 0.7 m: m g h ~ 2 J)"})
    energy_log_sd: float = field(default=1.0, metadata={
        "help": "sd of log E; 1.0 spans household drops to throws"})
    angle_max_deg: float = field(default=80.0, metadata={
        "help": "truncation of the sin(2 theta) angle law [deg], < 90 (grazing hits glance off)"})
    time_median_tau: float = field(default=0.8, metadata={
        "help": "median time since impact in settling times tau: most frames transitional"})
    time_log_sd: float = field(default=0.6, metadata={"help": "sd of log t"})
    material_probs: tuple[float, float, float] = field(default=(0.5, 0.2, 0.3), metadata={
        "help": "frequencies of glass, ice, ceramic (illustrative)"})
    asymmetry_sd: float = field(default=0.05, metadata={"help": "scatter of asymmetry"})
    exponent_sd: float = field(default=0.04, metadata={"help": "scatter of size exponent"})
    base_dispersion: float = field(default=1.0, metadata={
        "help": "base policy = truth with every sd times this (1: exact; >1 over-dispersed)"})
    base_angle_mix: float = field(default=0.0, metadata={
        "help": "weight of a uniform angle law mixed into the base (0: exact sin 2theta)"})

    def __post_init__(self) -> None:
        positive = {"energy_median_j": self.energy_median_j, "energy_log_sd": self.energy_log_sd,
                    "time_median_tau": self.time_median_tau, "time_log_sd": self.time_log_sd,
                    "asymmetry_sd": self.asymmetry_sd, "exponent_sd": self.exponent_sd,
                    "base_dispersion": self.base_dispersion}
        for k, v in positive.items():
            if not v > 0:
                raise InputError(f"ShatterConfig {k}={v!r} must be > 0")
        if not 0 < self.angle_max_deg < 90:
            raise InputError(f"ShatterConfig angle_max_deg={self.angle_max_deg!r} must be in "
                             "(0, 90): the sin(2 theta) law vanishes at grazing incidence")
        if not 0 <= self.base_angle_mix <= 1:
            raise InputError(f"ShatterConfig base_angle_mix={self.base_angle_mix!r} must be in "
                             "[0, 1]")
        p = np.asarray(self.material_probs, dtype=float)
        if p.shape != (3,) or (p < 0).any() or abs(p.sum() - 1) > 1e-9:
            raise InputError(f"ShatterConfig material_probs={self.material_probs!r} must be "
                             "three non-negative numbers summing to 1 (glass, ice, ceramic)")


_AXES: dict[str, AxisInfo] = {
    "energy": AxisInfo("physical", "impact energy E [J], log-normal"),
    "angle": AxisInfo("physical", "impact angle from the normal [deg], p ~ sin(2 theta)"),
    "fragment_count": AxisInfo("physical", "number of fragments; 0 below the threshold E_c"),
    "size_exponent": AxisInfo("physical", "power-law exponent of fragment sizes, ~1.5-1.7"),
    "radial_cracks": AxisInfo("physical", "number of radial cracks, ~ E^(1/4)"),
    "asymmetry": AxisInfo("physical", "skew of crack star and debris, 0..1, ~ sin(theta)",
                          iconic=0.0),
    "in_flight": AxisInfo("physical", "fraction of fragments still in flight, 0..1"),
    "time": AxisInfo("physical", "time since impact [ms]"),
    "symmetry": AxisInfo("perceptual", "visible symmetry, 0..1", iconic=1.0),
    "clarity": AxisInfo("perceptual", "silhouette and contrast, 0..1", iconic=1.0),
    "iconic_moment": AxisInfo("perceptual", "peak burst or clean end state, 0..1", iconic=1.0),
}


def _norm_logpdf(x: np.ndarray, sd: float) -> np.ndarray:
    return -0.5 * (x / sd) ** 2 - math.log(sd) - 0.5 * _LOG_2PI


class ShatterWorld(World):
    """Brittle objects breaking under impact (see the module docstring for every law).

    Parameters
    ----------
    config : ShatterConfig, optional
        Truth and base-policy parameters; defaults throughout when omitted.

    Examples
    --------
    >>> w = ShatterWorld()
    >>> ws = w.sample(1000, seed=0)
    >>> sorted(w.axes_of("perceptual"))
    ['clarity', 'iconic_moment', 'symmetry']
    """

    name = "shatter"
    axes = _AXES

    def __init__(self, config: ShatterConfig | None = None) -> None:
        self.config = config or ShatterConfig()

    # -- sampling -------------------------------------------------------------------------
    def sample(self, n: int, *, seed: int) -> WorldSample:
        """Draw ``n`` frames from the base policy; deterministic given ``seed``."""
        n = check_n(n)
        c, d = self.config, self.config.base_dispersion
        rng = np.random.default_rng(seed)
        mat = rng.choice(3, size=n, p=np.asarray(c.material_probs))
        energy = c.energy_median_j * np.exp(d * c.energy_log_sd * rng.standard_normal(n))
        angle = self._sample_angle(rng, n)
        settle = np.array([m.settle_ms for m in MATERIALS])[mat]
        t = settle * c.time_median_tau * np.exp(d * c.time_log_sd * rng.standard_normal(n))
        z_a = d * rng.standard_normal(n)
        z_s = d * rng.standard_normal(n)
        feats = self.observe(energy, np.degrees(angle), mat, t, z_a, z_s)
        return WorldSample(world=self.name, features=feats, log_base=self.base_log_prob(feats),
                           log_truth=self.truth_log_prob(feats),
                           categories={"material": tuple(m.name for m in MATERIALS)})

    def _sample_angle(self, rng: np.random.Generator, n: int) -> np.ndarray:
        # inverse CDF of p(theta) ~ sin(2 theta) on [0, tmax]: F = (1 - cos 2t)/(1 - cos 2tmax)
        tmax = math.radians(self.config.angle_max_deg)
        u = rng.random(n)
        theta = 0.5 * np.arccos(1.0 - u * (1.0 - math.cos(2 * tmax)))
        uniform = rng.random(n) * tmax
        return np.where(rng.random(n) < self.config.base_angle_mix, uniform, theta)

    def observe(self, energy: np.ndarray, angle_deg: np.ndarray, material: np.ndarray,
                time_ms: np.ndarray, z_a: np.ndarray, z_s: np.ndarray) -> dict[str, np.ndarray]:
        """The fracture model: physical parameters and noise -> every feature (all (N,))."""
        c = self.config
        mat = np.asarray(material, dtype=np.int64)
        ec = np.array([m.threshold_j for m in MATERIALS])[mat]
        x = np.asarray(energy, dtype=float) / ec
        broken = x > 1.0
        xm1 = np.where(broken, x - 1.0, 0.0)
        count = np.where(broken, 2.0 + np.round(_N0 * xm1 ** _GRADY), 0.0)
        radial = np.where(broken, np.round(np.array([m.radial_base for m in MATERIALS])[mat]
                                           * np.maximum(x, 1.0) ** 0.25), 0.0)
        tau_m = np.array([m.size_exponent for m in MATERIALS])[mat]
        expo = tau_m + 0.1 * np.log(np.maximum(x, 1.0)) + c.exponent_sd * np.asarray(z_s)
        asym = np.clip(_ASYM_GAIN * np.sin(np.radians(angle_deg)) + c.asymmetry_sd
                       * np.asarray(z_a), 0.0, 1.0)
        settle = np.array([m.settle_ms for m in MATERIALS])[mat]
        f = np.where(broken, np.exp(-np.asarray(time_ms, dtype=float) / settle), 0.0)
        mess = 4.0 * f * (1.0 - f)
        return {
            "material": mat, "energy": np.asarray(energy, dtype=float),
            "angle": np.asarray(angle_deg, dtype=float), "fragment_count": count,
            "size_exponent": expo, "radial_cracks": radial, "asymmetry": asym, "in_flight": f,
            "time": np.asarray(time_ms, dtype=float),
            "symmetry": np.clip(1.0 - asym * (0.6 + 0.4 * mess), 0.0, 1.0),
            "clarity": (1.0 - 0.6 * mess)
            * (1.0 - 0.25 * np.minimum(1.0, np.log1p(count) / math.log1p(200.0))),
            "iconic_moment": np.where(broken, (2.0 * f - 1.0) ** 2, 0.0),
        }

    # -- densities ------------------------------------------------------------------------
    def _log_prob(self, features: Mapping[str, np.ndarray], d: float, mix: float) -> np.ndarray:
        require_features(features, ["material", "energy", "angle", "time", "asymmetry",
                                    "size_exponent"], self.name)
        c = self.config
        mat = np.asarray(features["material"], dtype=np.int64)
        log_e = np.log(np.asarray(features["energy"], dtype=float) / c.energy_median_j)
        theta = np.radians(np.asarray(features["angle"], dtype=float))
        tmax = math.radians(c.angle_max_deg)
        p_theta = np.where((theta >= 0) & (theta <= tmax),
                           (1 - mix) * 2 * np.sin(2 * theta) / (1 - math.cos(2 * tmax))
                           + mix / tmax, 0.0)
        settle = np.array([m.settle_ms for m in MATERIALS])[mat]
        log_t = np.log(np.asarray(features["time"], dtype=float) / (settle * c.time_median_tau))
        ec = np.array([m.threshold_j for m in MATERIALS])[mat]
        x = np.maximum(np.asarray(features["energy"], dtype=float) / ec, 1.0)
        tau_m = np.array([m.size_exponent for m in MATERIALS])[mat]
        z_s = (np.asarray(features["size_exponent"]) - tau_m - 0.1 * np.log(x)) / c.exponent_sd
        z_a = (np.asarray(features["asymmetry"]) - _ASYM_GAIN * np.sin(theta)) / c.asymmetry_sd
        with np.errstate(divide="ignore"):
            return (_norm_logpdf(log_e, d * c.energy_log_sd) + np.log(p_theta)
                    + np.log(np.asarray(c.material_probs))[mat]
                    + _norm_logpdf(log_t, d * c.time_log_sd)
                    + _norm_logpdf(z_a, d) + _norm_logpdf(z_s, d))

    def truth_log_prob(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-density under the truth, in ``(log E, theta [rad], material, log t, z_a, z_s)``."""
        return self._log_prob(features, 1.0, 0.0)

    def base_log_prob(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-density under the base policy (same coordinates as :meth:`truth_log_prob`)."""
        return self._log_prob(features, self.config.base_dispersion, self.config.base_angle_mix)

    def gold(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Physical plausibility: the log-likelihood of the frame under the true model."""
        return self.truth_log_prob(features)


def material_of(row: Mapping[str, float | str]) -> Material:
    """The :class:`Material` a feature row names (by name or by index)."""
    m = row["material"]
    if isinstance(m, str):
        by_name = {x.name: x for x in MATERIALS}
        if m not in by_name:
            raise InputError(f"material={m!r} is not one of {sorted(by_name)}")
        return by_name[m]
    return MATERIALS[int(m)]


def rows_of(ws: WorldSample, idx: Sequence[int] | np.ndarray) -> list[dict[str, float | str]]:
    """Feature rows (``ws.row(i)``) of the outcomes at ``idx``, ready for :func:`render`."""
    return [ws.row(int(i)) for i in idx]


__getattr__ = moved(__name__, {"render": "rewardshift.report.shatter_figures",
                                "render_grid": "rewardshift.report.shatter_figures"})
