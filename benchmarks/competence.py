"""Is our DQN a competent DQN? Stable-Baselines3's DQN on the cells of a grid (by default
`experiments/competence.yaml`: each task's RL Baselines3 Zoo preset and network), scored by our own
evaluation protocol, written as run directories beside ours.

Every cell's options map one to one onto SB3's DQN arguments (lr, buffer, learning starts, batch,
gamma, train_freq, gradient_steps, target interval, epsilon schedule, gradient clip, net_arch); the
env is built by `nasdqn.evaluation.env_for`, and greedy evaluations run every `eval_every` steps on the
fixed evaluation starts through `nasdqn.evaluation.Evaluator`, exactly as in our runs. The runs land in
`<root>/runs/<grid name>-sb3/...` with `implementation` in their meta.json; the book reads them with
the same functions as ours. Finished cells are skipped, so a killed benchmark resumes. Run by hand
(`make bench-competence`), never in CI:

    python benchmarks/competence.py experiments/competence.yaml --workers 1
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from nasdqn import REPO_ROOT, methods
from nasdqn.batch import load_grid
from nasdqn.config import ConfigError, RunConfig
from nasdqn.records import RunResult, run_dir, run_status, write_failure, write_run
from nasdqn.report.peers import PEER_SUFFIX
from nasdqn.search_space import Arch


def sb3_run(config: RunConfig) -> RunResult:
    """Train SB3's DQN with `config`'s settings; return a RunResult shaped like one of ours."""
    import stable_baselines3
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from threadpoolctl import threadpool_limits

    from nasdqn.evaluation import Evaluator, env_for
    from nasdqn.records import TIMING_KEYS

    torch.set_num_threads(config.threads)
    threadpool_limits(config.threads)
    arch = Arch.parse(methods.get(config.method).arch or "")
    if arch.activation != "relu":
        raise ConfigError(f"SB3's DQN policy is ReLU here; {arch} has {arch.activation}")
    evaluator = Evaluator(config)
    episodes: list[tuple] = []
    evals: list[tuple] = []
    eval_seconds = 0.0

    class Record(BaseCallback):
        """Training episodes from the Monitor wrapper's infos; greedy evaluations on our schedule."""

        def _on_step(self) -> bool:
            nonlocal eval_seconds
            step = self.num_timesteps
            for info in self.locals["infos"]:
                if "episode" in info:
                    episodes.append((step, len(episodes) + 1, float(info["episode"]["r"]),
                                     int(info["episode"]["l"]), float(self.model.exploration_rate), str(arch)))
            if step % config.eval_every == 0 or step == config.steps:
                t0 = time.perf_counter()
                q_net = self.model.q_net
                with torch.no_grad():
                    returns = evaluator.returns(lambda obs: q_net(torch.as_tensor(obs)).argmax(-1).numpy())
                evals.extend((step, i, float(r), str(arch)) for i, r in enumerate(returns))
                eval_seconds += time.perf_counter() - t0
            return True

    start = time.perf_counter()
    model = DQN("MlpPolicy", env_for(config, config.seed), learning_rate=config.lr,
                buffer_size=config.buffer_size, learning_starts=config.learning_starts,
                batch_size=config.batch_size, gamma=config.gamma, train_freq=config.train_freq,
                gradient_steps=config.gradient_steps, target_update_interval=config.target_update,
                exploration_fraction=config.eps_fraction, exploration_initial_eps=config.eps_start,
                exploration_final_eps=config.eps_end, max_grad_norm=config.grad_clip,
                policy_kwargs={"net_arch": list(arch.widths)}, seed=config.seed, device="cpu", verbose=0)
    model.learn(total_timesteps=config.steps, callback=Record())
    n_params = sum(p.numel() for p in model.q_net.parameters())
    timing = {**dict.fromkeys(TIMING_KEYS, math.nan), "eval": eval_seconds, "total": time.perf_counter() - start}
    return RunResult(
        config=config,
        episodes=pd.DataFrame(episodes, columns=["step", "episode", "return", "length", "epsilon", "arch"]),
        evals=pd.DataFrame(evals, columns=["step", "eval_episode", "return", "arch"]),
        arch_events=pd.DataFrame([(0, 0, None, str(arch), np.nan, 0.0, n_params, 0.0, True)],
                                 columns=["step", "episode", "from_arch", "to_arch", "score", "entropy", "params",
                                          "morph_error", "preserving"]),
        timing=timing,
        anchors=evaluator.anchors(),
        meta={"implementation": f"stable-baselines3 {stable_baselines3.__version__}",
              "algorithm": "DQN (SB3: the target network's own max, not Double DQN)"},
    )


def run_cell(config: RunConfig, out: Path) -> str:
    """Run one cell into `out`; return its status (failures are recorded, never left looking ok)."""
    try:
        result = sb3_run(config)
    except Exception as e:
        write_failure(out, config, "failed", f"{type(e).__name__}: {e}")
        return "failed"
    write_run(out, result)
    return "ok"


def peer_cells(grid: str | Path, root: str | Path) -> tuple[str, list[tuple[RunConfig, Path]]]:
    """The grid's cells renamed to the peer's experiment (`<name>-sb3`), with their run directories."""
    name, cells = load_grid(grid, root)
    configs = [c.config.replace(experiment=name + PEER_SUFFIX) for c in cells]
    return name + PEER_SUFFIX, [(c, run_dir(Path(root).resolve(), c)) for c in configs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grid", nargs="?", default=str(REPO_ROOT / "experiments" / "competence.yaml"),
                        help="grid file whose cells SB3 runs (default: experiments/competence.yaml)")
    parser.add_argument("--root", default=str(REPO_ROOT / "data"), help="data root (default: the checkout's data/)")
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel, one torch thread each (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    args = parser.parse_args(argv)
    try:
        if args.workers < 1:
            raise ConfigError(f"--workers {args.workers}: need at least 1")
        name, cells = peer_cells(args.grid, args.root)
    except ConfigError as e:
        print(f"competence: error: {e}", file=sys.stderr)
        return 2
    todo = [(c, out) for c, out in cells if run_status(out, c.config_hash) != "ok"]
    print(f"{name}: {len(cells)} cells, {len(cells) - len(todo)} already done, {len(todo)} to run")
    if args.dry_run or not todo:
        for c, out in todo:
            print(f"  would run {c.env} {c.method} seed={c.seed} -> {out}")
        return 0
    from tqdm import tqdm

    failed = 0
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool, \
            tqdm(total=len(todo), unit="run", desc=name) as bar:
        futures = {pool.submit(run_cell, c, out): (c, out) for c, out in todo}
        for future in as_completed(futures):
            c, out = futures[future]
            if future.result() != "ok":
                failed += 1
                bar.write(f"failed: {c.env} seed={c.seed} (see {out}/meta.json)")
            bar.update(1)
    print(f"{name}: {len(todo) - failed} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
