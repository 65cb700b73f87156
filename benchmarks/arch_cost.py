"""Cost per environment step of every architecture of the default search space, measured side by side.

The sweep's wall times come from a batch on a shared machine (two runs at a time, other load); the
overhead chapter's "cost of what the search chose" needs costs measured under equal conditions. Each
repetition trains every architecture (fixed, one torch thread, no evaluation) for `--steps` steps in
one process, in a shuffled order; the cost is the median over repetitions, and is reported relative
to relu-64x64 (fixed-medium) measured in the same repetitions.

    python benchmarks/arch_cost.py --steps 4000 --reps 3 --out benchmarks/results/arch_cost.json
    python benchmarks/arch_cost.py --space reported --out benchmarks/results/arch_cost_reported.json

`--space reported` measures the 27 architectures of the paper's protocol as reported
(experiments/paper-reported.yaml) instead, with the same reference, so the two files' ratios compare.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from nasdqn.config import RunConfig
from nasdqn.search_space import SearchSpace
from nasdqn.train import train

REFERENCE = "relu-64x64"
SPACES = {
    "default": SearchSpace(),
    "reported": SearchSpace((2, 3, 4), (32, 64, 128), ("relu", "tanh", "leaky_relu")),
}


def cost(arch: str, steps: int, seed: int) -> float:
    config = RunConfig(method=f"fixed:{arch}", steps=steps, seed=seed, eval_every=10**8, eval_episodes=1,
                       learning_starts=500)
    start = time.perf_counter()
    train(config)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000, help="environment steps per measurement")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (the median is reported)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/arch_cost.json"))
    parser.add_argument("--space", choices=sorted(SPACES), default="default",
                        help="search space whose architectures are measured (default: the default one)")
    args = parser.parse_args()
    archs = [str(a) for a in SPACES[args.space].all()]
    if REFERENCE not in archs:
        archs.append(REFERENCE)
    rng = np.random.default_rng(0)
    samples: dict[str, list[float]] = {a: [] for a in archs}
    for rep in range(args.reps):
        for i in rng.permutation(len(archs)):
            samples[archs[i]].append(cost(archs[i], args.steps, rep))
            print(f"rep {rep + 1}/{args.reps} {archs[i]:>18s} {samples[archs[i]][-1] * 1e3:.3f} ms/step", flush=True)
    ref = [samples[REFERENCE][k] for k in range(args.reps)]
    result = {
        "space": args.space, "steps": args.steps, "reps": args.reps, "reference": REFERENCE, "host": platform.node(),
        "python": platform.python_version(),
        "ms_per_step": {a: statistics.median(v) * 1e3 for a, v in samples.items()},
        "ratio_to_reference": {a: statistics.median(v[k] / ref[k] for k in range(args.reps))
                               for a, v in samples.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
