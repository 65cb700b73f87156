"""Architecture controllers: what decides which network to train.

Two small protocols (`base`). A `Controller` steers one network: `initial()` gives the first
architecture; `propose(feedback)` sees how the current architecture did over the last window and
returns a new one, or None to keep it. A `PopulationController` steers candidates trained side by
side: at its checkpoints `survivors(...)` says which go on, and `deployed(...)` which one is reported.
Learned state goes through `state_dict` / `load_state_dict` so a controller can be saved and transferred.

One module per controller: `fixed`, `random_search`, `replay` (a schedule, no feedback), `reinforce`,
`gain` (NAS-DQN's), `halving` (successive halving and its random control), and `saved` (the states a
transfer run starts from). Which method uses which controller is said once, in `nasdqn.methods`.
"""

from nasdqn.controllers.base import Controller, Feedback, PopulationController
from nasdqn.controllers.fixed import FixedController
from nasdqn.controllers.gain import GainController, arch_features
from nasdqn.controllers.halving import HalvingController, RandomHalvingController
from nasdqn.controllers.random_search import RandomController
from nasdqn.controllers.reinforce import LearnedController, TrendSignal
from nasdqn.controllers.replay import ReplayController, parse_schedule
from nasdqn.controllers.saved import read_controller_states

__all__ = ["Controller", "Feedback", "FixedController", "GainController", "HalvingController", "LearnedController",
           "PopulationController", "RandomController", "RandomHalvingController", "ReplayController", "TrendSignal",
           "arch_features", "parse_schedule", "read_controller_states"]
