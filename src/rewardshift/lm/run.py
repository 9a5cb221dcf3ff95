"""The tiny-LM pipeline end to end: grammar -> pretrain -> raters -> RM -> GRPO / DPO / best-of-n
-> measure every checkpoint -> run directory (and report).

Layout of the run directory::

    config.json  summary.json  metrics.jsonl  samples.parquet  report.html  figures/
    base/            the pretrained policy (standard format, with its tokenizer)
    reward_model/    the proxy RM (sequence classifier)
    grpo-kl/final/   the tuned policy of the KL-regularised GRPO run (the "tuned" model)
    grpo-weak-kl/    the weak-KL run that hacks the RM; dpo/ the DPO run
    <run>/checkpoint-N/   checkpoints along training; <run>/monitor/ the monitor's logs

``metrics.jsonl`` holds one record per measured checkpoint (``phase="checkpoint"``: ``run``,
``step`` and the :func:`~rewardshift.lm.evaluate.evaluate_policy` row), one per training step
(``phase="train"``: TRL's logged values and the monitor's), one per best-of-n ``n``
(``run="best-of-n"``) and one per β of the exact tilt on the breakage support
(``run="closed-form"``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardshift._exceptions import InputError
from rewardshift.config import Config
from rewardshift.generate.scoring import sequence_logprobs
from rewardshift.lab.optimize import best_of_n_sweep, bon_kl_bound, tilt_sweep
from rewardshift.lm.evaluate import ATTRIBUTES, PolicyEval, all_prompts, evaluate_policy
from rewardshift.lm.grammar import FEATURES, PROMPTS, TextGrammar
from rewardshift.lm.preferences import GoldReward, TextRaterConfig, text_preferences
from rewardshift.lm.pretrain import PretrainConfig, load_causal_lm, pretrain
from rewardshift.lm.reward import RewardConfig, RewardScorer, train_reward_model
from rewardshift.lm.sampling import sample_completions
from rewardshift.lm.tune import (
    DPOSettings,
    GRPOSettings,
    ProxyReward,
    checkpoints,
    run_dpo,
    run_grpo,
)
from rewardshift.progress import Progress, StageClock
from rewardshift.rundir import RunDir
from rewardshift.samples import Sample

__all__ = ["LMConfig", "LMResult", "load_lm_config", "run_lm"]


@dataclass(frozen=True)
class LMConfig(Config):
    """Everything a ``rewardshift lm run`` does, with defaults sized for ~10 min on 2 cores."""

    _label = "lm config"

    seed: int = 0
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    raters: TextRaterConfig = field(default_factory=TextRaterConfig)
    pref_texts: int = field(default=2000, metadata={"help": "grammar texts per kind to pair"})
    pref_pairs: int = field(default=4000, metadata={"help": "preference pairs in all"})
    reward: RewardConfig = field(default_factory=RewardConfig)
    grpo: tuple[GRPOSettings, ...] = field(default_factory=lambda: (
        GRPOSettings(name="grpo-kl", beta=0.5, steps=80, learning_rate=1e-4, save_every=10),
        GRPOSettings(name="grpo-weak-kl", beta=0.1, steps=80, learning_rate=1e-4,
                     save_every=10),
        GRPOSettings(name="grpo-no-kl", beta=0.0, steps=80, learning_rate=3e-4,
                     save_every=10)))
    dpo: DPOSettings | None = field(default_factory=DPOSettings)
    tuned_run: str = field(default="grpo-kl", metadata={
        "help": "the run whose final policy is the 'tuned' model of the report"})
    eval_k: int = field(default=16, metadata={"help": "completions per prompt per checkpoint"})
    bon_pool: int = field(default=256, metadata={"help": "base samples per prompt for best-of-n"})
    bon_ns: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    closed_form_betas: int = field(default=40, metadata={"help": "β values of the exact tilt"})
    monitor: bool = field(default=True, metadata={"help": "attach the training monitor"})
    embed: bool = field(default=False, metadata={"help": "embedding diversity (MiniLM)"})
    report_to: str = field(default="none", metadata={
        "help": "trackers TRL logs to (e.g. 'tensorboard'); the run directory always gets all"})

    def __post_init__(self) -> None:
        if self.eval_k < 2:
            raise InputError(f"LMConfig.eval_k={self.eval_k} must be >= 2 (per-input diversity "
                             "needs two completions of a prompt)")
        if self.bon_pool < max(self.bon_ns):
            raise InputError(f"LMConfig.bon_pool={self.bon_pool} must be >= max(bon_ns)="
                             f"{max(self.bon_ns)}")
        names = [g.name for g in self.grpo] + ([self.dpo.name] if self.dpo else [])
        if len(set(names)) != len(names):
            raise InputError(f"run names {names} must be distinct")
        if self.tuned_run not in names:
            raise InputError(f"tuned_run={self.tuned_run!r} is not one of the runs {names}")

    @classmethod
    def small(cls, seed: int = 0) -> LMConfig:
        """The CI configuration: the whole pipeline in about a minute on 2 cores."""
        return cls(
            seed=seed, pretrain=PretrainConfig(n_train=3000, n_heldout=300, epochs=1.0,
                                               n_embd=64, seed=seed),
            pref_texts=300, pref_pairs=400, reward=RewardConfig(epochs=1.0, seed=seed),
            grpo=tuple(GRPOSettings(name=name, beta=beta, steps=6, learning_rate=lr,
                                    prompts_per_step=3, num_generations=4, save_every=3,
                                    seed=seed)
                       for name, beta, lr in (("grpo-kl", 0.5, 5e-4), ("grpo-weak-kl", 0.1, 5e-4),
                                              ("grpo-no-kl", 0.0, 1e-3))),
            dpo=DPOSettings(epochs=1.0, batch_size=32, save_every=6, seed=seed),
            eval_k=4, bon_pool=32, bon_ns=(1, 2, 4, 8, 16, 32), closed_form_betas=12)


def load_lm_config(path: str | os.PathLike[str]) -> LMConfig:
    """Read an :class:`LMConfig` from a TOML (``.toml``) or JSON file."""
    return LMConfig.from_file(path, "lm")


def _sample_rows(ev: PolicyEval, label: str, limit: int | None = None) -> list[dict[str, Any]]:
    rows = []
    for i, c in enumerate(ev.completions[:limit]):
        rows.append({"policy": label, "prompt": c.prompt, "text": c.text,
                     "proxy": float(ev.proxy[i]), "gold": float(ev.gold[i]),
                     "in_grammar": bool(ev.in_grammar[i]), "terminated": c.terminated})
    return rows


def _hacked(ev: PolicyEval, label: str, limit: int = 12) -> list[dict[str, Any]]:
    """Completions the proxy scores above the base mean that the gold scores at the floor."""
    rows = _sample_rows(ev, label)
    bad = [r for r in rows if not r["in_grammar"]]
    bad.sort(key=lambda r: -r["proxy"])
    seen, out = set(), []
    for r in bad:
        if r["text"] not in seen:
            seen.add(r["text"])
            out.append(r)
        if len(out) == limit:
            break
    return out


def _parting_step(rows: list[dict[str, Any]]) -> int | None:
    """First checkpoint after the gold's peak at which the proxy is above its value there.

    The step where proxy and gold part (Gao et al. 2022): gold has passed its maximum over the
    measured checkpoints and is falling while the proxy keeps rising. ``None`` when the gold
    peaks at the last checkpoint (no parting seen).
    """
    if len(rows) < 2:
        return None
    gold = np.array([r["gold"] for r in rows])
    i = int(np.argmax(gold))
    for r in rows[i + 1:]:
        if r["proxy"] > rows[i]["proxy"] and r["gold"] < gold[i]:
            return int(r["step"])
    return None


def _closed_form(grammar: TextGrammar, base, tok, scorer: RewardScorer, gold: GoldReward,
                 n_betas: int) -> list[dict[str, Any]]:
    """The exact KL tilt ``pi_b ∝ pi_base exp(r / b)`` on the whole breakage support.

    ``pi_base`` is the base model's probability of each of the 864 breakage texts under the
    first breakage prompt, renormalised over the support; proxy and gold as in training.
    Being exact on the grammar's support, it cannot leave the grammar -- the contrast with
    real training, which can.
    """
    prompt = PROMPTS["breakage"][0][1]
    texts = [s.text for s in grammar.enumerate("breakage")]
    prompts = [prompt] * len(texts)
    lp = sequence_logprobs(base, tok, prompts, texts)
    w = np.exp(lp - lp.max())
    w /= w.sum()
    r = scorer.score(prompts, texts)
    g = gold(prompts, texts, [True] * len(texts))
    betas = np.geomspace(10.0, 0.001, n_betas)
    sweep = tilt_sweep(w, r, betas, functions={"proxy": r, "gold": g}, sampled=False)
    return [{"run": "closed-form", "beta": float(b), "kl": float(k),
             "sqrt_kl": math.sqrt(max(float(k), 0.0)), "proxy": float(p), "gold": float(q)}
            for b, k, p, q in zip(betas, sweep.kl, sweep.expectations["proxy"],
                                  sweep.expectations["gold"], strict=True)]


def _best_of_n(base, tok, scorer: RewardScorer, gold: GoldReward, config: LMConfig
               ) -> list[dict[str, Any]]:
    """Best-of-n by sampling: a pool of base completions per prompt, unbiased estimator."""
    prompts = all_prompts()
    comps = sample_completions(base, tok, prompts, config.bon_pool, seed=config.seed + 500)
    proxy = scorer.score_encoded([c.encoded for c in comps])
    det = gold.details([c.prompt for c in comps], [c.text for c in comps],
                       [c.terminated for c in comps])
    ns = np.array(config.bon_ns)
    keys = ("proxy", "gold", "in_grammar", "kl")
    acc = {key: np.zeros(len(ns)) for key in keys}
    for j in range(len(prompts)):
        sl = slice(j * config.bon_pool, (j + 1) * config.bon_pool)
        sw = best_of_n_sweep(proxy[sl], ns, functions={
            "proxy": proxy[sl], "gold": det["gold"][sl],
            "in_grammar": det["in_grammar"][sl].astype(float)})
        for key in keys[:3]:
            acc[key] += sw.expectations[key] / len(prompts)
        acc["kl"] += sw.kl / len(prompts)
    return [{"run": "best-of-n", "n": int(n), "kl_bound": float(bon_kl_bound(int(n))),
             "sqrt_kl": math.sqrt(max(float(acc["kl"][i]), 0.0)),
             **{key: float(acc[key][i]) for key in keys}} for i, n in enumerate(ns)]


def _train_rows(trainer, run: str) -> list[dict[str, Any]]:
    rows = []
    for rec in trainer.state.log_history:
        if "step" not in rec or "train_runtime" in rec:
            continue
        row = {"run": run, "phase": "train", "step": int(rec["step"])}
        row.update({k: float(v) for k, v in rec.items()
                    if k != "step" and isinstance(v, (int, float)) and math.isfinite(v)})
        rows.append(row)
    return rows


@dataclass(frozen=True)
class LMResult:
    """What the tiny-LM world found: ``summary`` (as ``summary.json`` holds it) and the run
    directory holding the checkpoints (``base/``, one folder per tuning run)."""

    summary: dict[str, Any]
    run_dir: RunDir


def run_lm(config: LMConfig, out: str | os.PathLike[str] | RunDir, *,
           progress: Progress | None = None) -> LMResult:
    """Run the pipeline, writing its stages into ``out``; returns the summary.

    Checkpoints, ``metrics.jsonl`` and ``samples.parquet`` go into ``out``; the report and
    ``summary.json`` are the job's (:func:`rewardshift.jobs.lm.lm_job`). ``progress(stage,
    done, total)`` hears of each finished stage. With ``config.monitor`` each GRPO run carries
    the training monitor (:func:`rewardshift.lm.monitoring.attach_monitor`; logs in
    ``<run>/monitor/``), and its alarm events go to ``summary["alarms"]``.
    """
    import warnings

    from transformers.utils import logging as hf_logging

    if isinstance(progress, bool):  # before 0.2 a flag drew a bar here; the CLI draws it now
        progress = None
    rd = out if isinstance(out, RunDir) else RunDir.create(Path(out).parent, Path(out).name)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # library chatter (deprecations inside TRL) is not news
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return LMResult(_run_lm(config, rd, progress), rd)
    finally:
        hf_logging.set_verbosity(verbosity)


def _run_lm(config: LMConfig, rd: RunDir, progress: Progress | None) -> dict[str, Any]:
    """The body of :func:`run_lm`."""
    import datasets
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    hf_logging.disable_progress_bar()  # the stage bar is the progress; no per-file bars
    datasets.disable_progress_bars()
    rd.write_config({"lm": config.to_dict()}, seeds={"seed": config.seed})
    grammar = TextGrammar()
    gold = GoldReward(grammar, config.raters)
    names = (["pretrain", "preferences", "reward model"] + [g.name for g in config.grpo]
             + ([config.dpo.name] if config.dpo else []) + ["best-of-n", "closed form"])
    st = StageClock(names, progress, prefix="lm run")
    summary: dict[str, Any] = {"kind": "lm", "seed": config.seed}
    # 1. the base policy
    pre = pretrain(rd.file("base"), config.pretrain, grammar=grammar, progress=False)
    shutil.rmtree(rd.file("base") / "_trainer", ignore_errors=True)
    base, tok = load_causal_lm(rd.file("base"))
    summary["pretrain"] = {**pre.to_dict(), "path": "base"}
    summary["world"] = {"entropy": {k: grammar.entropy(k) for k in grammar.kinds},
                        "support": {k: grammar.support_size(k) for k in grammar.kinds}}
    st.done("pretrain")

    # 2. raters' pairs under the base model's typicality
    records = text_preferences(grammar, lambda p, t: sequence_logprobs(base, tok, p, t),
                               config.raters, n_texts=config.pref_texts,
                               n_pairs=config.pref_pairs, seed=config.seed + 11)
    rd.write_json("preferences_sample.json", records[:50])
    st.done("preferences")

    # 3. the proxy reward model (TRL RewardTrainer) beside the features-based one
    scorer, rm_stats = train_reward_model(rd.file("base"), records, rd.file("reward_model"),
                                          config.reward, progress=False)
    shutil.rmtree(rd.file("reward_model") / "_trainer", ignore_errors=True)
    rm_stats["features_rm"] = _features_rm(grammar, records, config.seed)
    summary["reward_model"] = rm_stats
    st.done("reward model")

    # 4. tuning: measure the base once, then every checkpoint of every run
    k = config.eval_k
    base_eval = evaluate_policy(base, tok, base_model=base, scorer=scorer, gold=gold,
                                grammar=grammar, k=k, seed=config.seed + 1000,
                                embed=config.embed)
    evals: dict[str, PolicyEval] = {"base": base_eval}
    summary["runs"], summary["alarms"] = {}, {}
    proxy_fn = ProxyReward(scorer)

    runs: list[tuple[str, dict[str, Any]]] = []
    for g in config.grpo:
        rewards: list[Callable[..., Any]] = [proxy_fn]
        weights: list[float] = [1.0]
        callbacks: list[Any] = []
        finish: Callable[[], list[dict]] | None = None
        if config.monitor:
            from rewardshift.lm.monitoring import attach_monitor

            rewards, weights, callbacks, finish = attach_monitor(
                rd.file(g.name) / "monitor", gold, proxy_fn, embed=config.embed)
        trainer = run_grpo(rd.file("base"), all_prompts(), rewards, rd.file(g.name), g,
                           reward_weights=weights, callbacks=callbacks, progress=False,
                           report_to=config.report_to)
        rd.append_metrics(_train_rows(trainer, g.name))
        summary["alarms"][g.name] = finish() if finish else []
        runs.append((g.name, {"method": "grpo", "monitored": bool(config.monitor),
                              **dataclasses.asdict(g)}))
        _measure_run(rd, g.name, base, tok, scorer, gold, grammar, config, base_eval,
                     summary, evals)
        st.done(g.name)
    if config.dpo is not None:
        d = config.dpo
        trainer = run_dpo(rd.file("base"), records, rd.file(d.name), d, progress=False,
                          report_to=config.report_to)
        rd.append_metrics(_train_rows(trainer, d.name))
        runs.append((d.name, {"method": "dpo", "monitored": False,
                              **dataclasses.asdict(d)}))
        _measure_run(rd, d.name, base, tok, scorer, gold, grammar, config, base_eval,
                     summary, evals)
        st.done(d.name)
    for name, meta in runs:
        summary["runs"][name].update(meta)

    # 5. best-of-n and the closed form beside the real training
    bon = _best_of_n(base, tok, scorer, gold, config)
    rd.append_metrics(bon)
    summary["best_of_n"] = bon
    st.done("best-of-n")
    closed = _closed_form(grammar, base, tok, scorer, gold, config.closed_form_betas)
    rd.append_metrics(closed)
    summary["closed_form"] = closed
    st.done("closed form")

    # 6. samples, histograms, hacked completions
    tuned = evals[config.tuned_run]
    summary["tuned_run"] = config.tuned_run
    summary["tuned_path"] = f"{config.tuned_run}/final"
    summary["histograms"] = _histograms(grammar, evals)
    hacked_run = max((n for n in evals if n != "base"),  # most out of grammar, then proxy
                     key=lambda n: (1 - evals[n].row["in_grammar"], evals[n].row["proxy"]))
    summary["hacked"] = {"run": hacked_run, "samples": _hacked(evals[hacked_run], hacked_run)}
    summary["samples"] = {"base": _sample_rows(base_eval, "base"),
                          "tuned": _sample_rows(tuned, config.tuned_run)}
    rd.write_samples(_samples(evals))
    summary["timings"] = st.times
    summary["features"] = list(FEATURES)
    summary["timings"] = st.times  # the job adds the report's time once it is written
    return summary


def _measure_run(rd, name: str, base, tok, scorer, gold, grammar, config: LMConfig,
                 base_eval: PolicyEval, summary: dict[str, Any], evals: dict[str, PolicyEval]
                 ) -> None:
    from transformers import AutoModelForCausalLM

    rows = [{"run": name, "phase": "checkpoint", "step": 0, **base_eval.row}]
    last = None
    for step, path in checkpoints(rd.file(name)):
        model = AutoModelForCausalLM.from_pretrained(str(path))
        ev = evaluate_policy(model, tok, base_model=base, scorer=scorer, gold=gold,
                             grammar=grammar, k=config.eval_k, seed=config.seed + 1000,
                             embed=config.embed)
        rows.append({"run": name, "phase": "checkpoint", "step": step, **ev.row})
        last = ev
    rd.append_metrics(rows)
    if last is None:
        raise InputError(f"run '{name}' saved no checkpoint; lower its save_every")
    evals[name] = last
    summary["runs"][name] = {"first": rows[0], "final": rows[-1], "checkpoints": [r["step"] for r in rows],
                             "parting_step": _parting_step(rows), "path": f"{name}/final"}


def _features_rm(grammar: TextGrammar, records: list[dict], seed: int) -> dict[str, Any]:
    """Issue 3's features-based linear RM on the same pairs: held-out accuracy, for comparison."""
    from rewardshift.lab.reward_model import LinearRM

    fc = grammar.features([r["chosen_text"] for r in records])
    fr = grammar.features([r["rejected_text"] for r in records])
    rng = np.random.default_rng(seed)
    flip = rng.random(len(records)) < 0.5  # present chosen first or second at random
    fa = np.where(flip[:, None], fr, fc)
    fb = np.where(flip[:, None], fc, fr)
    labels = (~flip).astype(np.int64)
    da = {f: fa[:, i] for i, f in enumerate(FEATURES)}
    db = {f: fb[:, i] for i, f in enumerate(FEATURES)}
    rm = LinearRM(seed=seed).fit(da, db, labels)
    return {"heldout_accuracy": float(rm.heldout_accuracy), "sees": "the four features only"}


def _histograms(grammar: TextGrammar, evals: dict[str, PolicyEval]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, names in ATTRIBUTES.items():
        for a in names:
            entry: dict[str, Any] = {"truth": grammar.marginal(kind, a)}
            for label, ev in evals.items():
                entry[label] = ev.histograms.get(kind, {}).get(a, {})
            out.setdefault(kind, {})[a] = entry
    return out


def _samples(evals: dict[str, PolicyEval]) -> list[Sample]:
    out = []
    for label, ev in evals.items():
        for i, c in enumerate(ev.completions):
            pid = next((pid for pairs in PROMPTS.values() for pid, p in pairs if p == c.prompt),
                       "prompt")
            out.append(Sample(text=c.text, prompt_id=pid, prompt=c.prompt, source=label,
                              logprob=float(ev.logprob[i]) if ev.logprob[i] <= 0 else None,
                              meta={"proxy": float(ev.proxy[i]), "gold": float(ev.gold[i]),
                                    "in_grammar": bool(ev.in_grammar[i]),
                                    "terminated": bool(c.terminated)}))
    return out
