"""The training monitor's overhead on a real TRL GRPO run: the same run with and without it.

    python benchmarks/bench_monitor.py            # 20 steps a run, 5 rounds
    python benchmarks/bench_monitor.py --quick    # 6 steps a run, 2 rounds, a CI smoke run

The run: a randomly initialised GPT-2 (2 layers, n_embd 128, 4 heads) over a 200-word
word-level vocabulary, GRPO on CPU in fp32 with 8 prompts x 8 generations a step and
completions of up to 32 tokens; the proxy reward counts one word, a toy gold reward
penalises length. Nothing is downloaded.

* **plain**: ``reward_funcs=[proxy]``.
* **monitored**: ``reward_funcs=[monitor.wrap(proxy), monitor.reward_function()]`` with
  ``reward_weights=[1, 0]``, a ``gold_fn``, a run directory (``metrics.jsonl``, appended every
  ``flush_every=10`` rows) and ``MonitorCallback``; embeddings off (the default).

Both configurations run with the same seed, so they generate the same completions and take the
same optimizer steps (tests/monitor/test_trl.py checks that bit for bit); the only extra work is
the monitor's. A step is timed by a callback from ``on_step_begin`` to ``on_step_end`` (the last
callback, so its ``on_step_end`` comes after ``MonitorCallback``'s), in wall time and in the
process's CPU time; it covers generation, scoring, the monitor, backward and the optimizer.
The first ``warmup`` steps of each run are dropped; configurations alternate over the rounds
(plain, monitored, plain, ...), each round building a fresh trainer. Because step i of both
runs generates the same completions, the estimate is *paired*: per round, the median over
steps of (monitored step i - plain step i) over the median plain step; then the median over
rounds. Pairing removes the step-to-step variation of what was generated, and the medians the
bursts of load on a shared machine (a burst can slow a whole round by half; CPU time is
immune to it, wall time is not). The ratio of the best-of-rounds medians is
shown too, and, as a check that needs no subtraction, the time spent inside the monitor's
reward function, measured directly.

Targets: paired overhead < 5% in wall time and in CPU time, and time inside the monitor < 5% of
the plain step. A round in which either run's median wall time exceeds 1.1 x its CPU time ran
while another process shared the core; it is left out of the wall-time estimate (and the
wall-time target is not judged when no round is clean). ``--quick`` (6 steps a run, 2 rounds)
cannot resolve 5% of a step on a shared machine (its two A/B figures scatter by several
percent), so there they are shown, not judged: it gates only the directly measured time inside
the monitor, and checks that the whole integration runs. Exit status 1 when a target fails. Torch runs
on one thread by default: on a busy 2-core machine OpenMP threads spin-wait and a model this
small ran ~100x slower per op on two.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

TARGET_OVERHEAD = 0.05
LOAD_RATIO = 1.1  # wall / CPU time of a run above which the machine was busy with others
N_WORDS = 200
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def build_tokenizer():
    """A word-level tokenizer over w0..w199 (WordLevel + WhitespaceSplit)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate([PAD, EOS, UNK, *(f"w{i}" for i in range(N_WORDS))])}
    core = Tokenizer(WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS,
                                   bos_token=EOS, unk_token=UNK, padding_side="left")


def build_model(tokenizer, seed: int):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_layer=2, n_head=4, n_embd=128, n_positions=64,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))


def proxy_reward(prompts, completions, **kwargs):
    """Toy proxy: occurrences of "w7"."""
    return [float(c.split().count("w7")) for c in completions]


def gold_reward(prompts, completions, **kwargs):
    """Toy gold: minus the length in words, scaled."""
    return [-0.1 * len(c.split()) for c in completions]


class Timed:
    """Wraps a callable and adds its wall time to ``seconds``."""

    def __init__(self, fn):
        self.fn, self.seconds, self.__name__ = fn, [], fn.__name__

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = self.fn(*args, **kwargs)
        self.seconds.append(time.perf_counter() - t0)
        return out


def run(monitored: bool, *, steps: int, seed: int,
        workdir: Path) -> tuple[list[float], list[float], float]:
    """One GRPO run: per-step wall and CPU seconds, and the median seconds inside the monitor."""
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rewardshift.monitor import MonitorCallback, TrainingMonitor

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.t0, self.c0, self.seconds, self.cpu_seconds = 0.0, 0.0, [], []

        def on_step_begin(self, args, state, control, **kw):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            self.seconds.append(time.perf_counter() - self.t0)
            self.cpu_seconds.append(time.process_time() - self.c0)

    tok = build_tokenizer()
    prompts = [f"w{i} w{i + 1} w{i + 2}" for i in range(64)]  # 64 distinct: 8 steps an epoch
    args = GRPOConfig(output_dir=str(workdir / "out"), use_cpu=True, bf16=False, seed=seed,
                      gradient_checkpointing=False, per_device_train_batch_size=64,
                      num_generations=8, max_completion_length=32, max_steps=steps,
                      logging_steps=1, report_to="none", save_strategy="no", disable_tqdm=True,
                      reward_weights=[1.0, 0.0] if monitored else None)
    callbacks, observer = [], None
    rewards = [proxy_reward]
    if monitored:
        monitor = TrainingMonitor(gold_fn=gold_reward, run_dir=workdir / "run")
        observer = Timed(monitor.reward_function())
        rewards = [monitor.wrap(proxy_reward), observer]
        callbacks.append(MonitorCallback(monitor))
    timer = StepTimer()
    callbacks.append(timer)
    trainer = GRPOTrainer(model=build_model(tok, seed), reward_funcs=rewards, args=args,
                          train_dataset=Dataset.from_dict({"prompt": prompts}),
                          processing_class=tok, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # the logs would flood the table
    trainer.train()
    inside = statistics.median(observer.seconds) if observer else 0.0
    return timer.seconds, timer.cpu_seconds, inside


def paired_overhead(times: dict[str, list[list[float]]], rounds: list[int]) -> float:
    """Median over ``rounds`` of median_i(monitored_i - plain_i) / median_i(plain_i)."""
    return statistics.median(
        statistics.median(m - p for p, m in zip(times["plain"][r], times["monitored"][r],
                                                strict=True)) / statistics.median(times["plain"][r])
        for r in rounds)


def loaded(wall: list[float], cpu: list[float]) -> bool:
    """A run shared its core with another process: median wall time > 1.1 x median CPU time."""
    return statistics.median(wall) > LOAD_RATIO * statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6 steps a run, 2 rounds (CI)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args(argv)
    steps, rounds, warmup = (6, 2, 2) if args.quick else (20, 5, 3)

    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(f"GRPO, GPT-2 2x128 on CPU ({args.threads} thread(s)), 8 prompts x 8 generations, "
          f"<= 32 tokens, {steps} steps a run (first {warmup} dropped), {rounds} rounds")

    wall: dict[str, list[list[float]]] = {"plain": [], "monitored": []}
    cpu: dict[str, list[list[float]]] = {"plain": [], "monitored": []}
    inside: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for name in ("plain", "monitored"):
                secs, cpu_secs, t_in = run(name == "monitored", steps=steps, seed=args.seed,
                                           workdir=Path(tmp) / f"{name}-{r}")
                wall[name].append(secs[warmup:])
                cpu[name].append(cpu_secs[warmup:])
                if name == "monitored":
                    inside.append(t_in)
                print(f"  round {r + 1} {name:<9} median step "
                      f"{statistics.median(secs[warmup:]) * 1e3:8.1f} ms wall, "
                      f"{statistics.median(cpu_secs[warmup:]) * 1e3:8.1f} ms CPU")

    clean = [r for r in range(rounds)
             if not any(loaded(wall[k][r], cpu[k][r]) for k in ("plain", "monitored"))]
    best = clean or list(range(rounds))
    plain = min(statistics.median(wall["plain"][r]) for r in best)
    mon = min(statistics.median(wall["monitored"][r]) for r in best)
    paired_cpu = paired_overhead(cpu, list(range(rounds)))
    paired_wall = paired_overhead(wall, clean) if clean else math.nan
    direct = min(inside) / plain
    print(f"\n{'configuration':<34} {'step (best median)':>18}")
    print(f"{'plain GRPO':<34} {plain * 1e3:>15.1f} ms")
    print(f"{'with monitor (weight 0 + callback)':<34} {mon * 1e3:>15.1f} ms")
    if len(clean) < rounds:
        print(f"\n{rounds - len(clean)} of {rounds} rounds ran while another process used the "
              f"core (wall > {LOAD_RATIO} x CPU time); their wall times are left out")
    target = f"< {TARGET_OVERHEAD:.0%}"
    gate_wall = not args.quick and bool(clean)  # 4 steps x 2 rounds cannot resolve 5%
    checks = [
        (f"overhead, wall, paired ({len(clean)} rounds)",
         f"{paired_wall:+.2%}" if clean else "n/a", target if gate_wall else "",
         paired_wall < TARGET_OVERHEAD if gate_wall else None),
        ("overhead, CPU time, paired", f"{paired_cpu:+.2%}", "" if args.quick else target,
         None if args.quick else paired_cpu < TARGET_OVERHEAD),
        ("overhead, best wall medians", f"{mon / plain - 1:+.2%}", "", None),
        ("time inside the monitor / step", f"{min(inside) * 1e3:.2f} ms", "", None),
        ("  as a share of the plain step", f"{direct:.2%}", target, direct < TARGET_OVERHEAD),
    ]
    print(f"\n{'measure':<36} {'value':>12} {'target':>8}  result")
    for name, val, tgt, ok in checks:
        res = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{name:<36} {val:>12} {tgt:>8}  {res}")
    failed = [c[0] for c in checks if c[3] is False]
    print("\nFAIL: " + ", ".join(failed) if failed else "\nall targets PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
