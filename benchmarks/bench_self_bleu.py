"""Self-BLEU-4: our exact O(total n-grams) engine against the nltk loop and fast-bleu.

    python benchmarks/bench_self_bleu.py            # N = 300 / 3,000 / 2,000 / 20,000 (minutes)
    python benchmarks/bench_self_bleu.py --quick    # tiny sizes, a CI smoke run

The corpus is seeded and synthetic: samples of 60 tokens drawn from a Zipfian vocabulary of
5,000 words (p(rank) proportional to 1 / rank), so frequent words and bigrams repeat across
samples as in real text. It times ``rewardshift.metrics.lexical.self_bleu_per_sample(samples)``
(best of 5 after a warm-up, best of 5 for the growth pair; token lists in, so interning is
included) and its peers:

* the definition, a loop of ``nltk.translate.bleu_score.sentence_bleu(others, sample,
  smoothing_function=SmoothingFunction().method1)`` (once);
* the C++ package ``fast_bleu.SelfBLEU`` (once; its semantics differ from nltk's on
  hypotheses shorter than 4 tokens, so the table shows its max |diff| against nltk at N = 300
  for information).

Targets (2 cores):

* N = 300: max |ours - nltk| <= 1e-9 and a speed-up >= 100x;
* N = 3,000: faster than fast-bleu;
* time(N = 20,000) / time(N = 2,000) <= 12.

In ``--quick`` mode only the accuracy target decides PASS/FAIL (timings are shown for
information). The exit status is 1 when a target fails.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
from _timing import best_of  # benchmarks/_timing.py, beside this script
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from rewardshift.metrics.lexical import self_bleu_per_sample

VOCAB = 5_000
LENGTH = 60
MAX_N = 4
TARGET_DIFF = 1e-9
TARGET_SPEEDUP = 100.0
TARGET_GROWTH = 12.0


def make_corpus(n_samples: int, *, seed: int = 0) -> list[list[str]]:
    """``n_samples`` samples of LENGTH tokens from a Zipfian vocabulary of VOCAB words."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, VOCAB + 1)
    p /= p.sum()
    words = [f"w{rank}" for rank in range(VOCAB)]
    ids = rng.choice(VOCAB, size=(n_samples, LENGTH), p=p)
    return [[words[i] for i in row] for row in ids.tolist()]


def nltk_self_bleu(samples: list[list[str]]) -> np.ndarray:
    """The definition: every sample against all the others, one sentence_bleu call each."""
    smooth = SmoothingFunction().method1
    weights = (1.0 / MAX_N,) * MAX_N
    return np.array([sentence_bleu(samples[:i] + samples[i + 1:], hyp, weights=weights,
                                   smoothing_function=smooth)
                     for i, hyp in enumerate(samples)])


def fast_bleu_self_bleu(samples: list[list[str]]) -> np.ndarray | None:
    """fast-bleu's SelfBLEU-4 (None when the package is not installed)."""
    try:
        from fast_bleu import SelfBLEU
    except ImportError:
        return None
    return np.array(SelfBLEU(samples, {MAX_N: (1.0 / MAX_N,) * MAX_N}).get_score()[MAX_N])


def time_ours(samples: list[list[str]]) -> tuple[float, np.ndarray]:
    self_bleu_per_sample(samples[: max(2, len(samples) // 10)])  # warm-up
    seconds, value = best_of(lambda: self_bleu_per_sample(samples, max_n=MAX_N), repeats=5)
    assert value is not None
    return seconds, value


def fmt(x: float | None, spec: str = ".4f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def render_table(rows: list[dict]) -> str:
    head = (f"{'N':>7} {'ours s':>9} {'nltk s':>9} {'speed-up':>9} {'max|diff|':>10} "
            f"{'fast-bleu s':>11} {'fb vs nltk':>10} {'mean':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['n']:>7,} {fmt(r['ours']):>9} {fmt(r.get('nltk')):>9} "
            f"{fmt(r.get('speedup'), '.0f') + ('x' if r.get('speedup') else ''):>9} "
            f"{fmt(r.get('diff'), '.1e'):>10} {fmt(r.get('fast')):>11} "
            f"{fmt(r.get('fast_diff'), '.1e'):>10} {fmt(r['mean']):>8}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a CI smoke run")
    args = parser.parse_args(argv)
    n_nltk, n_fast, n_small, n_large = (40, 200, 200, 2_000) if args.quick else (
        300, 3_000, 2_000, 20_000)

    print(f"self-BLEU-{MAX_N}, samples of {LENGTH} tokens, Zipfian vocabulary of {VOCAB:,} "
          f"words; {os.cpu_count()} CPU cores; numpy {np.__version__}")
    rows, verdicts = [], []

    samples = make_corpus(n_nltk, seed=1)
    ours_s, ours = time_ours(samples)
    nltk_s, ref = best_of(lambda: nltk_self_bleu(samples))
    fast_s, fast = best_of(lambda: fast_bleu_self_bleu(samples))
    diff = float(np.abs(ours - ref).max())
    rows.append(dict(n=n_nltk, ours=ours_s, nltk=nltk_s, speedup=nltk_s / ours_s, diff=diff,
                     fast=fast_s if fast is not None else None, mean=float(ours.mean()),
                     fast_diff=float(np.abs(fast - ref).max()) if fast is not None else None))
    verdicts.append((f"N={n_nltk}: max |ours - nltk| = {diff:.1e} <= {TARGET_DIFF:.0e}",
                     diff <= TARGET_DIFF))
    verdicts.append((f"N={n_nltk}: speed-up {nltk_s / ours_s:,.0f}x >= {TARGET_SPEEDUP:.0f}x",
                     None if args.quick else nltk_s / ours_s >= TARGET_SPEEDUP))

    samples = make_corpus(n_fast, seed=2)
    ours_s, ours = time_ours(samples)
    fast_s, fast = best_of(lambda: fast_bleu_self_bleu(samples))
    rows.append(dict(n=n_fast, ours=ours_s, fast=fast_s if fast is not None else None,
                     mean=float(ours.mean())))
    if fast is None:
        verdicts.append((f"N={n_fast}: faster than fast-bleu (not installed)", None))
    else:
        verdicts.append((f"N={n_fast}: ours {ours_s:.3f} s < fast-bleu {fast_s:.3f} s",
                         None if args.quick else ours_s < fast_s))

    # The two sizes alternate, best of 5 each, so that load from other processes on the
    # machine hits both alike.
    corpora = {n: make_corpus(n, seed=3) for n in (n_small, n_large)}
    times = dict.fromkeys(corpora, math.inf)
    for corpus in corpora.values():
        self_bleu_per_sample(corpus[: len(corpus) // 10])  # warm-up
    for _ in range(5):
        for n, corpus in corpora.items():
            seconds, ours = best_of(lambda corpus=corpus: self_bleu_per_sample(corpus))
            times[n] = min(times[n], seconds)
    for n, corpus in corpora.items():
        rows.append(dict(n=n, ours=times[n], mean=float(self_bleu_per_sample(corpus).mean())))
    growth = times[n_large] / times[n_small]
    verdicts.append((f"N={n_small:,} -> {n_large:,}: time grows {growth:.1f}x <= "
                     f"{TARGET_GROWTH:.0f}x", None if args.quick else growth <= TARGET_GROWTH))

    print(render_table(rows))
    print()
    for text, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL' if ok is not None else 'info'}  {text}")
    return 1 if any(ok is False for _, ok in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
