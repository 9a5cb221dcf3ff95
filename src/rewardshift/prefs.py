"""Audit a preference data set: the raters' typicality bias, and length and sentiment biases.

``rewardshift prefs PAIRS.jsonl --base MODEL`` reads rows ``{"prompt", "chosen", "rejected"}``
(optional ``chosen_score`` / ``rejected_score``: quality ratings such as HelpSteer's) and asks
what, besides quality, made raters choose.

Typicality bias alpha (Zhang et al. 2025, "Verbalized Sampling", arXiv 2510.01171, eq. 1 and
sec. 3): raters reward ``r_true(x, y) + alpha log pi_ref(y | x)``. Under Bradley-Terry,
``P(a chosen) = sigma(alpha * d_log_ref + d_quality)`` with ``d_log_ref = log pi_base(a | x) -
log pi_base(b | x)`` under the base model. Each pair is presented in a seeded random order
(a = chosen or rejected with probability 1/2) and
:func:`rewardshift.lab.raters.estimate_alpha` fits the logistic regression without intercept,
with a percentile-bootstrap CI:

* with quality scores, ``d_quality`` is the score difference and only the pairs closest in
  quality (``quality_quantile``, default the closest 25%, e.g. equal ratings) are used, as in
  the paper;
* without scores, every pair is used with ``d_quality = 0``. Alpha then also absorbs any
  correlation between true quality and typicality: read it as an upper bound on the bias.

Length bias: the share of pairs whose chosen side has more words (ties left out), with a Wilson
CI and a two-sided sign test, and the mean log ratio of lengths. Sentiment bias: the mean VADER
compound difference chosen - rejected (Hutto & Gilbert 2014) with a paired sign-flip
permutation test (needs ``vaderSentiment``, the ``probes`` extra).

Bad rows (malformed JSON, a missing or non-string field, an empty text, chosen == rejected,
a non-finite score) are errors naming the file, line and field; with ``skip_bad=True`` they
are collected, reported and left out.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from rewardshift._deprecated import moved
from rewardshift._exceptions import InputError, MetricUndefinedError, SampleFileError
from rewardshift.config import Config
from rewardshift.metrics.stats import permutation_test
from rewardshift.samples import MAX_LINE_BYTES

__all__ = ["BadRow", "PrefsAudit", "PrefsConfig", "audit_pairs", "read_pairs"]

_TEXT_FIELDS = ("prompt", "chosen", "rejected")
_SCORE_FIELDS = ("chosen_score", "rejected_score")


@dataclass(frozen=True)
class BadRow:
    """A row left out: where, which field, why."""

    line: int
    field: str | None
    message: str


def _check_row(obj: Any) -> tuple[dict[str, Any] | None, str | None, str | None]:
    if not isinstance(obj, dict):
        return None, None, f"expected a JSON object, got {type(obj).__name__}"
    for f in _TEXT_FIELDS:
        if f not in obj:
            return None, f, "missing"
        if not isinstance(obj[f], str):
            return None, f, f"expected a string, got {type(obj[f]).__name__}"
    for f in ("chosen", "rejected"):
        if not obj[f].strip():
            return None, f, "empty text"
    if obj["chosen"] == obj["rejected"]:
        return None, "rejected", "identical to chosen; a pair needs two different texts"
    row = {f: obj[f] for f in _TEXT_FIELDS}
    present = [f for f in _SCORE_FIELDS if f in obj]
    if len(present) == 1:
        return None, present[0], f"given without {set(_SCORE_FIELDS) - set(present)}"
    for f in present:
        v = obj[f]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None, f, f"expected a finite number, got {v!r}"
        row[f] = float(v)
    return row, None, None


def read_pairs(path: str | os.PathLike[str], *, skip_bad: bool = False
               ) -> tuple[list[dict[str, Any]], list[BadRow]]:
    """Read and validate a JSONL file of preference pairs (module docstring).

    Returns ``(pairs, bad_rows)``; each pair has ``prompt``, ``chosen``, ``rejected``,
    ``line`` and, when given, both scores.

    Raises
    ------
    SampleFileError
        on the first bad row (file, line, field) unless ``skip_bad``.
    InputError
        when the file cannot be read, has no valid pair, or mixes rows with and without scores.
    """
    p = str(path)
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise InputError(f"{p}: cannot open the pairs file ({exc.strerror})") from exc
    pairs, bad = [], []
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            fld, msg, row = None, None, None
            if len(raw) > MAX_LINE_BYTES:
                msg = f"line is {len(raw):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit"
            else:
                try:
                    row, fld, msg = _check_row(json.loads(raw))
                except UnicodeDecodeError as exc:
                    msg = f"not UTF-8 text ({exc.reason})"
                except json.JSONDecodeError as exc:
                    msg = f"malformed JSON: {exc.msg} at column {exc.colno}"
            if row is None:
                if not skip_bad:
                    raise SampleFileError(f"{msg} (or leave bad rows out: skip_bad)",
                                          path=p, line=lineno, field=fld)
                bad.append(BadRow(lineno, fld, msg or "invalid"))
                continue
            pairs.append({**row, "line": lineno})
    if not pairs:
        raise InputError(f"{p}: no valid preference pair ({len(bad)} bad rows); each line "
                         'must be {"prompt": ..., "chosen": ..., "rejected": ...}')
    scored = {all(f in r for f in _SCORE_FIELDS) for r in pairs}
    if len(scored) > 1:
        raise InputError(f"{p}: some rows have chosen_score/rejected_score and some do not; "
                         "give scores on every row or on none")
    return pairs, bad


@dataclass
class PrefsAudit:
    """The result of :func:`audit_pairs` (definitions in the module docstring)."""

    n_pairs: int
    alpha: dict[str, Any]
    length: dict[str, float]
    sentiment: dict[str, float] | None
    verdicts: list[str]
    frame: pd.DataFrame = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"n_pairs": self.n_pairs, "alpha": self.alpha, "length": self.length,
                "sentiment": self.sentiment, "verdicts": self.verdicts, "notes": self.notes}


def _words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class PrefsConfig(Config):
    """How :func:`audit_pairs` estimates (definitions in the module docstring)."""

    seed: int = field(default=0, metadata={"help": "seed of the pair order and the resamples"})
    quality_quantile: float = field(default=0.25, metadata={
        "help": "with quality scores: the share of pairs closest in quality used for alpha"})
    n_boot: int = field(default=200, metadata={"help": "bootstrap resamples of alpha's CI"})
    n_permutations: int = field(default=2000, metadata={
        "help": "sign-flip permutations of the sentiment test"})

    def __post_init__(self) -> None:
        for name in ("seed", "n_boot", "n_permutations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or (name != "seed" and v < 1):
                raise InputError(f"PrefsConfig.{name}={v!r} should be an int"
                                 + ("" if name == "seed" else " >= 1"))
        if not 0 < self.quality_quantile <= 1:
            raise InputError(f"PrefsConfig.quality_quantile={self.quality_quantile!r} should be "
                             "in (0, 1]")


def audit_pairs(pairs: Sequence[dict[str, Any]],
                log_ref: Callable[[list[str], list[str]], np.ndarray],
                config: PrefsConfig | None = None, *, seed: int | None = None,
                quality_quantile: float | None = None, n_boot: int | None = None,
                n_permutations: int | None = None) -> PrefsAudit:
    """Alpha with its CI, length bias and sentiment bias of ``pairs``.

    ``log_ref(prompts, completions)`` gives ``log pi_base(completion | prompt)``. ``config``
    (default :class:`PrefsConfig`) says how; a keyword given here overrides its field.
    """
    from rewardshift.lab.raters import estimate_alpha

    given: dict[str, Any] = {"seed": seed, "quality_quantile": quality_quantile,
                             "n_boot": n_boot, "n_permutations": n_permutations}
    cfg = dataclasses.replace(config or PrefsConfig(),
                              **{k: v for k, v in given.items() if v is not None})

    if len(pairs) < 2:
        raise InputError(f"audit_pairs needs at least 2 pairs; got {len(pairs)}")
    prompts = [r["prompt"] for r in pairs]
    lc = np.asarray(log_ref(prompts, [r["chosen"] for r in pairs]), dtype=float)
    lr = np.asarray(log_ref(prompts, [r["rejected"] for r in pairs]), dtype=float)
    if lc.shape != (len(pairs),) or lr.shape != (len(pairs),):
        raise InputError("log_ref must return one log-probability per pair")
    if not (np.all(np.isfinite(lc)) and np.all(np.isfinite(lr))):
        raise InputError("the base model gave a non-finite log-probability to some text; "
                         "check that the texts are in its vocabulary")
    rng = np.random.default_rng(cfg.seed)
    a_is_chosen = rng.random(len(pairs)) < 0.5
    sign = np.where(a_is_chosen, 1.0, -1.0)
    scored = "chosen_score" in pairs[0]
    dq = (np.array([r["chosen_score"] - r["rejected_score"] for r in pairs]) if scored
          else np.zeros(len(pairs)))
    frame = pd.DataFrame({"label": a_is_chosen.astype(np.int64), "d_log_ref": sign * (lc - lr),
                          "d_quality": sign * dq, "line": [r["line"] for r in pairs]
                          if "line" in pairs[0] else np.arange(len(pairs))})
    notes: list[str] = []
    try:
        est = estimate_alpha(frame, seed=cfg.seed, quality_quantile=cfg.quality_quantile
                             if scored else 1.0, n_boot=cfg.n_boot)
        alpha = {"value": est.value, "ci_low": est.ci_low, "ci_high": est.ci_high,
                 "n_pairs_used": est.n_pairs, "method": est.method,
                 "quality": "score difference, closest pairs" if scored else "none (d_quality=0)"}
    except MetricUndefinedError as exc:
        alpha = {"value": None, "reason": str(exc)}
        notes.append(f"alpha not estimated: {exc}")
    if not scored:
        notes.append("no quality scores: alpha also absorbs any correlation of quality with "
                     "typicality (an upper bound on the typicality bias)")
    wc = np.array([_words(r["chosen"]) for r in pairs])
    wr = np.array([_words(r["rejected"]) for r in pairs])
    longer, shorter = int(np.sum(wc > wr)), int(np.sum(wc < wr))
    length: dict[str, float] = {"mean_log_ratio": float(np.mean(np.log(wc / wr))),
                                "n_untied": float(longer + shorter)}
    if longer + shorter:
        bt = binomtest(longer, longer + shorter, 0.5)
        ci = bt.proportion_ci(method="wilson")
        length.update(share_chosen_longer=longer / (longer + shorter), ci_low=ci.low,
                      ci_high=ci.high, p_value=float(bt.pvalue))
    sentiment = _sentiment(pairs, seed=cfg.seed, n_permutations=cfg.n_permutations,
                           notes=notes)
    verdicts = _verdicts(alpha, length, sentiment)
    return PrefsAudit(n_pairs=len(pairs), alpha=alpha, length=length, sentiment=sentiment,
                      verdicts=verdicts, frame=frame, notes=notes)


def _sentiment(pairs, *, seed: int, n_permutations: int, notes: list[str]
               ) -> dict[str, float] | None:
    try:
        from rewardshift.metrics.sentiment import vader_compound
    except ImportError:  # pragma: no cover
        notes.append("sentiment bias skipped: install rewardshift[probes] (vaderSentiment)")
        return None
    try:
        chosen = np.array([vader_compound(r["chosen"]) for r in pairs])
        rejected = np.array([vader_compound(r["rejected"]) for r in pairs])
    except InputError as exc:  # vaderSentiment missing (MissingDependencyError)
        notes.append(f"sentiment bias skipped: {exc}")
        return None
    d = chosen - rejected
    # paired sign-flip test of the mean difference, two-sided
    p = permutation_test(lambda x, y: {"mean": abs(float(np.mean(y - x)))}, rejected, chosen,
                         paired=True, n_resamples=n_permutations, seed=seed + 1)["mean"]
    return {"mean_difference": float(d.mean()), "p_value": p,
            "share_chosen_more_positive": float(np.mean(d > 0))}


def _verdicts(alpha: dict[str, Any], length: dict[str, float],
              sentiment: dict[str, float] | None) -> list[str]:
    out = []
    if alpha.get("value") is not None:
        lo, hi = alpha["ci_low"], alpha["ci_high"]
        sig = lo > 0 or hi < 0
        out.append(f"typicality bias alpha = {alpha['value']:.2f} (95% CI {lo:.2f} to {hi:.2f}): "
                   + ("raters prefer what the base model finds likely" if sig and lo > 0 else
                      "raters prefer what the base model finds unlikely" if sig else
                      "no significant typicality bias"))
    if "share_chosen_longer" in length:
        out.append(f"chosen is longer in {100 * length['share_chosen_longer']:.0f}% of pairs "
                   f"(95% CI {100 * length['ci_low']:.0f}-{100 * length['ci_high']:.0f}%, "
                   f"p = {length['p_value']:.2g})")
    if sentiment is not None:
        out.append(f"chosen minus rejected sentiment {sentiment['mean_difference']:+.3f} "
                   f"(VADER compound, p = {sentiment['p_value']:.2g})")
    return out


__getattr__ = moved(__name__, {"write_prefs_run": "rewardshift.jobs.prefs"})
