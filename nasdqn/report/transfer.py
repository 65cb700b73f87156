"""Transfer: NAS-DQN whose controller starts from another task's runs, against fresh controllers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nasdqn.report.load import Experiment, grid_names, load_experiment

# A transfer grid transfer-<task> has a fresh reference, transfer-<task>-fresh, and may have a control,
# transfer-<task>-start: a fresh controller started at the architecture the transferred model values most.
TRANSFER_PREFIX, FRESH_SUFFIX, START_SUFFIX = "transfer-", "-fresh", "-start"


@dataclass
class Transfer:
    """A transfer grid's runs, those of its fresh reference and, if run, of its start control."""

    task: str
    transfer: Experiment
    fresh: Experiment
    start: Experiment | None


def transfer_experiments() -> list[str]:
    """The controller-transfer grids (experiments/transfer-*.yaml, without their references and controls)."""
    return [name for name in grid_names(TRANSFER_PREFIX) if not name.endswith((FRESH_SUFFIX, START_SUFFIX))]


def load_transfer(name: str, root: Path | None = None) -> Transfer | None:
    """A transfer grid with its fresh reference and start control; None when the transfer grid or its
    reference has no runs (the control is optional)."""
    transfer, fresh = load_experiment(name, root), load_experiment(name + FRESH_SUFFIX, root)
    if transfer is None or fresh is None or not transfer.runs or not fresh.runs:
        return None
    start = load_experiment(name + START_SUFFIX, root)
    return Transfer(name.removeprefix(TRANSFER_PREFIX), transfer, fresh, start if start and start.runs else None)
