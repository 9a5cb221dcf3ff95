"""The weighted-pool engine: a 100-point β sweep plus best-of-n for n = 1..10^4 on 10^6 outcomes.

    python benchmarks/bench_pool.py            # N = 10^6 outcomes, n = 1..10^4
    python benchmarks/bench_pool.py --quick    # N = 10^5, n = 1..10^3, a CI smoke run

A seeded pool drawn from the base: gold ~ N(0, 1), proxy = gold + Student-t(3) error (a
heavy-tailed proxy, so gold turns down). Our side, timed as one call each (best of 3):

* ``tilt_sweep``: 100 log-spaced β in [0.5, 500], KL, ESS and E[proxy], E[gold] for each;
* ``best_of_n_sweep`` on ``bon_grid(n_max)`` (169 log-spaced n covering 1..10^4; every
  n ≤ 21 is on the grid), with E[proxy], E[gold], E[gold²]. Values at the other n come from
  ``BonSweep.interpolate`` (linear in log n); the benchmark measures that interpolation error
  against direct evaluation at 40 seeded off-grid n and reports it as the tolerance ``tol``.
  At grid points the estimator is exact for the pool (to ~1e-9).

The naive way, in the same run:

* tilt: a straightforward loop, per β ``scipy.special.softmax`` then a separate dot product and
  ``log`` per quantity (exact, so equal accuracy); timed directly. Both are O(N) per β, so the
  gain over a sensible loop is small; the gain that matters is over materialising the (B, N)
  weight matrix, which needs B·N·8 bytes (0.8 GB at B = 100, N = 10^6) per copy.
* best-of-n: draw n of the N pooled outcomes, score, keep the max's gold, repeat R times. At
  equal accuracy its standard error sd_n(gold)/sqrt(R) must equal ``tol``, so
  R(n) = sd_n(gold)² / tol² (sd_n from our own sweep). We time it directly at a few n with a
  smaller R, check it agrees with our estimate (within 4 standard errors), and extrapolate the
  cost per drawn sample to all n = 1..n_max: naive = Σ_n R(n) · n · (seconds per draw).

Targets (full run): ours < 2 s on 2 cores, peak memory < 2 GB (tracemalloc peak of our
computation and the process's max RSS), interpolation tolerance ≤ 1e-3 (gold in standard
units). In ``--quick`` mode the same targets apply to the small pool. Exit status 1 when a
target fails.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import numpy as np
from _timing import best_of  # benchmarks/_timing.py, beside this script
from scipy.special import softmax

from rewardshift.lab.optimize import best_of_n_sweep, bon_grid, tilt_sweep

TARGET_TIME_S = 2.0
TARGET_MEM_GB = 2.0
TARGET_TOL = 1e-3


def make_pool(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded gold ~ N(0, 1) and a heavy-tailed proxy = gold + t(3)."""
    rng = np.random.default_rng(seed)
    gold = rng.standard_normal(n)
    proxy = gold + rng.standard_t(3, size=n)
    return proxy, gold


def ours(proxy, gold, betas, ns):
    w = np.full(len(proxy), 1.0 / len(proxy))
    funcs = {"proxy": proxy, "gold": gold}
    tilt = tilt_sweep(w, proxy, betas, functions=funcs, sampled=True, allow_low_ess=True)
    bon = best_of_n_sweep(proxy, ns, functions={**funcs, "gold2": gold * gold})
    return tilt, bon


def naive_tilt(proxy, gold, betas) -> tuple[float, np.ndarray]:
    """Per β: softmax, then one pass per quantity (KL, proxy, gold)."""
    t0 = time.perf_counter()
    n = len(proxy)
    out = np.empty((len(betas), 3))
    for j, b in enumerate(betas):
        pi = softmax(proxy / b)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.sum(np.where(pi > 0, pi * np.log(n * pi), 0.0))
        out[j] = kl, pi @ proxy, pi @ gold
    return time.perf_counter() - t0, out


def naive_bon(proxy, gold, n: int, reps: int, seed: int) -> tuple[float, float, float]:
    """Mean and standard error of gold of the best of n drawn from the pool, and seconds."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    chunk = max(1, 2_000_000 // n)
    vals = []
    done = 0
    while done < reps:
        r = min(chunk, reps - done)
        idx = rng.integers(0, len(proxy), size=(r, n))
        best = idx[np.arange(r), np.argmax(proxy[idx], axis=1)]
        vals.append(gold[best])
        done += r
    v = np.concatenate(vals)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(reps)), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 10^5, n_max = 10^3 (CI)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    big_n, n_max = (100_000, 1_000) if args.quick else (1_000_000, 10_000)
    proxy, gold = make_pool(big_n, args.seed)
    betas = np.geomspace(0.5, 500.0, 100)
    ns = bon_grid(n_max)
    print(f"pool N={big_n:,}  betas={len(betas)}  best-of-n grid: {len(ns)} n in 1..{n_max:,}")

    t_ours, (tilt, bon) = best_of(lambda: ours(proxy, gold, betas, ns), repeats=3)
    w = np.full(big_n, 1.0 / big_n)
    t_tilt, _ = best_of(lambda: tilt_sweep(w, proxy, betas, functions={"proxy": proxy,
                                             "gold": gold}, allow_low_ess=True), repeats=3)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    tracemalloc.start()
    ours(proxy, gold, betas, ns)
    peak_gb = tracemalloc.get_traced_memory()[1] / 2 ** 30
    tracemalloc.stop()

    # interpolation error of the grid at off-grid n
    rng = np.random.default_rng(args.seed + 1)
    off = np.setdiff1d(np.arange(1, n_max + 1), ns)
    off = np.sort(rng.choice(off, size=min(40, len(off)), replace=False))
    direct = best_of_n_sweep(proxy, off, functions={"gold": gold}).expectations["gold"]
    tol = float(np.max(np.abs(bon.interpolate("gold", off) - direct)))

    # naive tilt, timed directly (exact, so the same accuracy)
    t_naive_tilt, nt = naive_tilt(proxy, gold, betas)
    agree_tilt = float(np.max(np.abs(nt[:, 2] - tilt.expectations["gold"])))

    # naive best-of-n: timed at a few n, extrapolated to all n at equal accuracy
    e_g, e_g2 = bon.expectations["gold"], bon.expectations["gold2"]
    sd_n = np.sqrt(np.maximum(e_g2 - e_g ** 2, 0.0))
    probe = [n for n in (1, 10, 100, 1000) if n <= n_max]
    per_draw, rows = [], []
    for n in probe:
        reps = max(200, 4_000_000 // n)
        mean, se, sec = naive_bon(proxy, gold, n, reps, args.seed + n)
        ref = float(bon.interpolate("gold", n))
        per_draw.append(sec / (reps * n))
        rows.append((n, reps, mean, se, ref, abs(mean - ref) <= 4 * se + 1e-9, sec))
    all_n = np.arange(1, n_max + 1)
    sd_all = np.interp(np.log(all_n), np.log(ns), sd_n)
    c_all = np.interp(np.log(all_n), np.log(probe), per_draw)
    reps_needed = sd_all ** 2 / max(tol, 1e-12) ** 2
    t_naive_bon = float(np.sum(reps_needed * all_n * c_all))

    print("\nnaive best-of-n vs our estimate (same pool):")
    print(f"{'n':>6} {'R':>9} {'naive gold':>11} {'±se':>8} {'ours':>9} {'agree':>6} "
          f"{'sec':>6}")
    for n, reps, mean, se, ref, ok, sec in rows:
        print(f"{n:>6} {reps:>9,} {mean:>11.4f} {se:>8.4f} {ref:>9.4f} "
              f"{'yes' if ok else 'NO':>6} {sec:>6.2f}")
    peak = int(np.argmax(e_g))
    print(f"\nbest-of-n gold peaks at n={int(ns[peak])} ({e_g[peak]:.3f}); "
          f"at n={n_max}: {e_g[-1]:.3f}; proxy {bon.expectations['proxy'][-1]:.2f}")
    print(f"tilt: {int(tilt.low_ess.sum())} of {len(betas)} β flagged ESS < {tilt.min_ess:g}; "
          f"naive tilt max |Δ gold| = {agree_tilt:.1e}")

    checks = [
        ("ours: tilt sweep + best-of-n sweep", f"{t_ours:.3f} s", f"< {TARGET_TIME_S} s",
         t_ours < TARGET_TIME_S),
        ("ours: peak traced memory", f"{peak_gb:.3f} GB", f"< {TARGET_MEM_GB} GB",
         peak_gb < TARGET_MEM_GB),
        ("process max RSS (after ours)", f"{rss_gb:.3f} GB", f"< {TARGET_MEM_GB} GB",
         rss_gb < TARGET_MEM_GB),
        ("grid interpolation error = tol", f"{tol:.1e}", f"<= {TARGET_TOL:g}",
         tol <= TARGET_TOL),
        ("naive agrees with ours (4 se)", f"{sum(r[5] for r in rows)}/{len(rows)}", "all",
         all(r[5] for r in rows)),
        ("  of which the tilt sweep", f"{t_tilt:.3f} s", "", None),
        ("naive tilt (direct)", f"{t_naive_tilt:.3f} s", f"x{t_naive_tilt / t_ours:.1f} ours",
         None),
        ("naive best-of-n at tol (extrap.)", f"{t_naive_bon:.3g} s",
         f"x{t_naive_bon / t_ours:.2g} ours", None),
    ]
    print(f"\n{'measure':<36} {'value':>12} {'target':>16}  result")
    for name, val, target, ok in checks:
        res = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{name:<36} {val:>12} {target:>16}  {res}")
    failed = [c[0] for c in checks if c[3] is False]
    print("\nFAIL: " + ", ".join(failed) if failed else "\nall targets PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
