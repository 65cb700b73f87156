"""Random search: the paper's control and the fair random-matched control."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nasdqn.controllers.base import Feedback
from nasdqn.search_space import Arch, SearchSpace


class RandomController:
    """Random search. Without `switch_at`, the paper's control: a uniformly drawn architecture at
    every decision (often a change). With `switch_at` (episode numbers), a fair control for a
    learned controller: a change exactly at those episodes, to an architecture drawn uniformly from
    the others, and no change otherwise: the same number and timing of switches, random choices."""

    def __init__(self, space: SearchSpace, start: Arch, rng: np.random.Generator,
                 switch_at: tuple[int, ...] | None = None) -> None:
        self.space, self.start, self.rng = space, start, rng
        self.switch_at = None if switch_at is None else frozenset(switch_at)

    def initial(self) -> Arch:
        return self.start

    def propose(self, feedback: Feedback) -> Arch | None:
        if self.switch_at is None:
            arch = self.space.sample(self.rng)
            return None if arch == feedback.arch else arch
        if feedback.episode not in self.switch_at:
            return None
        others = [a for a in self.space.all() if a != feedback.arch]
        return others[int(self.rng.integers(len(others)))]

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def diagnostics(self) -> dict[str, float]:
        return {"entropy": math.log(self.space.size)}
