"""`RunConfig`: the one place where every run option, its default and its help text live.

The CLI, the run notebook's parameter cell and the batch grids are all generated from or checked
against this dataclass, so a new option is added here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nasdqn import methods
from nasdqn.envs import PENDULUM_ID, resolve_env_id
from nasdqn.errors import MAX_DEPTH, MAX_SEED, MAX_STEPS, MAX_WIDTH, ConfigError
from nasdqn.search_space import INHERIT_MODES, Arch, SearchSpace, parse_schedule

# Re-exported: callers import these from here, where the options are.
__all__ = ["MAX_DEPTH", "MAX_SEED", "MAX_STEPS", "MAX_WIDTH", "PENDULUM_ID", "ConfigError", "RunConfig"]

LAYER_WIDTHS = ("uniform", "free")
# Option groups (see `option_scope`), short for the field declarations below.
_SEARCH, _SPACE, _MATCHED, _REPLAY, _POPULATION, _SELECTION, _RACE, _LABEL = (
    methods.SEARCH_OPTIONS, methods.SPACE, methods.MATCHED, methods.REPLAY_OPTIONS, methods.POPULATION_OPTIONS,
    methods.SELECTION, methods.RACE, methods.LABEL)
TARGETS = ("double", "max")


@dataclass(frozen=True)
class Preset:
    """Per-task settings, applied identically to every method on the task (fixed networks, random
    controls, NAS-DQN), so that no method is tuned in its own favour. `options` are RunConfig values
    (the budget included); `net_arch` is the network the settings were tuned for (the reference row)."""

    env: str
    options: dict[str, Any]
    net_arch: str
    source: str
    # The source's own published greedy return (mean, sd) with these settings, a reference row only:
    # RL Zoo's benchmark.md evaluates one trained agent, not seeds.
    published: tuple[float, float] | None = None


# RL Baselines3 Zoo's tuned DQN settings (hyperparams/dqn.yml); every key the zoo omits takes SB3's
# DQN default, which is ours too: epsilon from 1.0, hard target copy, gradient-norm clip 10.
_ZOO = "RL Baselines3 Zoo, hyperparams/dqn.yml (tuned for SB3's DQN)"
PRESETS: dict[str, Preset] = {
    "paper-pendulum": Preset(
        PENDULUM_ID, {"steps": 100_000}, "relu-64x64",
        "ours (the paper gives none): the RunConfig defaults, from the design prototype's Double DQN settings"),
    "pendulum-v1": Preset(
        "Pendulum-v1", {"steps": 30_000, "discretise": 5}, "relu-64x64",
        "ours (no published discrete-action DQN setting): the paper pendulum's settings, 5 torques, 30k steps, "
        "as in the other-tasks grid, where fixed-medium and fixed-large learn it"),
    "cartpole": Preset(
        "CartPole-v1", {"steps": 50_000, "lr": 2.3e-3, "batch_size": 64, "buffer_size": 100_000,
                        "learning_starts": 1_000, "gamma": 0.99, "target_update": 10, "train_freq": 256,
                        "gradient_steps": 128, "eps_fraction": 0.16, "eps_end": 0.04}, "relu-256x256", _ZOO,
        (500.0, 0.0)),
    "acrobot": Preset(
        "Acrobot-v1", {"steps": 100_000, "lr": 6.3e-4, "batch_size": 128, "buffer_size": 50_000,
                       "learning_starts": 0, "gamma": 0.99, "target_update": 250, "train_freq": 4,
                       "gradient_steps": -1, "eps_fraction": 0.12, "eps_end": 0.1}, "relu-256x256", _ZOO,
        (-76.6, 11.8)),
    "mountaincar": Preset(
        "MountainCar-v0", {"steps": 120_000, "lr": 4e-3, "batch_size": 128, "buffer_size": 10_000,
                           "learning_starts": 1_000, "gamma": 0.98, "target_update": 600, "train_freq": 16,
                           "gradient_steps": 8, "eps_fraction": 0.2, "eps_end": 0.07}, "relu-256x256", _ZOO,
        (-100.8, 9.9)),
    "lunarlander": Preset(
        "LunarLander-v3", {"steps": 100_000, "lr": 6.3e-4, "batch_size": 128, "buffer_size": 50_000,
                           "learning_starts": 0, "gamma": 0.99, "target_update": 250, "train_freq": 4,
                           "gradient_steps": -1, "eps_fraction": 0.12, "eps_end": 0.1}, "relu-256x256",
        _ZOO + "; the zoo tuned LunarLander-v2, v3 changed the dynamics", (154.4, 79.2)),
}
TASK_PRESET = "task"  # the preset named for the run's own env


def preset_for(name: str, env: str) -> Preset:
    """The preset `name` (or, for `task`, the one of `env`), checked to be for `env`."""
    if name == TASK_PRESET:
        found = [p for p in PRESETS.values() if p.env == env]
        if not found:
            raise ConfigError(f"preset task: no preset for env {env!r}; presets exist for "
                              f"{', '.join(p.env for p in PRESETS.values())}")
        return found[0]
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; allowed: {TASK_PRESET} (the env's own), {', '.join(PRESETS)}")
    preset = PRESETS[name]
    if preset.env != env:
        raise ConfigError(f"preset {name} is for env {preset.env}, not {env}")
    return preset


def apply_preset(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with its `preset` key (if any) expanded: the preset's options, then every option given
    explicitly on top (a smoke grid may shorten a preset's budget)."""
    if "preset" not in values:
        return values
    rest = {k: v for k, v in values.items() if k != "preset"}
    name = values["preset"]
    if not isinstance(name, str):
        raise ConfigError(f"preset {name!r}: expected a name; allowed: {TASK_PRESET}, {', '.join(PRESETS)}")
    if "env" not in rest and name in PRESETS:  # a named preset brings its env
        rest["env"] = PRESETS[name].env
    return {**preset_for(name, str(rest.get("env", PENDULUM_ID))).options, **rest}


# -- each option's own rule, written beside it: check(name, value, config) -> the error, or None --------
Check = Callable[[str, Any, Any], "str | None"]


def _opt(default: Any, help: str, check: Check | None = None, **extra: Any) -> Any:
    """A run option: its default, its help text, its rule (`check`) and metadata: `scope` (the option
    group, see `option_scope`), `legacy` (see `config_hash_of`), `exclusive` (setting it for a method
    that does not use its group is an error, not silently ignored)."""
    return field(default=default, metadata={"help": help, "check": check, **extra})


def _allowed(test: Callable[[Any], bool], allowed: str) -> Check:
    return lambda name, v, c: None if test(v) else f"{name} {v}: {allowed}"


def _one_of(choices: Sequence[str]) -> Check:
    return lambda name, v, c: None if v in choices else f"{name} {v!r}; allowed: {', '.join(choices)}"


def _in_range(lo: int, hi: int) -> Check:
    return lambda name, v, c: None if lo <= v <= hi else f"{name} {v} is out of range; allowed: {lo}..{hi}"


def _at_least(lo: float) -> Check:
    return _allowed(lambda v: v >= lo, f"must be >= {lo}")


def _positive() -> Check:
    return _allowed(lambda v: v > 0, "must be > 0")


def _unit(name: str, v: float, c: Any) -> str | None:
    return None if 0 <= v <= 1 else f"{name} {v}: allowed [0, 1]"


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


def _experiment(name: str, v: str, c: Any) -> str | None:
    return None if _NAME.match(v) else f"experiment {v!r}: use 1-64 letters, digits, _ . + -"


def _method(name: str, v: str, c: Any) -> str | None:
    methods.get(v)  # ConfigError naming the choices; `fixed:<arch>` also parses its architecture
    return None


def _env(name: str, v: str, c: Any) -> str | None:
    resolve_env_id(v)  # ConfigError saying what was tried
    return None


def _pendulum_only(name: str, v: float, c: Any) -> str | None:
    if not 0 < v <= 100:
        return f"{name} {v}: allowed (0, 100]"
    if v != 1.0 and resolve_env_id(c.env) != PENDULUM_ID:
        return f"{name} applies only to env {PENDULUM_ID}"
    return None


def _buffer(name: str, v: int, c: Any) -> str | None:
    return None if c.batch_size <= v <= 10_000_000 else f"buffer_size {v}: allowed batch_size..10^7"


def _arch(name: str, v: str, c: Any) -> str | None:
    Arch.parse(v)
    return None


def _archs(name: str, v: tuple[str, ...], c: Any) -> str | None:
    parsed = [str(Arch.parse(a)) for a in v]  # ConfigError naming the form
    if len(set(parsed)) != len(parsed):
        twice = sorted({a for a in parsed if parsed.count(a) > 1})
        return f"{name}: {', '.join(twice)} listed twice; allowed: each architecture at most once"
    return None


def _open_unit(name: str, v: float, c: Any) -> str | None:
    return None if 0 < v < 1 else f"{name} {v}: allowed (0, 1), both ends excluded"


def _switch_at(name: str, v: tuple[int, ...], c: Any) -> str | None:
    if all(e >= 1 for e in v) and list(v) == sorted(set(v)):
        return None
    return f"switch_at {list(v)}: episode numbers >= 1, increasing, no repeats"


def _schedule(name: str, v: tuple[str, ...], c: Any) -> str | None:
    parse_schedule(v)  # ConfigError naming the form
    return None


def _grid_name(name: str, v: str, c: Any) -> str | None:
    return None if v == "" or _NAME.match(v) else f"schedule_from {v!r}: a grid name (1-64 letters, digits, _ . + -)"


def _rungs(name: str, v: tuple[int, ...], c: Any) -> str | None:
    if v and all(a < b for a, b in zip((0, *v), v, strict=False)) and v[-1] <= MAX_STEPS:
        return None
    return f"halving_rungs {v}: must be increasing steps > 0"


def _keep(name: str, v: tuple[int, ...], c: Any) -> str | None:
    if v and all(a > b for a, b in zip(v, v[1:], strict=False)) and v[-1] == 1:
        return None
    return f"halving_keep {v}: must decrease to 1"


@dataclass(frozen=True)
class RunConfig:
    # --- what to run -----------------------------------------------------------------------
    experiment: str = _opt("adhoc", "experiment name (the first level of the run directory)", _experiment,
                           scope=_LABEL)
    env: str = _opt(PENDULUM_ID, "Gymnasium environment id with discrete actions (continuous: see discretise), or "
                    "module:EnvId to import the module that registers it first", _env)
    method: str = _opt(methods.FIXED_MEDIUM, methods.describe(), _method)
    seed: int = _opt(0, f"random seed (0..{MAX_SEED}); a run is a pure function of config and seed",
                     _in_range(0, MAX_SEED))
    steps: int = _opt(100_000, "environment steps used for training", _in_range(1, MAX_STEPS))

    # --- environment -----------------------------------------------------------------------
    n_torques: int = _opt(5, "pendulum: number of torques evenly spaced in [-max_torque, max_torque]",
                          _allowed(lambda v: 2 <= v <= 1000, "allowed 2..1000"))
    discretise: int = _opt(
        0, "continuous-action envs (e.g. Pendulum-v1): bins per action dimension; 0 refuses such envs",
        _allowed(lambda v: v == 0 or 2 <= v <= 100, "allowed 0 (off) or 2..100"),
    )
    max_torque: float = _opt(3.0, "pendulum: largest torque magnitude",
                             _allowed(lambda v: 0 < v <= 1000, "allowed (0, 1000]"))
    horizon: int = _opt(200, "pendulum: steps per episode (time limit, a truncation)",
                        _allowed(lambda v: 1 <= v <= 100_000, "allowed 1..100000"))
    pendulum_mass: float = _opt(1.0, "pendulum: mass m (kg; variants for controller transfer)", _pendulum_only,
                                legacy=True)
    pendulum_length: float = _opt(1.0, "pendulum: length l (m; variants for controller transfer)", _pendulum_only,
                                  legacy=True)

    # --- Double DQN ------------------------------------------------------------------------
    lr: float = _opt(1e-3, "Adam learning rate", _allowed(lambda v: 0 < v < 1, "allowed (0, 1)"))
    gamma: float = _opt(0.99, "discount factor", _unit)
    batch_size: int = _opt(64, "minibatch size", _allowed(lambda v: 1 <= v <= 100_000, "allowed 1..100000"))
    buffer_size: int = _opt(100_000, "replay buffer capacity (transitions)", _buffer)
    learning_starts: int = _opt(1_000, "steps of experience collected before the first update", _at_least(0))
    train_freq: int = _opt(1, "environment steps between training phases", _at_least(1))
    gradient_steps: int = _opt(
        1, "gradient updates per training phase; -1 = as many as environment steps since the last one "
        "(train_freq), as in Stable-Baselines3",
        _allowed(lambda v: v == -1 or 1 <= v <= 100_000, "allowed -1 (one per environment step) or 1..100000"),
        legacy=True,
    )
    target_update: int = _opt(500, "steps between hard target-network updates", _at_least(1))
    eps_start: float = _opt(1.0, "initial exploration rate", _unit)
    eps_end: float = _opt(0.05, "final exploration rate", _unit)
    eps_fraction: float = _opt(0.2, "fraction of the steps over which epsilon decays linearly", _unit)
    grad_clip: float = _opt(10.0, "gradient-norm clipping threshold", _positive())
    target: str = _opt(
        "double", "bootstrap target: double (Double DQN: the online network picks the next action) | max (DQN: "
        "the target network's own maximum, as Stable-Baselines3's DQN)", _one_of(TARGETS), legacy=True,
    )

    # --- evaluation ------------------------------------------------------------------------
    eval_every: int = _opt(2_500, "steps between greedy evaluations", _at_least(1))
    eval_episodes: int = _opt(10, "episodes per greedy evaluation, on fixed evaluation starts",
                              _allowed(lambda v: 1 <= v <= 1000, "allowed 1..1000"))
    eval_seed: int = _opt(12_345, "seed of the fixed evaluation starts (the same for every run)",
                          _allowed(lambda v: 0 <= v <= MAX_SEED, f"allowed 0..{MAX_SEED}"))
    final_evals: int = _opt(5, "final performance = mean of the last this-many evaluations", _at_least(1))

    # --- architecture search -----------------------------------------------------------------
    start_arch: str = _opt("relu-32", "architecture random search and NAS-DQN start from", _arch, scope=_SEARCH)
    depths: tuple[int, ...] = _opt((1, 2, 3), "search space: numbers of hidden layers", scope=_SPACE)
    widths: tuple[int, ...] = _opt((32, 64, 128, 256), "search space: hidden-layer widths", scope=_SPACE)
    activations: tuple[str, ...] = _opt(("relu", "tanh"), "search space: activations", scope=_SPACE)
    layer_widths: str = _opt(
        "uniform", "search space: uniform (all hidden layers equally wide) | free (each layer its own width)",
        _one_of(LAYER_WIDTHS), scope=_SPACE,
    )
    search_interval: int = _opt(10, "episodes between controller decisions", _at_least(1), scope=_SEARCH)
    inherit: str = _opt(
        "morph", "weights of a new architecture: morph (inherit the old network's function, Net2Net-style) | "
        "copy (copy every layer whose shape matches, initialise the others afresh: the paper's reported "
        "transfer) | none (a fresh random network at every switch: the ablation of weight inheritance)",
        _one_of(INHERIT_MODES), scope=_SEARCH, legacy=True,
    )
    replay_keep: float = _opt(
        1.0, "fraction of the replay buffer kept at an architecture change, the most recent transitions "
        "(the paper reportedly keeps 25%)", _allowed(lambda v: 0.0 < v <= 1.0, "allowed 0 < replay_keep <= 1"),
        scope=_SEARCH, legacy=True,
    )
    last_decision: str = _opt(
        "apply", "a change of architecture proposed at the very last step: apply (the changed network is then "
        "evaluated but never trained: the behaviour of the runs committed before this option) | skip",
        _one_of(("apply", "skip")), scope=_SEARCH, legacy=True,
    )
    distill_steps: int = _opt(
        0, "after a change that does not preserve the function: distillation steps on replay states",
        _allowed(lambda v: 0 <= v <= 100_000, "allowed 0..100000"), scope=_SEARCH,
    )
    switch_at: tuple[int, ...] = _opt(
        (), "random-matched: episodes after which to switch (nasdqn batch copies them from the nas run "
        "of the same seed)", _switch_at, scope=_MATCHED, exclusive=True,
    )

    schedule: tuple[str, ...] = _opt(
        (), "replay: the changes to make, as EPISODE:ARCH (nasdqn batch copies them from the nas run named by "
        "schedule_from)", _schedule, scope=_REPLAY, exclusive=True,
    )
    schedule_from: str = _opt(
        "", "replay: the grid (experiment) whose nas run of seed + schedule_offset gives the schedule", _grid_name,
        scope=_REPLAY, exclusive=True,
    )
    schedule_offset: int = _opt(
        0, "replay: 0 replays the same seed's schedule; k replays seed + k's (a schedule this run's returns never "
        "informed)", _allowed(lambda v: 0 <= v <= MAX_SEED, f"allowed 0..{MAX_SEED}"), scope=_REPLAY,
        exclusive=True,
    )

    # --- successive halving (population methods) ----------------------------------------------
    # The defaults were chosen on seeds 100-102 only, by replaying the cuts on the premise population's
    # saved scores (benchmarks/halving_tuning.py); never on the reported seeds 0-9.
    halving_rungs: tuple[int, ...] = _opt(
        (10_000, 20_000, 30_000), "halving: the steps at which candidates are cut (fixed in advance)", _rungs,
        scope=_POPULATION,
    )
    halving_keep: tuple[int, ...] = _opt(
        (12, 6, 1), "halving: candidates kept at each rung (the last must be 1: the survivor trains alone)", _keep,
        scope=_POPULATION,
    )
    halving_score: str = _opt(
        "recent", "halving: what ranks candidates at a rung: recent (mean of their last 3 validation "
        "evaluations) | auc (mean of all of them so far)", _one_of(("auc", "recent")), scope=_POPULATION,
    )
    selection_seed: int = _opt(
        54_321, "population methods: seed of the validation starts candidates are scored on (must differ from "
        "eval_seed: selection is never judged on the reporting starts)",
        _allowed(lambda v: 0 <= v <= MAX_SEED, f"allowed 0..{MAX_SEED}"), scope=_SELECTION,
    )

    # --- racing (population methods that cut on evidence) -------------------------------------
    race_candidates: tuple[str, ...] = _opt(
        (), "racing: the candidate architectures, best first by a prior (`nasdqn prior ENV` prints the "
        "leave-one-task-out order of the committed sweeps); empty: the search space in its order", _archs,
        scope=_RACE,
    )
    race_size: int = _opt(
        8, "racing: how many of race_candidates, in order, start the race (at most as many as there are)",
        _in_range(2, 10_000), scope=_RACE,
    )
    race_deadline: float = _opt(
        0.3, "racing: fraction of the budget by which one candidate is left (the leader by race_score; with no "
        "separation, the first in the prior's order)", _open_unit, scope=_RACE,
    )
    race_score: str = _opt(
        "auc", "racing: what makes the leader (compared with, deployed, kept at the deadline): auc (mean of all "
        "its validation evaluations) | recent (of its last 3)", _one_of(("auc", "recent")), scope=_RACE,
    )
    race_confidence: float = _opt(
        0.9, "racing: confidence that a cut candidate is worse than the leader (one-sided paired t bound over "
        "the validation starts, Bonferroni-corrected over the rivals)", _open_unit, scope=_RACE,
    )

    # --- learned controller ------------------------------------------------------------------
    ctrl_algo: str = _opt(
        "gain", "learned controller: gain (Bayesian model of measured gains, Thompson sampling) | "
        "reinforce (a factorised policy trained by REINFORCE, the project's first design)",
        _one_of(("gain", "reinforce")),
    )
    ctrl_settle: int = _opt(3, "gain controller: windows a new architecture is measured for before the next move",
                            _allowed(lambda v: 1 <= v <= 100, "allowed 1..100"))
    ctrl_history: int = _opt(8, "gain controller: windows whose trend (slope) is extrapolated past a switch",
                             _allowed(lambda v: 1 <= v <= 100, "allowed 1..100"))
    ctrl_warmup: float = _opt(
        0.2, "gain controller: fraction of the budget before which measured gains are not learned from "
        "(returns are mostly those of random actions while epsilon decays)",
        _allowed(lambda v: 0 <= v < 1, "allowed [0, 1)"),
    )
    ctrl_prior_sd: float = _opt(1.0, "gain controller: prior standard deviation of each decision's worth (noise units)",
                                _positive())
    ctrl_move_cost: float = _opt(
        0.5, "gain controller: prior mean cost of any switch, in noise units (learned away if switches pay)",
        _at_least(0),
    )
    ctrl_late_break: float = _opt(
        1.0, "gain controller: a breaking move also pays this x its believed cost x elapsed/remaining budget "
        "(0 = off)", _at_least(0),
    )
    ctrl_lr: float = _opt(0.5, "reinforce controller: policy-gradient step size", _positive())
    ctrl_entropy: float = _opt(0.05, "reinforce controller: initial entropy bonus (decays to 0)", _at_least(0))
    ctrl_baseline: float = _opt(0.2, "reinforce controller: moving-average rate of the reward baseline",
                                _allowed(lambda v: 0 < v <= 1, "allowed (0, 1]"))
    ctrl_break_cost: float = _opt(
        3.0, "learned controller: cost of a move that does not preserve the function (gain: prior mean, in noise "
        "units; reinforce: log-probability penalty)", _at_least(0),
    )
    ctrl_sharpen: float = _opt(
        3.0, "reinforce controller: choices sharpen to (1 + this) x log-odds by the end (settling)",
        _allowed(lambda v: 0 <= v <= 100, "allowed 0..100"),
    )
    ctrl_signal: str = _opt(
        "trend", "reinforce controller reward: trend (improvement beyond the recent trend) | raw (window score)",
        _one_of(("trend", "raw")),
    )
    ctrl_moves: str = _opt("local", "learned controller candidates: local (one edit away) | global (any)",
                           _one_of(("local", "global")))
    ctrl_cost_weight: float = _opt(
        0.0, "learned controller: charge per doubling of the parameter count, in noise units (0 = ignore compute)",
        _at_least(0),
    )
    ctrl_init: str = _opt(
        "", "gain controller: start from the learned model in this controller.json (a finished nas run's), or "
        "pooled from every controller.json under this directory (transfer); empty = fresh", legacy=True,
        exclusive=True,
    )

    # --- execution ---------------------------------------------------------------------------
    threads: int = _opt(1, "torch threads for this process", _allowed(lambda v: 1 <= v <= 256, "allowed 1..256"))

    def __post_init__(self) -> None:
        validate(self)

    # -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """A config from options given by name (YAML, JSON, the command line), coerced to their types; a
        `preset` key expands into that preset's options first (see `apply_preset`)."""
        values = apply_preset(values)
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(unknown)}; allowed: {', '.join(known)}")
        return cls(**{k: coerce(known[k], v) for k, v in values.items()})

    @property
    def updates_per_train(self) -> int:
        """Gradient updates in each training phase (every `train_freq` steps)."""
        return self.train_freq if self.gradient_steps == -1 else self.gradient_steps

    @property
    def search_space(self) -> SearchSpace:
        """The architectures a search may choose from (`depths` x `widths` x `activations`)."""
        return SearchSpace(self.depths, self.widths, self.activations, self.layer_widths == "uniform")

    def replace(self, **changes: Any) -> RunConfig:
        return RunConfig.from_dict({**self.to_dict(), **changes})

    @property
    def config_hash(self) -> str:
        """A hash of the options this run's method uses (see `config_hash_of`)."""
        digest = config_hash_of(self.to_dict())
        assert digest is not None
        return digest


def option_scope(f: dataclasses.Field) -> str:
    """Which runs an option can affect: `run` (every run), `search` (searching methods), `space` (the
    search space: searching and population methods), `learned` (nas: the `ctrl_*` options), `matched`
    (random-matched), `replay` (replay), `population` (the halving methods), `selection` (every
    population method), `race` (the racing methods), `label` (none: it only names the run).
    `nasdqn.methods` says which methods use which groups."""
    return f.metadata.get("scope") or (methods.LEARNED if f.name.startswith("ctrl_") else methods.RUN)


def config_hash_of(values: dict[str, Any]) -> str | None:
    """The hash of a stored config (a `to_dict()`, maybe written by an older version): sha256 of the
    sorted JSON of the options its method uses (the option groups of its registry entry), or None
    when one of them is missing from `values` or the method is unknown.

    Options a method cannot use are left out, so adding a controller option does not make the fixed
    baselines' committed runs stale; an option added later that a method does use is missing from
    the old runs' configs, and those runs then count as stale, as they must. The exception is an
    option declared `legacy`: one whose default is what the code did before it existed (e.g. weight
    inheritance by morphing). Absent, it means its default; at its default it is left out of the
    hash, so adding it leaves every committed run valid, and only runs that change it hash apart.
    """
    method = values.get("method")
    if not methods.known(method):
        return None
    uses = methods.get(method).uses
    used = {}
    for f in dataclasses.fields(RunConfig):
        if option_scope(f) not in uses:
            continue
        legacy = f.metadata.get("legacy", False)
        if f.name not in values and not legacy:
            return None
        value = values.get(f.name, _jsonable(f.default))
        if not (legacy and value == _jsonable(f.default)):
            used[f.name] = value
    text = json.dumps(used, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def option_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(RunConfig))


def _base_type(f: dataclasses.Field) -> str:
    return str(f.type).replace("tuple[", "").split(",")[0].strip("] ")


def coerce(f: dataclasses.Field, value: Any) -> Any:
    """Convert a value from YAML, JSON or the command line to the field's type, or say why not."""
    base = _base_type(f)
    is_tuple = str(f.type).startswith("tuple")
    caster = {"int": int, "float": float, "str": str}[base]

    def one(v: Any) -> Any:
        if isinstance(v, bool) or (base != "str" and isinstance(v, str) and not _NUMBER.match(v.strip())):
            raise ConfigError(f"option {f.name}: {v!r} is not a valid {base}")
        if base == "int" and isinstance(v, float) and not v.is_integer():
            raise ConfigError(f"option {f.name}: {v!r} is not a whole number")
        if base == "str" and not isinstance(v, str):
            raise ConfigError(f"option {f.name}: {v!r} is not a string")
        try:
            return caster(float(v)) if base == "int" and isinstance(v, str) else caster(v)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"option {f.name}: {v!r} is not a valid {base}") from None

    if is_tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"option {f.name}: expected a list of {base}, got {value!r}")
        return tuple(one(v.strip() if isinstance(v, str) else v) for v in items)
    return one(value)


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def validate(c: RunConfig) -> None:
    """Refuse values that cannot make a meaningful run, naming the allowed range: every option's own
    rule, then options set for a method that does not use them, then the rules between options of
    the method's registry entry (`nasdqn.methods`)."""
    fields = dataclasses.fields(RunConfig)
    for f in fields:
        check = f.metadata.get("check")
        problem = check(f.name, getattr(c, f.name), c) if check is not None else None
        if problem:
            raise ConfigError(problem)
    c.search_space  # noqa: B018 -- ConfigError for an empty or out-of-range space, whatever the method
    entry = methods.get(c.method)
    for f in fields:
        if f.metadata.get("exclusive") and getattr(c, f.name) != f.default and option_scope(f) not in entry.uses:
            raise ConfigError(f"{f.name} is used only by method {', '.join(methods.users_of(option_scope(f)))}")
    entry.check(c)
