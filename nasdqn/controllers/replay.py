"""Schedule replay: a controller-free control that makes a given run's architecture changes again."""

from __future__ import annotations

from typing import Any

from nasdqn.controllers.base import Feedback
from nasdqn.search_space import Arch, parse_schedule

__all__ = ["ReplayController", "parse_schedule"]


class ReplayController:
    """Changes to the scheduled architecture at the scheduled episodes and never otherwise, whatever
    the returns: the same moves at the same times as the run the schedule came from, with no
    feedback. Beside NAS-DQN it tells what its controller learned from what its schedule of growth
    alone delivers (replayed on another seed) or, with `inherit=none` on the same seed, what weight
    inheritance is worth with the moves held fixed."""

    def __init__(self, start: Arch, schedule: dict[int, Arch]) -> None:
        self.start, self.schedule = start, schedule

    def initial(self) -> Arch:
        return self.start

    def propose(self, feedback: Feedback) -> Arch | None:
        arch = self.schedule.get(feedback.episode)
        return None if arch is None or arch == feedback.arch else arch

    def state_dict(self) -> dict[str, Any]:
        return {"schedule": {str(e): str(a) for e, a in self.schedule.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def diagnostics(self) -> dict[str, float]:
        return {"entropy": 0.0}  # a schedule is certain
