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
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.lab.world import AxisInfo, World, WorldSample, check_n, require_features

if TYPE_CHECKING:  # matplotlib is imported only when drawing
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["MATERIALS", "Material", "ShatterConfig", "ShatterWorld", "render", "render_grid",
           "rows_of"]

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


# -- rendering ----------------------------------------------------------------------------
_BG = "#1b2330"
_CRACK = "#ffffff"


def rows_of(ws: WorldSample, idx: Sequence[int] | np.ndarray) -> list[dict[str, float | str]]:
    """Feature rows (``ws.row(i)``) of the outcomes at ``idx``, ready for :func:`render`."""
    return [ws.row(int(i)) for i in idx]


def _material(row: Mapping[str, float | str]) -> Material:
    m = row["material"]
    if isinstance(m, str):
        by_name = {x.name: x for x in MATERIALS}
        if m not in by_name:
            raise InputError(f"material={m!r} is not one of {sorted(by_name)}")
        return by_name[m]
    return MATERIALS[int(m)]


def _row_rng(row: Mapping[str, float | str]) -> np.random.Generator:
    # the picture of a frame is a pure function of its features: seed from their values
    key = repr(sorted((k, round(float(v), 6) if not isinstance(v, str) else v)
                      for k, v in row.items()))
    return np.random.default_rng(zlib.crc32(key.encode()))


def _shard(rng: np.random.Generator, r: float) -> np.ndarray:
    k = int(rng.integers(3, 7))
    ang = np.sort(rng.random(k)) * 2 * np.pi
    rad = r * (0.55 + 0.45 * rng.random(k))
    return np.column_stack([rad * np.cos(ang), rad * np.sin(ang)])


def render(row: Mapping[str, float | str], ax: Axes) -> Axes:
    """Draw one frame as a stylised 2-D picture (top view of the impacted object).

    Radial cracks run from the impact point (their spread and lengths skew with
    ``asymmetry``), concentric cracks connect them, fragments are polygons with power-law
    sizes (``size_exponent``); fragments in flight are displaced outward with the oblique
    drift and drawn motion-blurred, settled ones crisp; low ``clarity`` adds haze.

    Parameters
    ----------
    row : mapping
        One outcome's features (``WorldSample.row(i)`` or :func:`rows_of`).
    ax : matplotlib Axes
        Where to draw; its limits, ticks and background are set here.
    """
    from matplotlib.patches import Polygon, Rectangle

    require_features(row, ["material", "fragment_count", "size_exponent", "radial_cracks",
                           "asymmetry", "in_flight", "clarity"], "shatter")
    mat, rng = _material(row), _row_rng(row)
    asym, f = float(row["asymmetry"]), float(row["in_flight"])
    n_frag, n_rad = int(row["fragment_count"]), int(row["radial_cracks"])
    ax.set_facecolor(_BG)
    ax.set_xlim(-1.7, 1.7)
    ax.set_ylim(-1.7, 1.7)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    impact = np.array([-0.35 * asym, 0.1 * asym])
    drift = np.array([1.0, 0.25]) * asym  # oblique impact: tangential momentum downstream
    intact_alpha = 0.85 if n_frag == 0 else 0.35 * (1 - f) + 0.12
    ax.add_patch(Rectangle((-1, -1), 2, 2, facecolor=mat.face, alpha=intact_alpha,
                           edgecolor="none"))
    if n_frag == 0:
        ax.plot(*impact, marker="o", ms=3, color="#555555")
        return ax
    # radial cracks: even star when symmetric, bunched and ragged when oblique
    phis = np.linspace(0, 2 * np.pi, n_rad, endpoint=False) + rng.random() * 2 * np.pi
    rough = asym ** 1.5  # raggedness: a near-normal impact leaves a clean, even star
    phis = phis + 0.9 * rough * rng.standard_normal(n_rad)
    lengths = 1.05 * (1 + 0.6 * asym * np.cos(phis) + 0.25 * rough * rng.standard_normal(n_rad))
    n_ring = 1 + min(3, n_frag // 25)
    ring_pts = []
    for phi, length in zip(phis, lengths, strict=True):
        s = np.linspace(0, max(length, 0.2), 5)
        kink = rough * 0.15 * np.concatenate([[0], np.cumsum(rng.standard_normal(4))])
        xs = impact[0] + s * np.cos(phi) - kink * np.sin(phi)
        ys = impact[1] + s * np.sin(phi) + kink * np.cos(phi)
        ax.plot(xs, ys, color=_CRACK, lw=0.9, alpha=0.9, solid_capstyle="round")
        ring_pts.append([(impact[0] + r * np.cos(phi), impact[1] + r * np.sin(phi))
                         for r in length * (np.arange(1, n_ring + 1) / (n_ring + 1))])
    order = np.argsort(np.mod(phis, 2 * np.pi))
    for j in range(n_ring if n_rad >= 3 else 0):
        pts = np.array([ring_pts[i][j] for i in order])
        ax.add_patch(Polygon(pts, closed=True, fill=False, edgecolor=_CRACK, lw=0.6, alpha=0.7))
    # fragments: sizes from n(s) ~ s^-tau on [s_min, s_max] by inverse CDF
    k = min(n_frag, 45)
    tau = float(row["size_exponent"])
    tau = tau if abs(tau - 1.0) > 1e-6 else 1.0 + 1e-6  # the inverse CDF below needs tau != 1
    s_min, s_max = 0.05, 0.3
    a, b = s_min ** (1 - tau), s_max ** (1 - tau)
    sizes = (a + rng.random(k) * (b - a)) ** (1 / (1 - tau))
    home_phi = rng.random(k) * 2 * np.pi
    home_r = 0.2 + 0.7 * np.sqrt(rng.random(k))
    flying = rng.random(k) < f
    travel = min(-np.log(max(f, 1e-3)), 2.5)  # t / tau: how far the flight has gone
    speed = 0.7 + 0.6 * rng.random(k)
    for i in range(k):
        dirn = np.array([np.cos(home_phi[i]), np.sin(home_phi[i])])
        home = impact + home_r[i] * dirn
        shard = _shard(rng, sizes[i])
        if flying[i]:
            vel = speed[i] * (dirn + 1.4 * drift + 0.5 * asym * rng.standard_normal(2))
            pos = home + (0.3 + 0.3 * travel) * vel
            unit = vel / max(np.linalg.norm(vel), 1e-9)
            streak = 0.35 * speed[i] * unit
            ax.plot([pos[0] - streak[0], pos[0]], [pos[1] - streak[1], pos[1]],
                    color=mat.face, lw=2.5 * sizes[i] / s_max + 0.6, alpha=0.35,
                    solid_capstyle="round")
            for j, alpha in enumerate((0.1, 0.18, 0.28)):
                ax.add_patch(Polygon(shard + pos - (3 - j) * 0.06 * unit, facecolor=mat.face,
                                     alpha=alpha, edgecolor="none"))
            ax.add_patch(Polygon(shard + pos, facecolor=mat.face, alpha=0.8,
                                 edgecolor="white", lw=0.4))
        else:
            pos = home + (0.05 + 0.2 * rng.random()) * (dirn + 1.5 * drift)
            ax.add_patch(Polygon(shard + pos, facecolor=mat.face, alpha=0.95,
                                 edgecolor="#1a1a1a", lw=0.6))
    haze = 0.55 * (1.0 - float(row["clarity"]))
    if haze > 0.02:
        ax.add_patch(Rectangle((-1.7, -1.7), 3.4, 3.4, facecolor="#8c8c8c", alpha=haze,
                               edgecolor="none", zorder=5))
    return ax


def _caption(row: Mapping[str, float | str]) -> str:
    return (f"{_material(row).name}  {int(row['fragment_count'])} frags  "
            f"{float(row.get('angle', float('nan'))):.0f}\N{DEGREE SIGN}\n"
            f"in flight {float(row['in_flight']):.0%}  asym {float(row['asymmetry']):.2f}")


def render_grid(base_rows: Sequence[Mapping[str, float | str]],
                tuned_rows: Sequence[Mapping[str, float | str]], *,
                titles: tuple[str, str] = ("base policy", "tuned policy"),
                ncols: int = 4, suptitle: str | None = None) -> Figure:
    """Base frames beside tuned frames: one block of ``ncols`` columns for each.

    Parameters
    ----------
    base_rows, tuned_rows : sequence of mappings
        Feature rows to draw (e.g. :func:`rows_of` on draws from each policy).
    titles : (str, str), default ("base policy", "tuned policy")
        Headings of the two blocks (say which beta / optimiser the tuned block is).
    ncols : int, default 4
        Columns per block.
    suptitle : str, optional
        Figure heading.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; save with ``fig.savefig`` or the report's ``figure_to_png``.
    """
    from matplotlib.figure import Figure

    if not base_rows or not tuned_rows:
        raise InputError(f"render_grid needs at least one row on each side; got "
                         f"{len(base_rows)} base and {len(tuned_rows)} tuned")
    if ncols < 1:
        raise InputError(f"ncols={ncols!r} must be >= 1")
    if len(titles) != 2:
        raise InputError(f"titles={titles!r} must be two strings: (base heading, tuned heading)")
    nrows = max(math.ceil(len(base_rows) / ncols), math.ceil(len(tuned_rows) / ncols))
    head = 0.45 if suptitle else 0.0
    fig = Figure(figsize=(2 * 1.9 * ncols + 0.3, 2.15 * nrows + 0.5 + head),
                 facecolor="white", layout="constrained")
    body = fig
    if suptitle:
        top, body = fig.subfigures(2, 1, height_ratios=[head, 2.15 * nrows + 0.5])
        top.text(0.5, 0.5, suptitle, ha="center", va="center", fontsize=13)
    subfigs = body.subfigures(1, 2, wspace=0.03)
    for sub, rows, title in zip(subfigs, (base_rows, tuned_rows), titles,
                                strict=True):
        sub.suptitle(title, fontsize=12, fontweight="bold")
        axes = sub.subplots(nrows, ncols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i < len(rows):
                render(rows[i], ax)
                ax.set_title(_caption(rows[i]), fontsize=7, color="#333333")
            else:
                ax.axis("off")
    return fig
