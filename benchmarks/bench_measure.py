"""`rewardshift measure` on 10,000 samples with every metric, embeddings included.

Target (issue 2): under 60 s on 2 cores and under 2 GB of memory, end to end through the
CLI: reading, tokenizing, embedding, every metric per input and across inputs with CIs, the
base-vs-tuned comparison, the run directory and the report.

    python benchmarks/bench_measure.py            # 5,000 base + 5,000 tuned samples
    python benchmarks/bench_measure.py --quick    # 600 samples, a smoke run for CI
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rewardshift.demo import DemoConfig, make_pair
from rewardshift.samples import write_samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="600 samples instead of 10,000")
    args = ap.parse_args()
    n_total = 600 if args.quick else 10_000
    k = 8
    cfg = DemoConfig(n_prompts=n_total // (2 * k), samples_per_prompt=k, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        base, tuned, _ = make_pair(cfg)
        write_samples(base, Path(tmp) / "base.jsonl")
        write_samples(tuned, Path(tmp) / "tuned.jsonl")
        cmd = [sys.executable, "-m", "rewardshift.cli", "measure", f"{tmp}/base.jsonl",
               "--compare", f"{tmp}/tuned.jsonl", "--out", f"{tmp}/run"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, sep="\n")
            return 1
        n_metrics = proc.stdout.count("\n")
        ok_t, ok_m = seconds < 60, peak_mb < 2048
        print(f"\nrewardshift measure, {len(base) + len(tuned):,} samples "
              f"({len(base):,} base + {len(tuned):,} tuned, {cfg.n_prompts} prompts x {k}), "
              "every metric, embeddings included")
        print(f"{'what':<28}{'measured':>14}{'target':>12}  verdict")
        print(f"{'wall time':<28}{seconds:>12.1f} s{'< 60 s':>12}  {'PASS' if ok_t else 'FAIL'}")
        print(f"{'peak memory (RSS)':<28}{peak_mb:>11.0f} MB{'< 2048 MB':>12}  "
              f"{'PASS' if ok_m else 'FAIL'}")
        print(f"{'table lines printed':<28}{n_metrics:>14}")
        if args.quick:
            print("(--quick: a smoke run; the targets apply to the full run)")
    return 0 if (ok_t and ok_m) or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
