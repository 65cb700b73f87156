"""What one shared-minibatch update of a whole population costs, stacked and unstacked.

A population controller pays, at every training step, one update per candidate on the same
minibatch. Three ways of paying it are timed side by side in one process, alternating, one torch
thread, on the same replay buffer and the same minibatch indices:
- `loop`: every candidate's own `DQNAgent.update(idx)` (the sum of the standalone updates);
- `stacked`: the candidates grouped by hidden shape (`nasdqn.stacked`), one batched update per group;
- `fixed-large` and `fixed-medium`: one lone agent's update, the cost a fixed baseline pays.
The cost is the median over repetitions of the mean time per update step. Then, per hidden shape,
the same two ways for that shape's candidates alone (`per_shape`), which shows where stacking pays:
it saves per-operation overhead, which matters on small networks and not on large ones.

    python benchmarks/population_update.py --updates 2000 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from nasdqn import REPO_ROOT, methods
from nasdqn.agent import DQNAgent, ReplayBuffer
from nasdqn.config import RunConfig
from nasdqn.search_space import Arch, SearchSpace
from nasdqn.stacked import SharedBatch, stacks_for

OUT = REPO_ROOT / "benchmarks" / "results" / "population_update.json"


def _agents(archs: list[Arch], config: RunConfig, buffer: ReplayBuffer, seed: int) -> list[DQNAgent]:
    return [DQNAgent(buffer.obs.shape[1], 5, arch, lr=config.lr, gamma=config.gamma, batch_size=config.batch_size,
                     buffer_size=buffer.capacity, grad_clip=config.grad_clip, rng=np.random.default_rng(seed + k),
                     torch_generator=torch.Generator().manual_seed(seed + k), buffer=buffer)
            for k, arch in enumerate(archs)]


def measure(updates: int, reps: int, seed: int = 0) -> dict:
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    config = RunConfig()
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(config.buffer_size, 3)
    for _ in range(20_000):  # pendulum-sized observations; the values do not change the cost
        buffer.add(rng.normal(size=3), int(rng.integers(5)), float(rng.normal()), rng.normal(size=3), False)
    space = list(SearchSpace().all())
    population = _agents(space, config, buffer, seed)
    stacks, _ = stacks_for([a.online for a in _agents(space, config, buffer, seed)], lr=config.lr,
                           gamma=config.gamma, grad_clip=config.grad_clip)
    lone = {name: _agents([Arch.parse(methods.named_fixed()[name])], config, buffer, seed)[0]
            for name in ("fixed-medium", "fixed-large")}
    batch = SharedBatch(config.batch_size, 3)
    indices = [rng.integers(buffer.size, size=config.batch_size) for _ in range(updates)]

    def loop() -> None:
        for idx in indices:
            for agent in population:
                agent.update(idx)

    def stacked() -> None:
        for idx in indices:
            batch.gather(buffer, idx)
            for stack in stacks:
                stack.update(batch)

    def alone(agent: DQNAgent):
        def run() -> None:
            for idx in indices:
                agent.update(idx)
        return run

    ways = {"loop": loop, "stacked": stacked, **{name: alone(a) for name, a in lone.items()}}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(reps):
        for name, way in ways.items():
            t0 = time.perf_counter()
            way()
            times[name].append((time.perf_counter() - t0) / updates * 1e3)
    ms = {name: statistics.median(t) for name, t in times.items()}

    by_shape = {}
    for stack in stacks:
        members = [population[space.index(arch)] for arch in stack.archs]
        shape = "x".join(map(str, stack.sizes[1:-1]))
        by_shape[shape] = {"members": [str(a) for a in stack.archs], "loop": [], "stacked": []}

        def loop_shape(members=members) -> None:
            for idx in indices:
                for agent in members:
                    agent.update(idx)

        def stacked_shape(stack=stack) -> None:
            for idx in indices:
                batch.gather(buffer, idx)
                stack.update(batch)

        for _ in range(reps):
            for name, way in (("loop", loop_shape), ("stacked", stacked_shape)):
                t0 = time.perf_counter()
                way()
                by_shape[shape][name].append((time.perf_counter() - t0) / updates * 1e3)
    per_shape = {shape: {"members": v["members"], "loop_ms": statistics.median(v["loop"]),
                         "stacked_ms": statistics.median(v["stacked"]),
                         "stacked_over_loop": statistics.median(v["stacked"]) / statistics.median(v["loop"])}
                 for shape, v in by_shape.items()}
    return {
        "updates": updates, "reps": reps, "candidates": len(space), "stacks": len(stacks),
        "batch_size": config.batch_size, "host": "vm", "python": platform.python_version(),
        # Ratios measured side by side survive a shared machine; the load says how shared it was.
        "load_average": os.getloadavg()[0], "cpus": os.cpu_count(),
        "ms_per_update_step": ms,
        "stacked_over_loop": ms["stacked"] / ms["loop"],
        "loop_over_fixed_large": ms["loop"] / ms["fixed-large"],
        "stacked_over_fixed_large": ms["stacked"] / ms["fixed-large"],
        "stacked_over_fixed_medium": ms["stacked"] / ms["fixed-medium"],
        "all_reps_ms": times,
        "per_shape": per_shape,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000, help="update steps per repetition and way")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (the median is reported)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON result goes")
    args = parser.parse_args()
    result = measure(args.updates, args.reps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, value in result["ms_per_update_step"].items():
        print(f"{name:>13}: {value:.3f} ms per update step")
    print(f"stacked / loop {result['stacked_over_loop']:.2f}; "
          f"loop / fixed-large {result['loop_over_fixed_large']:.1f}; "
          f"stacked / fixed-large {result['stacked_over_fixed_large']:.1f}")
    for shape, v in result["per_shape"].items():
        print(f"{shape:>13}: loop {v['loop_ms']:.3f} ms, stacked {v['stacked_ms']:.3f} ms "
              f"({v['stacked_over_loop']:.2f})")


if __name__ == "__main__":
    main()
