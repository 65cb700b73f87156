"""NAS-DQN: a Deep Q-Network whose architecture is searched online by a controller (reproduction)."""

from pathlib import Path

__version__ = "0.1.0"

# The checkout this package runs from (an editable install): grids, the run notebook, data and
# benchmark results are found relative to it.
REPO_ROOT = Path(__file__).resolve().parent.parent

# Before numpy or torch is imported (envs imports numpy): the math kernels' pins (nasdqn.kernels).
from nasdqn import kernels as _kernels  # noqa: E402

_kernels.pin()

# `import nasdqn` registers NASDQN/InvertedPendulum-v0 with Gymnasium, so `gym.make` finds it after it.
from nasdqn import envs as _envs  # noqa: E402, F401
