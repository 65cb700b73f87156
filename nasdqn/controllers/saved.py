"""Saved controller states: the learned models of finished nas runs, read back for transfer."""

from __future__ import annotations

import json
from pathlib import Path

from nasdqn import REPO_ROOT
from nasdqn.errors import ConfigError


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
