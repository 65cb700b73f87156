"""Speed: nasdqn's Double DQN against Stable-Baselines3's DQN at identical settings, and NAS-DQN's
own search overhead. Run by hand (`make bench`); the results are reported in the book and README.

Both agents: MLP [64, 64] ReLU, batch 64, one gradient update per environment step after 1,000
learning-start steps, Adam lr 1e-3, buffer 100k, target update every 500 steps, gradient-norm clip
10, epsilon 1 -> 0.05 over 20% of the steps, one torch thread, no evaluation during training. (SB3's
DQN computes the plain DQN target, ours Double DQN, which costs us one extra forward pass.) Runs
alternate between the two libraries so that drifts in machine load hit both alike; the ratio is the
median over repetitions of ours / theirs measured side by side.

    python benchmarks/speed.py --steps 30000 --reps 3 --out benchmarks/results/speed.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import gymnasium as gym
import torch

from nasdqn.config import PENDULUM_ID, RunConfig
from nasdqn.train import train

ENVS = ("CartPole-v1", PENDULUM_ID)


def ours(env_id: str, steps: int, seed: int) -> float:
    config = RunConfig(env=env_id, method="fixed-medium", steps=steps, seed=seed, eval_every=10**8,
                       eval_episodes=1)
    start = time.perf_counter()
    train(config)
    return steps / (time.perf_counter() - start)


def sb3(env_id: str, steps: int, seed: int) -> float:
    from stable_baselines3 import DQN

    env = gym.make(env_id)
    model = DQN("MlpPolicy", env, learning_rate=1e-3, buffer_size=100_000, learning_starts=1_000,
                batch_size=64, gamma=0.99, train_freq=1, gradient_steps=1, target_update_interval=500,
                exploration_fraction=0.2, exploration_initial_eps=1.0, exploration_final_eps=0.05,
                max_grad_norm=10, policy_kwargs={"net_arch": [64, 64]}, seed=seed, device="cpu", verbose=0)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps / (time.perf_counter() - start)


def nas_overhead(steps: int, seed: int) -> dict[str, float]:
    r = train(RunConfig(method="nas", steps=steps, seed=seed))
    t = r.timing
    return {"search_share": (t["controller"] + t["morph"]) / t["total"], "controller_s": t["controller"],
            "morph_s": t["morph"], "total_s": t["total"], "switches": len(r.arch_events) - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30_000, help="environment steps per run (default 30000)")
    parser.add_argument("--reps", type=int, default=3, help="runs per library and env (default 3)")
    parser.add_argument("--nas-steps", type=int, default=100_000, help="steps of the NAS-DQN overhead run")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    results: dict = {"steps": args.steps, "reps": args.reps, "torch": torch.__version__,
                     "processor": platform.processor() or platform.machine(), "envs": {}}
    for env_id in ENVS:
        sps = {"nasdqn": [], "sb3": []}
        for rep in range(args.reps):
            order = [("nasdqn", ours), ("sb3", sb3)] if rep % 2 == 0 else [("sb3", sb3), ("nasdqn", ours)]
            for name, fn in order:
                sps[name].append(fn(env_id, args.steps, rep))
                print(f"{env_id:28s} {name:7s} rep {rep}: {sps[name][-1]:7.0f} SPS", flush=True)
        ratios = [a / b for a, b in zip(sps["nasdqn"], sps["sb3"], strict=True)]
        results["envs"][env_id] = {**sps, "median_ratio": statistics.median(ratios),
                                   "median_sps": {k: statistics.median(v) for k, v in sps.items()}}
        print(f"{env_id}: median SPS nasdqn {statistics.median(sps['nasdqn']):.0f}, "
              f"sb3 {statistics.median(sps['sb3']):.0f}, median ratio {statistics.median(ratios):.2f}x")
    results["nas_overhead"] = nas_overhead(args.nas_steps, 0)
    print(f"NAS-DQN controller + morphing: {100 * results['nas_overhead']['search_share']:.3f}% of wall time "
          f"({results['nas_overhead']['switches']} switches in {args.nas_steps} steps)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
