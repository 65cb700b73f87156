"""The controller a run's config names, and the saved controller states a transfer run starts from.
Free of torch, so that the book can rebuild a controller from its saved state without loading it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nasdqn import REPO_ROOT
from nasdqn.config import ConfigError, RunConfig, method_arch
from nasdqn.controllers.base import Controller
from nasdqn.controllers.fixed import FixedController
from nasdqn.controllers.gain import GainController
from nasdqn.controllers.random_search import RandomController
from nasdqn.controllers.reinforce import LearnedController
from nasdqn.controllers.replay import ReplayController
from nasdqn.search_space import Arch, SearchSpace, parse_schedule


def read_controller_states(path: str) -> list[dict]:
    """The learned models saved by finished nas runs, for transfer: one controller.json, or every
    controller.json under a directory (e.g. a grid's nas/ directory: the runs are pooled). A relative
    path is looked up from the current directory, then from the repository root (papermill runs the
    run notebook from notebooks/, and grid files name paths from the root)."""
    where = Path(path)
    if not where.is_absolute() and not where.exists():
        where = REPO_ROOT / where
    files = sorted(where.rglob("controller.json")) if where.is_dir() else [where]
    if not files:
        raise ConfigError(f"ctrl_init {path}: no controller.json under this directory; expected a finished "
                          "nas run's controller.json or a directory of nas runs")
    states = []
    for file in files:
        try:
            state = json.loads(file.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"ctrl_init {file}: cannot read it ({e}); expected the controller.json of a "
                              "finished nas run") from None
        if not isinstance(state, dict) or "precision" not in state:
            raise ConfigError(f"ctrl_init {file}: not a gain controller's state (no learned model in it); "
                              "expected the controller.json of a finished nas run with ctrl_algo gain")
        states.append(state)
    return states


def make_controller(config: RunConfig, rng: np.random.Generator, io: tuple[int, int] = (3, 5)) -> Controller:
    """The controller of `config.method`; `io` (observation size, number of actions) sizes the
    networks whose parameter counts a compute-aware controller charges for."""
    fixed = method_arch(config.method)
    if fixed is not None:
        return FixedController(Arch.parse(fixed))
    space, start = SearchSpace.from_config(config), Arch.parse(config.start_arch)
    if config.method == "random":
        return RandomController(space, start, rng)
    if config.method == "random-matched":
        return RandomController(space, start, rng, switch_at=config.switch_at)
    if config.method == "replay":
        return ReplayController(start, parse_schedule(config.schedule))
    if config.method == "random-freeze":  # a random design held for the whole run
        return FixedController(space.sample(rng))
    if config.ctrl_algo == "gain":
        controller = GainController(space, start, rng, io=io, break_cost=config.ctrl_break_cost,
                                    cost_weight=config.ctrl_cost_weight, settle=config.ctrl_settle,
                                    history=config.ctrl_history, prior_sd=config.ctrl_prior_sd,
                                    moves=config.ctrl_moves, warmup=config.ctrl_warmup,
                                    move_cost=config.ctrl_move_cost, late_break=config.ctrl_late_break,
                                    inherit=config.inherit == "morph")
        if config.ctrl_init:
            controller.load_states(read_controller_states(config.ctrl_init))
        return controller
    return LearnedController(
        space, start, rng, lr=config.ctrl_lr, entropy=config.ctrl_entropy,
        baseline_rate=config.ctrl_baseline, break_cost=config.ctrl_break_cost, signal=config.ctrl_signal,
        moves=config.ctrl_moves, cost_weight=config.ctrl_cost_weight, sharpen=config.ctrl_sharpen,
    )
