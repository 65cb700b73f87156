"""The fixed baselines' controller: one architecture for the whole run."""

from __future__ import annotations

from typing import Any

from nasdqn.controllers.base import Feedback
from nasdqn.search_space import Arch


class FixedController:
    """Never changes the architecture: the fixed baselines."""

    def __init__(self, arch: Arch) -> None:
        self.arch = arch

    def initial(self) -> Arch:
        return self.arch

    def propose(self, feedback: Feedback) -> Arch | None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"arch": str(self.arch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.arch = Arch.parse(state["arch"])

    def diagnostics(self) -> dict[str, float]:
        return {}
