"""An example pair of generators with known, different diversity.

Two text generators describe a brittle object breaking under impact. Both draw each slot of
a sentence template (impact, fracture pattern, moment shown, finish) independently, so the
exact entropy of each generator is known in closed form: it is the sum of its slots'
entropies. The *base* generator stands for a pretrained model: varied, with the messy,
asymmetric, transitional descriptions that are physically common. The *tuned* generator is
the KL-regularised optimum of raters who reward the iconic (symmetric, clean, peak-burst)
options and typicality (Verbalized Sampling, Zhang et al. 2025, arXiv 2510.01171):

    π_tuned(x) ∝ π_base(x)^(1 + α/β) · exp(r_iconic(x) / β)

applied slot by slot. Every sample carries ``meta.moment`` (the moment category) and
``meta.plausibility`` (the physical plausibility of its options, the gold reward), so the
demo also shows distribution shift and quality-conditioned diversity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.samples import Sample

__all__ = ["DemoConfig", "SLOTS", "Slot", "generate", "make_pair", "slot_probabilities",
           "true_entropy"]


@dataclass(frozen=True)
class Slot:
    """One slot of the template: options, base weights, rater appeal and plausibility."""

    name: str
    options: tuple[str, ...]
    base_weight: tuple[float, ...]  # unnormalised base probabilities
    iconic: tuple[float, ...]  # what raters reward: symmetry, clarity, an iconic moment
    plausible: tuple[float, ...]  # the gold reward: how physically plausible the option is
    category: tuple[str, ...] | None = None  # attribute recorded in meta (for the moment slot)


OBJECTS = ("wine glass", "ice sheet", "ceramic plate", "window pane", "porcelain cup",
           "glass bottle", "frozen pond", "clay vase", "mirror", "light bulb")

SLOTS: tuple[Slot, ...] = (
    Slot("impact",
         ("A steel ball struck the {obj} head-on", "A hammer glanced off the edge of the {obj}",
          "The {obj} slipped and hit the tiled floor at an angle",
          "A pebble flew into the {obj} from the side", "The {obj} dropped onto concrete",
          "A sudden chill put thermal stress on the {obj}",
          "A careless elbow knocked the {obj} against the counter",
          "The {obj} was clipped by a swinging door"),
         (3, 2, 2.5, 1.5, 3, 0.8, 1.2, 1), (2, 0, 0.5, 0, 1, 0, 0, 0),
         (1, 1, 1, 1, 1, 0.8, 1, 1)),
    Slot("pattern",
         ("and burst into a perfect star of identical shards",
          "and cracked along one side while the rest held",
          "and split unevenly into three jagged pieces",
          "leaving a radial web of cracks around the point of impact",
          "and shed a spray of small chips from the struck edge",
          "and broke into dozens of fragments of every size",
          "and a single crack crept slowly across it",
          "and shattered into a symmetric ring of glittering pieces",
          "and spalled, throwing flakes off the far face"),
         (0.4, 2.5, 2, 2.2, 1.8, 2.6, 1.5, 0.4, 0.9), (3, 0, 0, 1, 0, 0.5, 0, 3, 0),
         (0.1, 1, 1, 1, 1, 1, 0.9, 0.1, 0.8)),
    Slot("moment",
         ("frozen at the peak of the burst, every shard in perfect focus",
          "with fragments still tumbling through the air",
          "half of it still standing as the rest fell away",
          "as the last pieces skittered to rest on the floor",
          "caught mid-fall, the crack still running",
          "resting in a clean, complete circle of debris",
          "with dust and slivers hanging in the light"),
         (0.5, 2.4, 2.0, 2.2, 1.6, 0.5, 1.4), (3, 0.5, 0, 0, 0, 2.5, 0.5),
         (0.3, 1, 1, 1, 1, 0.2, 0.9),
         ("peak burst", "in flight", "transitional", "end state", "transitional",
          "clean end state", "in flight")),
    Slot("finish",
         (".", ", a moment of pure cinematic drama.", ", messy and uneven.",
          ", the pieces lopsided and scattered.", ", exactly as physics predicts.",
          ", scattered further on the side away from the blow."),
         (3, 0.6, 1.2, 1.4, 0.8, 1.3), (0, 2.5, 0, 0, 0.5, 0), (1, 0.3, 1, 1, 0.9, 1)),
)


@dataclass(frozen=True)
class DemoConfig:
    """The example pair: how many prompts and samples, and how hard the tuning pushed."""

    n_prompts: int = field(default=40, metadata={"help": "distinct prompts (one object each)"})
    samples_per_prompt: int = field(default=8, metadata={"help": "K samples per prompt"})
    alpha: float = field(default=0.6, metadata={
        "help": "raters' typicality weight; Zhang et al. 2025 estimate 0.57-0.65"})
    beta: float = field(default=0.5, metadata={"help": "KL-regularisation strength"})
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_prompts < 1 or self.samples_per_prompt < 1:
            raise InputError("n_prompts and samples_per_prompt must be >= 1")
        if self.beta <= 0 or self.alpha < 0:
            raise InputError(f"need beta > 0 and alpha >= 0, got beta={self.beta}, "
                             f"alpha={self.alpha}")


def slot_probabilities(slot: Slot, *, alpha: float = 0.0, beta: float = 1.0) -> np.ndarray:
    """Slot option probabilities ∝ π_base^(1 + α/β) · exp(r_iconic/β); α = 0, β = ∞ is base."""
    base = np.asarray(slot.base_weight, dtype=np.float64)
    base = base / base.sum()
    logits = (1.0 + alpha / beta) * np.log(base) + np.asarray(slot.iconic) / beta
    p = np.exp(logits - logits.max())
    return p / p.sum()


def _slot_probs(tuned: bool, cfg: DemoConfig) -> list[np.ndarray]:
    if not tuned:
        return [slot_probabilities(s, alpha=0.0, beta=np.inf) for s in SLOTS]
    return [slot_probabilities(s, alpha=cfg.alpha, beta=cfg.beta) for s in SLOTS]


def true_entropy(tuned: bool, cfg: DemoConfig | None = None) -> float:
    """Exact entropy (nats) of one generated description: the sum of slot entropies."""
    cfg = cfg or DemoConfig()
    return float(sum(-(p * np.log(p)).sum() for p in _slot_probs(tuned, cfg)))


def generate(source: str, *, tuned: bool, cfg: DemoConfig | None = None) -> list[Sample]:
    """K samples for each of ``n_prompts`` prompts from the base or the tuned generator."""
    cfg = cfg or DemoConfig()
    rng = np.random.default_rng([cfg.seed, int(tuned)])
    probs = _slot_probs(tuned, cfg)
    out = []
    for j in range(cfg.n_prompts):
        obj = OBJECTS[j % len(OBJECTS)]
        prompt = f"Describe the moment a {obj} breaks (scene {j + 1})."
        for _ in range(cfg.samples_per_prompt):
            picks = [int(rng.choice(len(p), p=p)) for p in probs]
            parts = [s.options[k].format(obj=obj) for s, k in zip(SLOTS, picks, strict=True)]
            text = f"{parts[0]} {parts[1]}, {parts[2]}{parts[3]}"
            moment = SLOTS[2].category[picks[2]] if SLOTS[2].category else ""
            plaus = float(np.prod([s.plausible[k] for s, k in zip(SLOTS, picks, strict=True)]))
            out.append(Sample(text=text, prompt_id=f"p{j:03d}", prompt=prompt, source=source,
                              meta={"moment": moment, "plausibility": round(plaus, 6)}))
    return out


def make_pair(cfg: DemoConfig | None = None) -> tuple[list[Sample], list[Sample], dict]:
    """The base and tuned sample sets and their exact entropies (the ground truth)."""
    cfg = cfg or DemoConfig()
    info = {"true_entropy_nats": {"base": true_entropy(False, cfg),
                                  "tuned": true_entropy(True, cfg)},
            "alpha": cfg.alpha, "beta": cfg.beta, "seed": cfg.seed}
    return generate("base", tuned=False, cfg=cfg), generate("tuned", tuned=True, cfg=cfg), info
