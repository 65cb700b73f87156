"""The controller protocol and what a controller is told: everything a new controller implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from nasdqn.search_space import Arch


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
