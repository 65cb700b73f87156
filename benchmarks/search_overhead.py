"""How NAS-DQN's own search cost grows with the size of the search space (issue 5, item 3).

For search spaces from a handful of architectures to several hundred, the learned controller is fed
the same synthetic run (50 decisions, scores rising with training, as in the paper budget) and timed
per decision, with its peak memory (tracemalloc). Morphing cost depends on the network, not on the
space, and is timed for a typical growth move. The share of a 100k-step run is computed against a
measured cost per step of relu-64x64, so the numbers read as "overhead at the paper's budget".

    python benchmarks/search_overhead.py --reps 3 --out benchmarks/results/search_overhead.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from nasdqn.controllers import Feedback, GainController
from nasdqn.networks import MLP, morph
from nasdqn.search_space import Arch, SearchSpace

SPACES = {
    "relu, depth 1-2, widths 32/64 (equal)": SearchSpace((1, 2), (32, 64), ("relu",)),
    "paper default (equal widths)": SearchSpace(),
    "depth 1-4, 6 widths (equal)": SearchSpace((1, 2, 3, 4), (16, 32, 64, 128, 256, 512)),
    "depth 1-3, 4 widths (free)": SearchSpace(uniform=False),
    "depth 1-3, 5 widths (free)": SearchSpace(widths=(16, 32, 64, 128, 256), uniform=False),
    "depth 1-4, 4 widths (free)": SearchSpace(depths=(1, 2, 3, 4), uniform=False),
}
DECISIONS = 50


def controller_cost(space: SearchSpace, seed: int) -> tuple[float, int]:
    """Seconds for DECISIONS decisions and the peak memory (bytes) of the controller doing them."""
    rng = np.random.default_rng(seed)
    tracemalloc.start()
    start = time.perf_counter()
    c = GainController(space, Arch.parse("relu-32"), np.random.default_rng(seed), warmup=0.2)
    arch, level = c.initial(), 0.0
    for w in range(DECISIONS):
        level += 1.0 + 0.1 * arch.depth
        new = c.propose(Feedback(w * 2000, (w + 1) * 10, arch, level + rng.standard_normal(), 0, (w + 1) / DECISIONS))
        arch = new or arch
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak


def morph_cost(seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    net = MLP(3, 5, Arch.parse("relu-64x64"), generator=gen)
    states = torch.randn(256, 3, generator=gen)
    start = time.perf_counter()
    morph(net, Arch.parse("relu-128x128"), np.random.default_rng(seed), states)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    parser.add_argument("--step-ms", type=float, default=None,
                        help="cost of one training step of relu-64x64 in ms (default: from arch_cost.json)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/search_overhead.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)  # after the imports: scipy loads its own BLAS, which must be limited too
    step_ms = args.step_ms
    if step_ms is None:
        step_ms = json.loads(Path("benchmarks/results/arch_cost.json").read_text())["ms_per_step"]["relu-64x64"]
    run_seconds = 100_000 * step_ms / 1e3
    morph_s = statistics.median(morph_cost(s) for s in range(args.reps))
    rows = []
    for name, space in SPACES.items():
        samples = [controller_cost(space, s) for s in range(args.reps)]
        seconds = statistics.median(s for s, _ in samples)
        peak = max(p for _, p in samples)
        rows.append({"space": name, "architectures": space.size, "controller_s_per_run": seconds,
                     "ms_per_decision": 1e3 * seconds / DECISIONS, "peak_memory_mb": peak / 2**20,
                     "share_of_paper_run": (seconds + 10 * morph_s) / run_seconds})
        print(f"{name:40s} {space.size:4d} archs  {rows[-1]['ms_per_decision']:8.2f} ms/decision  "
              f"{rows[-1]['peak_memory_mb']:7.2f} MB  share {100 * rows[-1]['share_of_paper_run']:.3f} %", flush=True)
    result = {"decisions": DECISIONS, "reps": args.reps, "relu-64x64_ms_per_step": step_ms,
              "morph_s_relu-64x64_to_128x128": morph_s, "assumed_switches_per_run": 10, "spaces": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
