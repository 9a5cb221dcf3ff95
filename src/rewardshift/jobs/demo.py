"""The demo job: the example base/tuned pair with known entropies, written and measured."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rewardshift.demo import DemoConfig, make_pair
from rewardshift.jobs.measure import measure_samples_job
from rewardshift.measure import MeasureConfig, MeasureResult
from rewardshift.progress import Progress
from rewardshift.samples import write_samples

__all__ = ["DemoRun", "demo_job"]

TITLE = "rewardshift demo: a base and a reward-tuned generator"


@dataclass(frozen=True)
class DemoRun:
    """The demo's measurement, its ground truth (``info``), the truth in words, the report."""

    result: MeasureResult
    info: dict[str, Any]
    truth: str
    report: Path


def demo_job(demo: DemoConfig, measure: MeasureConfig, out: str | Path, *,
             progress: Progress | None = None) -> DemoRun:
    """Write ``base.jsonl`` and ``tuned.jsonl`` of the demo pair into ``out``, measure them
    against each other, and write the run directory with the exact entropies beside it."""
    out = Path(out)
    base_s, tuned_s, info = make_pair(demo)
    write_samples(base_s, out / "base.jsonl")
    write_samples(tuned_s, out / "tuned.jsonl")
    h = info["true_entropy_nats"]
    truth = (f"Ground truth: the base generator's entropy is {h['base']:.2f} nats, the "
             f"tuned one's {h['tuned']:.2f} nats (exact, from the slot probabilities; "
             f"tuned = base^(1+α/β)·exp(r/β), α={demo.alpha}, β={demo.beta}).")
    result, report = measure_samples_job(
        base_s + tuned_s, measure, out, base="base", tuned="tuned", progress=progress,
        run_config={"job": "demo", "demo": asdict(demo), "measure": asdict(measure)},
        title=TITLE, extra_summary={"ground_truth": info}, notes=[truth])
    return DemoRun(result, info, truth, report)
