"""The persona probe's statistics: attribute histograms per source, and tuned against base.

Per source and attribute (over samples where it was found): histogram, Shannon entropy
(nats), support size, the rarefied support at the pair's common sample size (Hurlbert 1971),
the found rate, and the mean within-prompt entropy (per input, Kirk et al. 2023). Tuned
against base: entropy and support (set permutation, z), per-input entropy (paired permutation
over prompts, Cohen's d_z), Jensen-Shannon divergence (label permutation), KL(tuned || base)
with add-0.5 smoothing, and the coverage of base's categories by tuned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rewardshift.metrics import distribution as dist
from rewardshift.probes import _stats as st
from rewardshift.probes._core import Comparison, Prepared, make_comparison
from rewardshift.probes.persona_extraction import ATTRIBUTES, PersonaAttributes
from rewardshift.samples import Sample

__all__ = ["compare_attributes", "describe_source", "per_prompt_entropy"]


def describe_source(samples: Sequence[Sample], attrs: Sequence[PersonaAttributes]
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """One source's statistics ``{"<attribute>.<statistic>": value}`` and its tables
    (``histograms`` per attribute, the ``extracted`` attributes of every sample)."""
    block: dict[str, Any] = {"n_samples": len(samples),
                             "n_prompts": len({s.prompt_id for s in samples})}
    hists = {}
    for a in ATTRIBUTES:
        found = [getattr(x, a) for x in attrs if getattr(x, a) is not None]
        hist = dist.histogram(found)
        hists[a] = hist
        block[f"{a}.n_found"] = len(found)
        block[f"{a}.found_rate"] = len(found) / len(samples)
        block[f"{a}.entropy"] = dist.entropy(hist) if found else None
        block[f"{a}.support"] = len(hist)
        block[f"{a}.top_share"] = (max(hist.values()) / len(found)) if found else None
        block[f"{a}.per_input_entropy"] = _mean_or_none(per_prompt_entropy(samples, attrs, a))
    rows = [{"prompt_id": s.prompt_id, **x.as_dict()} for s, x in zip(samples, attrs,
                                                                      strict=True)]
    return block, {"histograms": hists, "extracted": rows}


def per_prompt_entropy(samples: Sequence[Sample], attrs: Sequence[PersonaAttributes],
                       attribute: str) -> dict[str, float]:
    """``{prompt_id: entropy}`` of ``attribute`` among each prompt's samples (>= 2 found)."""
    groups: dict[str, list[str]] = {}
    for s, x in zip(samples, attrs, strict=True):
        v = getattr(x, attribute)
        if v is not None:
            groups.setdefault(s.prompt_id, []).append(v)
    return {pid: dist.entropy(dist.histogram(vals)) for pid, vals in groups.items()
            if len(vals) >= 2}


def _mean_or_none(units: Mapping[str, float]) -> float | None:
    return float(np.mean(list(units.values()))) if units else None


def compare_attributes(prep: Prepared, attrs: Mapping[str, Sequence[PersonaAttributes]], *,
                       n_resamples: int, seed: int
                       ) -> tuple[list[Comparison], list[str], dict[str, Any], list[str]]:
    """Every attribute of ``prep.tuned`` against ``prep.base``.

    Returns ``(comparisons, verdicts, summary keys, notes)``: the nationality support verdict
    and each attribute's pooled entropy verdict; rarefied support, KL, JS and coverage as
    summary keys; a note for each attribute missing from either source of the pair.
    """
    b, t = prep.pair
    comps: list[Comparison] = []
    verdicts: list[str] = []
    extra: dict[str, Any] = {}
    notes: list[str] = []
    for a in ATTRIBUTES:
        va = [getattr(x, a) for x in attrs[b] if getattr(x, a) is not None]
        vb = [getattr(x, a) for x in attrs[t] if getattr(x, a) is not None]
        if not va or not vb:
            notes.append(f"{a}: not compared; found in {len(va)} {b!r} and {len(vb)} {t!r} "
                         "samples")
            continue
        codes, _ = st.encode(va + vb)
        ia, ib = np.arange(len(va)), np.arange(len(va), len(va) + len(vb))

        def statistic(idx: np.ndarray, codes: np.ndarray = codes) -> dict[str, float]:
            sub = codes[idx]
            return {"entropy": st.entropy_of_codes(sub),
                    "support": float(np.unique(sub).size)}

        sets = st.compare_sets(statistic, ia, ib, n_resamples=n_resamples, seed=seed)
        ha, hb = dist.histogram(va), dist.histogram(vb)
        n_common = min(len(va), len(vb))
        ra, rb = st.rarefied_support(ha, n_common), st.rarefied_support(hb, n_common)
        extra[f"{b}.{a}.support_rarefied"], extra[f"{t}.{a}.support_rarefied"] = ra, rb
        extra[f"{a}.rarefied_n"] = n_common
        e0, e1, p, z = sets["entropy"]
        comps.append(make_comparison(f"{a}.entropy", "pooled", e0, e1, p_value=p,
                                     effect_size=z, effect_size_kind="z",
                                     test="set permutation", label=f"{a} entropy",
                                     unit="nats"))
        s0, s1, p, z = sets["support"]
        support = make_comparison(f"{a}.support", "pooled", s0, s1, p_value=p, effect_size=z,
                                  effect_size_kind="z", test="set permutation",
                                  label=f"{a} support (distinct values)")
        comps.append(support)
        js, p_js = st.js_permutation(codes[ia], codes[ib], n_resamples=n_resamples, seed=seed)
        comps.append(make_comparison(f"{a}.js", "pooled", 0.0, js, p_value=p_js,
                                     effect_size=js, effect_size_kind="js",
                                     test="label permutation", direction=st.DISTANCE,
                                     label=f"{a} Jensen-Shannon divergence", kind="value",
                                     unit="nats"))
        ua = per_prompt_entropy(prep.by_source[b], attrs[b], a)
        ub = per_prompt_entropy(prep.by_source[t], attrs[t], a)
        if ua and ub:
            m0, m1, p, d, kind, test = st.compare_units(ua, ub, n_resamples=2000, seed=seed)
            comps.append(make_comparison(f"{a}.entropy", "per_input", m0, m1, p_value=p,
                                         effect_size=d, effect_size_kind=kind, test=test,
                                         label=f"per-input {a} entropy", unit="nats"))
        extra[f"{a}.kl_tuned_base"] = dist.kl_divergence(hb, ha, smoothing=0.5)
        extra[f"{a}.js"] = js
        extra[f"{a}.coverage"] = dist.coverage(hb, ha)
        extra[f"{a}.mass_coverage"] = dist.mass_coverage(hb, ha)
        if a == "nationality":
            verdicts.append(f"nationality: {len(ha)} distinct values in {b!r} against "
                            f"{len(hb)} in {t!r} (at a common n={n_common}: {ra:.1f} vs "
                            f"{rb:.1f}); {support.verdict}")
    verdicts += [c.verdict for c in comps if c.metric.endswith(".entropy")
                 and c.scope == "pooled"]
    return comps, verdicts, extra, notes
