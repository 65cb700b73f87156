"""Two checkouts of the package, or one under two environments, trained side by side: does a change
of code (or of the math kernels' pins, `--before-env NASDQN_PINS=off`) change the speed?

Each measurement is a fresh process that imports `nasdqn` from one checkout (PYTHONPATH) and trains
one run on one torch thread; the two checkouts alternate, so drifts in machine load hit both alike.
Two measures:
- `cpu`: environment steps per CPU-second of the process (medians of `--reps` alternating runs, and the
  median of the paired ratios). On a shared machine this still moves by 10-20% from run to run.
- `instructions`: instructions per environment step, counted by valgrind's callgrind (the same count
  for the same code and inputs whatever else the machine does): the difference between a run of
  `--steps` and one of `--steps` + 1000 steps, so that start-up (imports) cancels out. About four
  minutes per run of 1,500 steps; two run at a time.

    python benchmarks/versions.py --before ../old-checkout --after . --measure instructions \\
        --out benchmarks/results/versions.json
    python benchmarks/versions.py --before . --before-env NASDQN_PINS=off --after . \\
        --out benchmarks/results/pins_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RUN = r'''
import json, sys, time
import nasdqn  # first: it pins the math kernels before torch loads
import torch
torch.set_num_threads(1)
from nasdqn.config import RunConfig
from nasdqn.train import train
case, steps = sys.argv[1], int(sys.argv[2])
options = {"pendulum": dict(method="fixed-medium"), "cartpole": dict(method="fixed-medium", env="CartPole-v1"),
           "large": dict(method="fixed-large"),
           "nas": dict(method="nas", search_interval=2),
           "halving": dict(method="halving", depths=(1, 2), widths=(32, 64, 128), halving_rungs=(steps // 3,),
                           halving_keep=(1,))}[case]
config = RunConfig(steps=steps, learning_starts=500, eval_every=10**8, eval_episodes=1, **options)
start = time.process_time()
train(config)
print(json.dumps(steps / (time.process_time() - start)))
'''
CASES = ("pendulum", "cartpole", "large", "nas", "halving")


Side = tuple[Path, dict[str, str]]  # a checkout and the variables set for its runs


def _env(side: Side) -> dict[str, str]:
    code, extra = side
    return {**os.environ, "PYTHONPATH": str(code.resolve()), "OMP_NUM_THREADS": "1", **extra}


def steps_per_cpu_second(side: Side, case: str, steps: int) -> float:
    out = subprocess.run([sys.executable, "-c", RUN, case, str(steps)], env=_env(side), capture_output=True,
                         text=True, check=True, cwd="/")
    return float(out.stdout.strip().splitlines()[-1])


def instructions(side: Side, case: str, steps: int) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c",
                          RUN, case, str(steps)], env=_env(side), capture_output=True, text=True, check=True, cwd="/")
    return int(re.search(r"Collected : (\d+)", out.stderr)[1])


def _variables(text: str) -> dict[str, str] | None:
    pairs = [p.strip() for p in text.split(",") if p.strip()]
    if not all("=" in p and p.split("=", 1)[0] for p in pairs):
        return None
    return dict(p.split("=", 1) for p in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--after", type=Path, default=Path("."), help="the changed checkout (default: .)")
    parser.add_argument("--before-env", default="", help="NAME=VALUE,... set for the before side's runs")
    parser.add_argument("--after-env", default="", help="NAME=VALUE,... set for the after side's runs")
    parser.add_argument("--measure", choices=("cpu", "instructions"), default="cpu")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per run (default: 20000 for cpu, 1500 for instructions)")
    parser.add_argument("--reps", type=int, default=5, help="alternating runs per checkout (cpu only; default 5)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",")]
    bad = sorted(set(cases) - set(CASES))
    if bad or args.reps < 1 or (args.steps is not None and args.steps < 1000):
        print(f"versions: cases {', '.join(bad) or 'ok'}; allowed: {', '.join(CASES)}, --reps >= 1, --steps >= 1000",
              file=sys.stderr)
        return 2
    for code in (args.before, args.after):
        if not (code / "nasdqn" / "train.py").is_file():
            print(f"versions: {code} is not a checkout of this project (no nasdqn/train.py)", file=sys.stderr)
            return 2
    if args.measure == "instructions" and shutil.which("valgrind") is None:
        print("versions: --measure instructions needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    variables = {"before": _variables(args.before_env), "after": _variables(args.after_env)}
    for name, parsed in variables.items():
        if parsed is None:
            given = getattr(args, f"{name}_env")
            print(f"versions: --{name}-env {given!r}: allowed: NAME=VALUE pairs joined by commas", file=sys.stderr)
            return 2
    sides = {"before": (args.before, variables["before"]), "after": (args.after, variables["after"])}
    results: dict = {"measure": args.measure, "cases": {},
                     "sides": {k: {"checkout": str(c), "variables": v} for k, (c, v) in sides.items()}}
    for case in cases:
        if args.measure == "cpu":
            steps = args.steps or 20_000
            sps: dict[str, list[float]] = {"before": [], "after": []}
            for rep in range(args.reps):
                for side in ("before", "after") if rep % 2 == 0 else ("after", "before"):
                    sps[side].append(steps_per_cpu_second(sides[side], case, steps))
                    print(f"{case:9s} {side:6s} rep {rep}: {sps[side][-1]:7.0f} steps per CPU-second", flush=True)
            ratios = [a / b for a, b in zip(sps["after"], sps["before"], strict=True)]
            row = {**sps, "steps": steps, "median_pair_ratio": statistics.median(ratios),
                   "ratio_of_medians": statistics.median(sps["after"]) / statistics.median(sps["before"])}
            print(f"{case}: after / before {row['ratio_of_medians']:.3f} (ratio of medians), "
                  f"{row['median_pair_ratio']:.3f} (median of paired ratios)", flush=True)
        else:
            steps = args.steps or 1_500
            jobs = [(side, n) for side in sides for n in (steps, steps + 1000)]
            with ThreadPoolExecutor(max_workers=2) as pool:  # counts do not depend on the load: two at a time
                counted = list(pool.map(lambda job, case=case: instructions(sides[job[0]], case, job[1]), jobs))
            count: dict[str, dict[int, int]] = {side: {} for side in sides}
            for (side, n), c in zip(jobs, counted, strict=True):
                count[side][n] = c
            per_step = {side: (c[steps + 1000] - c[steps]) / 1000 for side, c in count.items()}
            row = {"steps": [steps, steps + 1000], "instructions": count, "per_step": per_step,
                   "per_step_ratio": per_step["after"] / per_step["before"],
                   "start_up_difference": (count["after"][steps] - steps * per_step["after"])
                   - (count["before"][steps] - steps * per_step["before"])}
            print(f"{case}: {per_step['before']:,.0f} -> {per_step['after']:,.0f} instructions per step "
                  f"(after / before {row['per_step_ratio']:.5f})", flush=True)
        results["cases"][case] = row
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
