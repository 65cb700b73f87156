"""Architecture controllers: what decides, every `search_interval` episodes, which network to train.

One small protocol: `initial()` gives the first architecture; `propose(feedback)` sees how the
current architecture did over the last window and returns a new one, or None to keep it. Learned
state goes through `state_dict` / `load_state_dict` so a controller can be saved and transferred.

One module per controller: `base` (the `Controller` protocol and `Feedback`: what a new controller
implements), `fixed`, `random_search`, `replay` (a schedule, no feedback), `reinforce`, `gain`
(NAS-DQN's), and `factory` (the controller a config names).
"""

from nasdqn.controllers.base import Controller, Feedback
from nasdqn.controllers.factory import make_controller, read_controller_states
from nasdqn.controllers.fixed import FixedController
from nasdqn.controllers.gain import GainController, arch_features
from nasdqn.controllers.random_search import RandomController
from nasdqn.controllers.reinforce import LearnedController, TrendSignal
from nasdqn.controllers.replay import ReplayController, parse_schedule

__all__ = ["Controller", "Feedback", "FixedController", "GainController", "LearnedController", "RandomController",
           "ReplayController", "TrendSignal", "arch_features", "make_controller", "parse_schedule",
           "read_controller_states"]
