"""Vendi score: our d x d dual form against the direct n x n eigen-solve.

    python benchmarks/bench_vendi.py            # n = 10,000 x 384 (the direct solve takes minutes)
    python benchmarks/bench_vendi.py --quick    # n = 1,500, a CI smoke run

Two seeded embedding matrices: isotropic Gaussian rows ("random") and a realistic one
("clustered": a shared mean direction, as sentence embeddings have, plus 50 topic centres and
noise, so pairwise cosines sit around 0.3-0.6). For each, it times
``rewardshift.metrics.semantic.vendi_score(X, q=1)`` (best of 5) and the direct computation,
``np.linalg.eigvalsh`` of the n x n float64 cosine kernel (once), then checks the targets:

* ours < 0.5 s at n = 10,000 (2 cores);
* |ours - direct| <= 1e-6, for q = 1 and, from the same eigenvalues, q in {0.5, 2, inf};
* speed-up >= 100x at n = 10,000.

It also reports the cold start: in fresh processes, the import, the first call and the second
(the first pays for page faults of new buffers and BLAS thread start-up).

In ``--quick`` mode only the accuracy target decides PASS/FAIL (timings are shown for
information). The exit status is 1 when a target fails.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

from rewardshift.metrics.semantic import vendi_score

QS = (0.5, 1.0, 2.0, math.inf)
TARGET_TIME_S = 0.5
TARGET_DIFF = 1e-6
TARGET_SPEEDUP = 100.0


def make_data(kind: str, n: int, d: int, seed: int) -> np.ndarray:
    """Seeded (n, d) float32 embeddings, like an encoder's output."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        x = rng.standard_normal((n, d))
    else:  # clustered: common direction + 50 topics + noise
        common = rng.standard_normal(d)
        centres = rng.standard_normal((50, d)) * 0.8
        x = common + centres[rng.integers(0, 50, n)] + 0.6 * rng.standard_normal((n, d))
    return x.astype(np.float32)


def direct_vendi(x: np.ndarray, qs: tuple[float, ...]) -> tuple[dict[float, float], float]:
    """The peer: eigenvalues of the full n x n kernel K/n in float64, and the seconds taken."""
    u = x.astype(np.float64)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    t0 = time.perf_counter()
    k = u @ u.T
    k /= u.shape[0]
    lam = np.linalg.eigvalsh(k)
    seconds = time.perf_counter() - t0
    del k
    lam = lam[lam > lam.max() * max(u.shape) * np.finfo(np.float64).eps]  # numerical zeros
    lam = lam / lam.sum()
    out = {}
    for q in qs:
        if q == 1:
            out[q] = math.exp(-float(np.sum(lam * np.log(lam))))
        elif math.isinf(q):
            out[q] = 1.0 / float(lam.max())
        else:
            out[q] = math.exp(math.log(float(np.sum(lam**q))) / (1 - q))
    return out, seconds


def time_ours(x: np.ndarray, repeats: int = 5) -> tuple[float, float]:
    """Best-of-``repeats`` seconds of vendi_score(x, q=1), and its value."""
    value, best = math.nan, math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = vendi_score(x, q=1.0)
        best = min(best, time.perf_counter() - t0)
    return best, value


COLD = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from rewardshift.metrics.semantic import vendi_score
t1 = time.perf_counter()
sys.path.insert(0, {bench!r})
from bench_vendi import make_data
x = make_data("clustered", {n}, {d}, {seed})
t2 = time.perf_counter(); vendi_score(x); t3 = time.perf_counter(); vendi_score(x)
t4 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "first": t3 - t2, "second": t4 - t3}}))
"""


def cold_start(n: int, d: int, seed: int, runs: int = 3) -> dict[str, float]:
    """Median seconds, over fresh processes, of the import, the first call and the second."""
    import json
    import subprocess
    from pathlib import Path

    code = COLD.format(bench=str(Path(__file__).resolve().parent), n=n, d=d, seed=seed)
    times = [json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                       capture_output=True, text=True).stdout)
             for _ in range(runs)]
    return {k: float(np.median([t[k] for t in times])) for k in times[0]}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="n = 1,500 (CI smoke)")
    ap.add_argument("--n", type=int, default=None, help="override the number of rows")
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n = args.n or (1_500 if args.quick else 10_000)
    full = not args.quick and n >= 10_000
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    print(f"Vendi score benchmark: n={n:,}, d={args.d}, seed={args.seed}, {cpus} CPU(s), "
          f"numpy {np.__version__}")

    rows, failed = [], False
    for kind in ("random", "clustered"):
        x = make_data(kind, n, args.d, args.seed)
        t_ours, v_ours = time_ours(x)
        print(f"  {kind}: ours {t_ours:.3f} s; direct {n}x{n} eigen-solve running ...",
              flush=True)
        direct, t_direct = direct_vendi(x, QS)
        diff = max(abs(vendi_score(x, q=q) - direct[q]) for q in QS)
        speedup = t_direct / t_ours
        checks = [verdict(diff <= TARGET_DIFF)]
        if full:
            checks += [verdict(t_ours < TARGET_TIME_S), verdict(speedup >= TARGET_SPEEDUP)]
        failed |= "FAIL" in checks
        rows.append((kind, t_ours, t_direct, speedup, v_ours, direct[1.0], diff, checks))

    print()
    head = (f"{'data':<10} {'ours (s)':>9} {'direct (s)':>11} {'speed-up':>9} "
            f"{'VS_1 ours':>14} {'VS_1 direct':>14} {'max|diff|':>10}  accuracy  "
            f"{'time' if full else ''}  {'speed-up' if full else ''}")
    print(head)
    print("-" * len(head))
    for kind, t_o, t_d, sp, v_o, v_d, diff, checks in rows:
        print(f"{kind:<10} {t_o:>9.4f} {t_d:>11.2f} {sp:>8.0f}x {v_o:>14.8f} {v_d:>14.8f} "
              f"{diff:>10.1e}  " + "      ".join(checks))
    print()
    print(f"targets: max|diff| over q in (0.5, 1, 2, inf) <= {TARGET_DIFF:g}"
          + (f"; ours < {TARGET_TIME_S} s; speed-up >= {TARGET_SPEEDUP:.0f}x" if full else
             "; time and speed-up targets apply only at n >= 10,000 (not in --quick)"))
    cold = cold_start(n, args.d, args.seed)
    print(f"cold start (fresh process, median of 3, clustered data): import "
          f"{cold['import']:.2f} s, first call {cold['first']:.3f} s, second call "
          f"{cold['second']:.3f} s")
    print("RESULT:", "FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
