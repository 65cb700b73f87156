"""The method registry: every method a run, a grid or the book can name is declared here, once.

An entry says what the method is (its family, whether it is a random control or one of the paper's
baselines), which option groups it uses (they make its config hash), which rules between options
concern it, how its controller is built, and how the book shows it (label, colour, place in tables).
No other module compares method names: they ask this one (`get(name).family`, `random_controls()`,
`order(...)`) or name a method through its constant here (`NAS`, `HALVING`, ...).

Families: `fixed` (one architecture for the whole run), `search` (one network whose architecture a
controller may change every `search_interval` episodes), `replay` (another run's changes made again,
no feedback), `population` (candidates trained side by side on one replay buffer, a population
controller cutting them; `nasdqn.population`), `peer` (another project's method, measured by a
benchmark: shown in tables and figures, never run by `train`).

Adding a method (the README's "Adding a method" walks through one):
1. write its controller, one module under `nasdqn/controllers/` (a `Controller`, or a
   `PopulationController` for a population method);
2. add one `_register(Method(...))` entry below, with a builder that makes the controller from a
   `RunConfig`; options only it uses go into `RunConfig` with a scope of their own, named in `uses`.
The grid files, the CLI's `--method`, the run notebook, `nasdqn batch`, hashing and the book then know it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasdqn.controllers.base import Controller, PopulationController
from nasdqn.controllers.fixed import FixedController
from nasdqn.controllers.gain import GainController
from nasdqn.controllers.halving import HalvingController, RandomHalvingController
from nasdqn.controllers.racing import RacingController, RandomRacingController
from nasdqn.controllers.random_search import RandomController
from nasdqn.controllers.reinforce import LearnedController
from nasdqn.controllers.replay import ReplayController
from nasdqn.controllers.saved import read_controller_states
from nasdqn.errors import MAX_SEED, ConfigError
from nasdqn.search_space import Arch, parse_schedule

# A `nasdqn.config.RunConfig`. Not imported, not even for annotations: the config asks this module for
# the methods, their option groups and rules, so the registry stands below it.
RunConfig = Any

# Families.
FIXED, SEARCH, REPLAY, POPULATION, PEER = "fixed", "search", "replay", "population", "peer"
FAMILIES = (FIXED, SEARCH, REPLAY, POPULATION, PEER)
# Option groups (`RunConfig` fields' `scope`): which methods an option can affect. `label` (the
# experiment's name) affects none.
RUN, SEARCH_OPTIONS, SPACE, LEARNED, MATCHED, REPLAY_OPTIONS, POPULATION_OPTIONS, SELECTION, RACE, LABEL = (
    "run", "search", "space", "learned", "matched", "replay", "population", "selection", "race", "label")

ControllerBuilder = Callable[[RunConfig, np.random.Generator, tuple[int, int]], Controller | PopulationController]
Rule = Callable[[RunConfig], str | None]  # a rule between options: the error message, or None


@dataclass(frozen=True)
class Method:
    name: str  # as in grid files, run directories and tables
    family: str
    summary: str  # what it is, for `--method`'s help ("" when the name says it)
    build: ControllerBuilder | None  # None: a peer, not run by `train`
    uses: frozenset[str] = frozenset()  # option groups: exactly those enter its config hash
    label: str = ""  # how figures and tables name it (default: the name)
    colour: str | None = None  # None: a spare colour, given on first sight (`nasdqn.report.figures.method_colour`)
    listed: bool = True  # has a place in the book's order of methods (else it follows them, by name)
    random_control: bool = False  # a random choice where the searched method makes a learned one
    paper_baseline: bool = False  # one of the paper's comparators
    arch: str | None = None  # fixed family: the architecture
    # A method that copies part of another run (a `nas` run of the same env): the option the batch
    # fills in from that run's architecture changes (`switch_at`: their episodes; `schedule`: the changes).
    copies: str | None = None
    rules: tuple[Rule, ...] = ()
    # Population family: the architectures trained side by side, in the order ties are broken in.
    candidates: Callable[[RunConfig], list[Arch]] | None = None

    @property
    def shown_as(self) -> str:
        return self.label or self.name

    def check(self, config: RunConfig) -> None:
        """The rules between options that concern this method: ConfigError with the first broken one."""
        if self.build is None:
            raise ConfigError(f"method {self.name!r} is a peer measured by a benchmark, not run by nasdqn; "
                              f"allowed: {', '.join(runnable_names())}")
        for rule in self.rules:
            problem = rule(config)
            if problem:
                raise ConfigError(problem)


_REGISTRY: dict[str, Method] = {}
FIXED_PREFIX = "fixed:"  # `fixed:<arch>`: any architecture, fixed for the whole run
FIXED_PATTERN = FIXED_PREFIX + "<arch>"


def _register(method: Method) -> str:
    if method.name in _REGISTRY or method.family not in FAMILIES:
        raise ValueError(f"method {method.name!r}: registered twice or of an unknown family")
    _REGISTRY[method.name] = method
    return method.name


# -- builders and rules --------------------------------------------------------------------------
def _fixed(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> Controller:
    return FixedController(Arch.parse(get(config.method).arch or ""))


def _start(config: RunConfig) -> Arch:
    return Arch.parse(config.start_arch)


def _random(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> Controller:
    return RandomController(config.search_space, _start(config), rng)


def _random_matched(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> Controller:
    return RandomController(config.search_space, _start(config), rng, switch_at=config.switch_at)


def _random_freeze(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> Controller:
    return FixedController(config.search_space.sample(rng))  # a random design held for the whole run


def _replay(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> Controller:
    return ReplayController(_start(config), parse_schedule(config.schedule))


def _learned(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> Controller:
    """NAS-DQN's controller: `ctrl_algo` gain (the Bayesian model of gains) or reinforce."""
    c = config
    if c.ctrl_algo == "gain":
        controller = GainController(c.search_space, _start(c), rng, io=io, break_cost=c.ctrl_break_cost,
                                    cost_weight=c.ctrl_cost_weight, settle=c.ctrl_settle, history=c.ctrl_history,
                                    prior_sd=c.ctrl_prior_sd, moves=c.ctrl_moves, warmup=c.ctrl_warmup,
                                    move_cost=c.ctrl_move_cost, late_break=c.ctrl_late_break,
                                    inherit=c.inherit == "morph")
        if c.ctrl_init:
            controller.load_states(read_controller_states(c.ctrl_init))
        return controller
    return LearnedController(c.search_space, _start(c), rng, lr=c.ctrl_lr, entropy=c.ctrl_entropy,
                             baseline_rate=c.ctrl_baseline, break_cost=c.ctrl_break_cost, signal=c.ctrl_signal,
                             moves=c.ctrl_moves, cost_weight=c.ctrl_cost_weight, sharpen=c.ctrl_sharpen)


def _halving(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> PopulationController:
    return HalvingController(config.halving_rungs, config.halving_keep, config.halving_score)


def _halving_random(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> PopulationController:
    return RandomHalvingController(config.halving_rungs, config.halving_keep, rng)


def _race_checkpoints(config: RunConfig) -> list[int]:
    """The evaluations up to the deadline, and the deadline itself: where racing compares."""
    deadline = max(1, int(config.race_deadline * config.steps))
    return [s for s in range(config.eval_every, deadline, config.eval_every)] + [deadline]


def _racing(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> PopulationController:
    return RacingController(_race_checkpoints(config), config.race_confidence, config.race_score)


def _racing_random(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> PopulationController:
    return RandomRacingController(_race_checkpoints(config), config.race_confidence, rng, config.race_score)


def _whole_space(config: RunConfig) -> list[Arch]:
    return config.search_space.all()


def race_candidates(config: RunConfig) -> list[Arch]:
    """The architectures a race starts with: the first `race_size` of `race_candidates` (the search
    space in its order when that is empty)."""
    order = [Arch.parse(a) for a in config.race_candidates] or config.search_space.all()
    return order[: config.race_size]


def _start_in_space(c: RunConfig) -> str | None:
    space = c.search_space
    if not space.contains(_start(c)):
        return f"start_arch {c.start_arch} is not in the search space ({space.describe()})"
    return None


def _has_schedule(c: RunConfig) -> str | None:
    if c.schedule or c.schedule_from:
        return None
    return "method replay needs a schedule: set schedule_from (the grid whose nas runs it replays) or schedule"


def _schedule_in_space(c: RunConfig) -> str | None:
    space = c.search_space
    for episode, arch in parse_schedule(c.schedule).items():
        if not space.contains(arch):
            return f"schedule entry {episode}:{arch} is not in the search space ({space.describe()})"
    return None


def _init_needs_gain(c: RunConfig) -> str | None:
    if c.ctrl_init and c.ctrl_algo != "gain":
        return "ctrl_init is used only by method nas with ctrl_algo gain"
    return None


def _rung_per_keep(c: RunConfig) -> str | None:
    if len(c.halving_rungs) != len(c.halving_keep):
        return (f"halving_rungs {c.halving_rungs} and halving_keep {c.halving_keep}: need one kept count per "
                "rung")
    return None


def _rungs_within_run(c: RunConfig) -> str | None:
    if c.halving_rungs[-1] >= c.steps:
        return (f"halving_rungs {c.halving_rungs}: the last rung must come before the end of the run "
                f"(steps {c.steps})")
    return None


def _first_rung_cuts(c: RunConfig) -> str | None:
    size = c.search_space.size
    if c.halving_keep[0] >= size:
        return (f"halving_keep {c.halving_keep}: the first rung must keep fewer than the {size} candidates of "
                f"the search space; allowed: 1..{size - 1}")
    return None


def _candidates_in_space(c: RunConfig) -> str | None:
    space = c.search_space
    for a in c.race_candidates:
        if not space.contains(Arch.parse(a)):
            return f"race_candidates: {a} is not in the search space ({space.describe()})"
    return None


def _race_fits(c: RunConfig) -> str | None:
    n = len(c.race_candidates) or c.search_space.size
    if not 2 <= c.race_size <= n:
        return f"race_size {c.race_size}: allowed 2..{n} (the candidates on offer)"
    return None


def _deadline_after_evaluation(c: RunConfig) -> str | None:
    if c.race_deadline * c.steps < c.eval_every:
        return (f"race_deadline {c.race_deadline}: no evaluation before it (eval_every {c.eval_every}, steps "
                f"{c.steps}); allowed {c.eval_every / c.steps:.3g}..<1")
    return None


def _selection_not_reporting(c: RunConfig) -> str | None:
    if c.selection_seed == c.eval_seed:
        return (f"selection_seed {c.selection_seed}: allowed 0..{MAX_SEED}, and not eval_seed ({c.eval_seed}): "
                "candidates are never selected on the starts they are reported on")
    return None


# -- the registry ------------------------------------------------------------------------------
# One colour per method across the book (seaborn's colour-blind palette); the population methods
# stand apart in black and dark gold. Listed methods appear in tables and figures in this order.
PALETTE = ("#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133",
           "#56b4e9")
SPARE_COLOURS = PALETTE[7:]  # for methods without a colour of their own, by first sight
_SEARCHING = frozenset({RUN, SEARCH_OPTIONS, SPACE})
_SEARCH_RULES = (_start_in_space,)
_POPULATION_RULES = (_start_in_space, _rung_per_keep, _rungs_within_run, _first_rung_cuts, _selection_not_reporting)
_HALVING_USES = _SEARCHING | {POPULATION_OPTIONS, SELECTION}
_RACING_USES = frozenset({RUN, SPACE, SELECTION, RACE})
_RACE_RULES = (_candidates_in_space, _race_fits, _deadline_after_evaluation, _selection_not_reporting)

FIXED_SMALL = _register(Method("fixed-small", FIXED, "", _fixed, frozenset({RUN}), colour=PALETTE[0],
                               paper_baseline=True, arch="relu-32"))
FIXED_MEDIUM = _register(Method("fixed-medium", FIXED, "", _fixed, frozenset({RUN}), colour=PALETTE[1],
                                paper_baseline=True, arch="relu-64x64"))
FIXED_LARGE = _register(Method("fixed-large", FIXED, "", _fixed, frozenset({RUN}), colour=PALETTE[2],
                               paper_baseline=True, arch="relu-256x256x256"))
RANDOM = _register(Method("random", SEARCH, "uniform draw every window", _random, _SEARCHING, colour=PALETTE[3],
                          random_control=True, paper_baseline=True, rules=_SEARCH_RULES))
RANDOM_MATCHED = _register(Method(
    "random-matched", SEARCH, "uniform draws at the times given by switch_at", _random_matched,
    _SEARCHING | {MATCHED}, colour=PALETTE[4], random_control=True, copies="switch_at", rules=_SEARCH_RULES))
RANDOM_FREEZE = _register(Method("random-freeze", SEARCH, "one uniform draw, held", _random_freeze, _SEARCHING,
                                 colour=PALETTE[5], random_control=True, rules=_SEARCH_RULES))
NAS = _register(Method("nas", SEARCH, "", _learned, _SEARCHING | {LEARNED}, colour=PALETTE[6],
                       rules=(*_SEARCH_RULES, _init_needs_gain)))
REPLAY = _register(Method(
    "replay", REPLAY, "the changes listed in schedule, no feedback: another run's moves at its times", _replay,
    _SEARCHING | {REPLAY_OPTIONS}, listed=False, copies="schedule",
    rules=(*_SEARCH_RULES, _has_schedule, _schedule_in_space)))
HALVING = _register(Method(
    "halving", POPULATION, "successive halving over the whole search space, candidates trained side by side on "
    "one replay buffer", _halving, _HALVING_USES, colour="#000000", rules=_POPULATION_RULES,
    candidates=_whole_space))
HALVING_RANDOM = _register(Method(
    "halving-random", POPULATION, "the same, survivors drawn at random: its random-selection control",
    _halving_random, _HALVING_USES, colour="#8c6d00", random_control=True, rules=_POPULATION_RULES,
    candidates=_whole_space))
RACING = _register(Method(
    "racing", POPULATION, "candidates ordered by a prior race side by side on one replay buffer, cut only when a "
    "paired bound on the validation starts says they are worse; one left by race_deadline", _racing, _RACING_USES,
    colour="#5b2a86", rules=_RACE_RULES, candidates=race_candidates))
RACING_RANDOM = _register(Method(
    "racing-random", POPULATION, "the same race, as many cut at the same checkpoints, drawn at random: its "
    "random-selection control", _racing_random, _RACING_USES, colour="#b39ddb", random_control=True,
    rules=_RACE_RULES, candidates=race_candidates))
# AgileRL's evolutionary DQN (benchmarks/agilerl_peer.py): the best agent of its population.
AGILERL = _register(Method("AgileRL (elite)", PEER, "AgileRL's evolutionary DQN, its elite agent", None,
                           listed=False))
# The method whose runs `random-matched` and `replay` cells copy their changes from.
COPIED_FROM = NAS


def fixed_method(arch: Arch | str) -> str:
    """The method that trains `arch` for the whole run (`fixed:<arch>`)."""
    return f"{FIXED_PREFIX}{arch}"


def arch_name(name: str) -> str:
    """The architecture a `fixed:<arch>` method names, as the sweep's tables show it (other names as
    they are)."""
    return name.removeprefix(FIXED_PREFIX)


def is_fixed_pattern(name: str) -> bool:
    return isinstance(name, str) and name.startswith(FIXED_PREFIX)


@functools.lru_cache(maxsize=512)
def _fixed_entry(name: str) -> Method:
    arch = Arch.parse(name[len(FIXED_PREFIX):])  # ConfigError naming the form, for a bad architecture
    return Method(name, FIXED, "", _fixed, frozenset({RUN}), listed=False, arch=str(arch))


def get(name: str) -> Method:
    """The entry of `name` (a registered name or `fixed:<arch>`); ConfigError naming the choices."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if is_fixed_pattern(name):
        return _fixed_entry(name)
    raise ConfigError(f"unknown method {name!r}; allowed: {', '.join(runnable_names())}")


def known(name: Any) -> bool:
    try:
        get(name)
    except (ConfigError, TypeError):
        return False
    return True


def runnable_names() -> list[str]:
    """The names `train` runs, with the `fixed:<arch>` pattern after the named fixed networks."""
    names = [m.name for m in _REGISTRY.values() if m.build is not None]
    fixed = [n for n in names if _REGISTRY[n].family == FIXED]
    return [*fixed, FIXED_PATTERN, *(n for n in names if n not in fixed)]


def describe() -> str:
    """`--method`'s help: every runnable method with what it is."""
    parts = []
    for name in runnable_names():
        summary = "e.g. fixed:relu-128x128" if name == FIXED_PATTERN else _REGISTRY[name].summary
        parts.append(f"{name} ({summary})" if summary else name)
    return " | ".join(parts)


def entries() -> list[Method]:
    return list(_REGISTRY.values())


def named_fixed() -> dict[str, str]:
    """The named fixed baselines and their architectures."""
    return {m.name: m.arch for m in _REGISTRY.values() if m.family == FIXED and m.arch}


def of_family(*families: str) -> tuple[str, ...]:
    return tuple(m.name for m in _REGISTRY.values() if m.family in families)


def random_controls() -> tuple[str, ...]:
    """The random controls, in the book's order."""
    return tuple(m.name for m in _REGISTRY.values() if m.random_control)


def paper_baselines() -> tuple[str, ...]:
    """The paper's comparators: its three fixed networks and its random search."""
    return tuple(m.name for m in _REGISTRY.values() if m.paper_baseline)


def users_of(scope: str) -> tuple[str, ...]:
    """The runnable methods that use the option group `scope`."""
    return tuple(m.name for m in _REGISTRY.values() if m.build is not None and scope in m.uses)


def is_population(name: str) -> bool:
    return known(name) and get(name).family == POPULATION


def is_fixed(name: str) -> bool:
    return known(name) and get(name).family == FIXED


def order(names: Iterable[str]) -> list[str]:
    """`names` in the book's order: the listed methods as registered, then the others by name."""
    present = set(names)
    listed = [m.name for m in _REGISTRY.values() if m.listed and m.name in present]
    return listed + sorted(present - set(listed))


def label(name: str) -> str:
    """How figures name the method (its registered label, else its name)."""
    return _REGISTRY[name].shown_as if name in _REGISTRY else name


def colour(name: str) -> str | None:
    """The method's own colour, or None (a spare one is then given by first sight)."""
    return _REGISTRY[name].colour if name in _REGISTRY else None


def make_controller(config: RunConfig, rng: np.random.Generator, io: tuple[int, int] = (3, 5)
                    ) -> Controller | PopulationController:
    """The controller of `config.method`; `io` (observation size, number of actions) sizes the
    networks whose parameter counts a compute-aware controller charges for."""
    build = get(config.method).build
    assert build is not None  # RunConfig refuses peers
    return build(config, rng, io)
