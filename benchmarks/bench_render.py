"""Renderer throughput: the vectorised numpy renderer against a naive per-image PIL loop.

    python benchmarks/bench_render.py            # 10,000 frames at 32 px, 2,500 at 64 px
    python benchmarks/bench_render.py --quick    # 1,000 and 250, a CI smoke run

Both draw the same scenes (``rewardshift.images.sample_scenes``, seed 0). The peer is what one
would write first: per image, a PIL canvas, the pane as a polygon, each radial crack as a line
and each concentric crack as an ellipse (no fragments in flight, no anti-aliasing: it does
less work than ours). It prints images per minute for each at both sizes.

Target: ours >= 10,000 images a minute at 32 px (tracker issue 11, "on 2 cores"). The run is
single-process; numpy may use one more core. In ``--quick`` mode the target is checked on
the smaller batch. The exit status is 1 when the target fails.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from _timing import best_of
from PIL import Image, ImageDraw

from rewardshift.images import render, sample_scenes
from rewardshift.images.render import PANE
from rewardshift.images.scenes import Scenes

TARGET_PER_MIN = 10_000


def naive_pil(scenes: Scenes, size: int) -> np.ndarray:
    """The peer: one PIL drawing per frame, in a Python loop."""
    out = np.empty((scenes.n, size, size, 3), dtype=np.uint8)
    half = size / 2
    for i in range(scenes.n):
        bg = int(255 * np.clip(scenes.light[i] - 0.35 * scenes.contrast[i], 0, 1))
        fg = int(255 * np.clip(scenes.light[i] + 0.35 * scenes.contrast[i], 0, 1))
        img = Image.new("RGB", (size, size), (bg, bg, bg))
        draw = ImageDraw.Draw(img)
        p = PANE * half
        draw.polygon([(half - p, half - p), (half + p, half - p), (half + p, half + p),
                      (half - p, half + p)], fill=(fg, fg, fg))
        ix = half + p * scenes.impact_r[i] * math.cos(scenes.impact_phi[i])
        iy = half + p * scenes.impact_r[i] * math.sin(scenes.impact_phi[i])
        k = int(scenes.radial_cracks[i])
        for j in range(k):
            a = 2 * math.pi * (j + scenes.pattern[i]) / k
            draw.line([(ix, iy), (ix + size * math.cos(a), iy + size * math.sin(a))],
                      fill=(bg, bg, bg), width=1)
        for j in range(1, int(scenes.rings[i])):
            r = size * j / scenes.rings[i]
            draw.ellipse([ix - r, iy - r, ix + r, iy + r], outline=(bg, bg, bg))
        out[i] = np.asarray(img)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small batches (CI smoke run)")
    args = ap.parse_args(argv)
    sizes = {32: 1_000 if args.quick else 10_000, 64: 250 if args.quick else 2_500}
    rows = []
    for size, n in sizes.items():
        scenes = sample_scenes(n, seed=0)
        ours, _ = best_of(lambda s=scenes, z=size: render(s, size=z), repeats=2)
        peer, _ = best_of(lambda s=scenes, z=size: naive_pil(s, z), repeats=2)
        rows.append((size, n, 60 * n / ours, 60 * n / peer))
    print(f"{'size':>5} {'frames':>7} {'ours img/min':>13} {'naive PIL img/min':>18} "
          f"{'ratio':>6}")
    for size, n, ours, peer in rows:
        print(f"{size:>5} {n:>7} {ours:>13,.0f} {peer:>18,.0f} {ours / peer:>6.2f}")
    ok = rows[0][2] >= TARGET_PER_MIN
    print(f"target: >= {TARGET_PER_MIN:,} img/min at 32 px: {'PASS' if ok else 'FAIL'} "
          f"({rows[0][2]:,.0f})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
