"""The controller protocols and what a controller is told: everything a new controller implements.

A `Controller` steers one network: every `search_interval` episodes it sees the window's score and may
propose another architecture. A `PopulationController` steers candidates trained side by side on one
replay buffer (`nasdqn.population`): at its checkpoints it says which candidates go on, and at every
evaluation which one is deployed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from nasdqn.search_space import Arch

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Feedback:
    """What a controller learns from at the end of a window."""

    step: int
    episode: int
    arch: Arch
    score: float  # the window's performance score (mean training return over its episodes)
    n_params: int = 0
    progress: float = 0.0  # fraction of the training budget used so far, in [0, 1]


class Controller(Protocol):
    def initial(self) -> Arch: ...

    def propose(self, feedback: Feedback) -> Arch | None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def diagnostics(self) -> dict[str, float]: ...


# Per candidate (its architecture, written as in `Arch.__str__`): the mean validation return of each of
# its evaluations so far, oldest first.
Scores = Mapping[str, Sequence[float]]
# Per candidate: the returns of each of its evaluations on the validation starts (one array per
# evaluation, one entry per start, the same starts for every candidate): for paired comparisons.
Returns = Mapping[str, Sequence["np.ndarray"]]


class PopulationController(Protocol):
    # Steps at which `survivors` is asked (besides the evaluations, the population scores its
    # candidates there too).
    checkpoints: tuple[int, ...]

    def survivors(self, step: int, scores: Scores, alive: Sequence[str], returns: Returns | None = None
                  ) -> list[str]:
        """The candidates of `alive` that go on after checkpoint `step` (all of them: no cut)."""
        ...

    def deployed(self, scores: Scores, alive: Sequence[str], current: str | None) -> str:
        """The candidate whose greedy policy is reported now (`current`: the one reported last)."""
        ...
