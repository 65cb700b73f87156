"""`RunConfig`: the one place where every run option, its default and its help text live.

The CLI, the run notebook's parameter cell and the batch grids are all generated from or checked
against this dataclass, so a new option is added here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from nasdqn.envs import PENDULUM_ID, resolve_env_id
from nasdqn.errors import MAX_DEPTH, MAX_SEED, MAX_STEPS, MAX_WIDTH, ConfigError
from nasdqn.search_space import INHERIT_MODES, Arch, SearchSpace, parse_schedule

# Re-exported: callers import these from here, where the options are.
__all__ = ["MAX_DEPTH", "MAX_SEED", "MAX_STEPS", "MAX_WIDTH", "PENDULUM_ID", "ConfigError", "RunConfig"]


# Named fixed baselines of the paper (DESIGN.md, "Baselines").
FIXED_ARCHS = {
    "fixed-small": "relu-32",
    "fixed-medium": "relu-64x64",
    "fixed-large": "relu-256x256x256",
}
# Searching methods: the paper's random control, the fair random controls of issue 7 (random choices
# at the switch times of a NAS-DQN run, and a random architecture held for the whole run), NAS-DQN.
# Population methods train candidates side by side on one replay buffer (`nasdqn.population`).
POPULATION_METHODS = ("halving", "halving-random")
SEARCH_METHODS = ("random", "random-matched", "random-freeze", "nas", "replay", *POPULATION_METHODS)
METHODS = (*FIXED_ARCHS, "fixed:<arch>", *SEARCH_METHODS)
LAYER_WIDTHS = ("uniform", "free")
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


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class RunConfig:
    # --- what to run -----------------------------------------------------------------------
    experiment: str = _opt("adhoc", "experiment name (the first level of the run directory)", scope="label")
    env: str = _opt(PENDULUM_ID, "Gymnasium environment id with discrete actions (continuous: see discretise), or "
                    "module:EnvId to import the module that registers it first")
    method: str = _opt(
        "fixed-medium",
        "fixed-small | fixed-medium | fixed-large | fixed:<arch> (e.g. fixed:relu-128x128) | random "
        "(uniform draw every window) | random-matched (uniform draws at the times given by switch_at) | "
        "random-freeze (one uniform draw, held) | nas | replay (the changes listed in schedule, no feedback: "
        "another run's moves at its times) | halving (successive halving over the whole search space, "
        "candidates trained side by side on one replay buffer) | halving-random (the same, survivors drawn at "
        "random: its random-selection control)",
    )
    seed: int = _opt(0, f"random seed (0..{MAX_SEED}); a run is a pure function of config and seed")
    steps: int = _opt(100_000, "environment steps used for training")

    # --- environment -----------------------------------------------------------------------
    n_torques: int = _opt(5, "pendulum: number of torques evenly spaced in [-max_torque, max_torque]")
    discretise: int = _opt(
        0, "continuous-action envs (e.g. Pendulum-v1): bins per action dimension; 0 refuses such envs"
    )
    max_torque: float = _opt(3.0, "pendulum: largest torque magnitude")
    horizon: int = _opt(200, "pendulum: steps per episode (time limit, a truncation)")
    pendulum_mass: float = _opt(1.0, "pendulum: mass m (kg; variants for controller transfer)", legacy=True)
    pendulum_length: float = _opt(1.0, "pendulum: length l (m; variants for controller transfer)", legacy=True)

    # --- Double DQN ------------------------------------------------------------------------
    lr: float = _opt(1e-3, "Adam learning rate")
    gamma: float = _opt(0.99, "discount factor")
    batch_size: int = _opt(64, "minibatch size")
    buffer_size: int = _opt(100_000, "replay buffer capacity (transitions)")
    learning_starts: int = _opt(1_000, "steps of experience collected before the first update")
    train_freq: int = _opt(1, "environment steps between training phases")
    gradient_steps: int = _opt(
        1, "gradient updates per training phase; -1 = as many as environment steps since the last one "
        "(train_freq), as in Stable-Baselines3", legacy=True,
    )
    target_update: int = _opt(500, "steps between hard target-network updates")
    eps_start: float = _opt(1.0, "initial exploration rate")
    eps_end: float = _opt(0.05, "final exploration rate")
    eps_fraction: float = _opt(0.2, "fraction of the steps over which epsilon decays linearly")
    grad_clip: float = _opt(10.0, "gradient-norm clipping threshold")
    target: str = _opt(
        "double", "bootstrap target: double (Double DQN: the online network picks the next action) | max (DQN: "
        "the target network's own maximum, as Stable-Baselines3's DQN)", legacy=True,
    )

    # --- evaluation ------------------------------------------------------------------------
    eval_every: int = _opt(2_500, "steps between greedy evaluations")
    eval_episodes: int = _opt(10, "episodes per greedy evaluation, on fixed evaluation starts")
    eval_seed: int = _opt(12_345, "seed of the fixed evaluation starts (the same for every run)")
    final_evals: int = _opt(5, "final performance = mean of the last this-many evaluations")

    # --- architecture search -----------------------------------------------------------------
    start_arch: str = _opt("relu-32", "architecture random search and NAS-DQN start from", scope="search")
    depths: tuple[int, ...] = _opt((1, 2, 3), "search space: numbers of hidden layers", scope="search")
    widths: tuple[int, ...] = _opt((32, 64, 128, 256), "search space: hidden-layer widths", scope="search")
    activations: tuple[str, ...] = _opt(("relu", "tanh"), "search space: activations", scope="search")
    layer_widths: str = _opt(
        "uniform", "search space: uniform (all hidden layers equally wide) | free (each layer its own width)",
        scope="search",
    )
    search_interval: int = _opt(10, "episodes between controller decisions", scope="search")
    inherit: str = _opt(
        "morph", "weights of a new architecture: morph (inherit the old network's function, Net2Net-style) | "
        "copy (copy every layer whose shape matches, initialise the others afresh: the paper's reported "
        "transfer) | none (a fresh random network at every switch: the ablation of weight inheritance)",
        scope="search", legacy=True,
    )
    replay_keep: float = _opt(
        1.0, "fraction of the replay buffer kept at an architecture change, the most recent transitions "
        "(the paper reportedly keeps 25%)", scope="search", legacy=True,
    )
    last_decision: str = _opt(
        "apply", "a change of architecture proposed at the very last step: apply (the changed network is then "
        "evaluated but never trained: the behaviour of the runs committed before this option) | skip",
        scope="search", legacy=True,
    )
    distill_steps: int = _opt(
        0, "after a change that does not preserve the function: distillation steps on replay states",
        scope="search",
    )
    switch_at: tuple[int, ...] = _opt(
        (), "random-matched: episodes after which to switch (nasdqn batch copies them from the nas run "
        "of the same seed)", scope="matched",
    )

    schedule: tuple[str, ...] = _opt(
        (), "replay: the changes to make, as EPISODE:ARCH (nasdqn batch copies them from the nas run named by "
        "schedule_from)", scope="replay",
    )
    schedule_from: str = _opt(
        "", "replay: the grid (experiment) whose nas run of seed + schedule_offset gives the schedule", scope="replay",
    )
    schedule_offset: int = _opt(
        0, "replay: 0 replays the same seed's schedule; k replays seed + k's (a schedule this run's returns never "
        "informed)", scope="replay",
    )

    # --- successive halving (population methods) ----------------------------------------------
    # The defaults were chosen on seeds 100-102 only, by replaying the cuts on the premise population's
    # saved scores (benchmarks/halving_tuning.py); never on the reported seeds 0-9.
    halving_rungs: tuple[int, ...] = _opt(
        (10_000, 20_000, 30_000), "halving: the steps at which candidates are cut (fixed in advance)",
        scope="population",
    )
    halving_keep: tuple[int, ...] = _opt(
        (12, 6, 1), "halving: candidates kept at each rung (the last must be 1: the survivor trains alone)",
        scope="population",
    )
    halving_score: str = _opt(
        "recent", "halving: what ranks candidates at a rung: recent (mean of their last 3 validation "
        "evaluations) | auc (mean of all of them so far)", scope="population",
    )
    selection_seed: int = _opt(
        54_321, "halving: seed of the validation starts candidates are scored on (must differ from eval_seed: "
        "selection is never judged on the reporting starts)", scope="population",
    )

    # --- learned controller ------------------------------------------------------------------
    ctrl_algo: str = _opt(
        "gain", "learned controller: gain (Bayesian model of measured gains, Thompson sampling) | "
        "reinforce (a factorised policy trained by REINFORCE, the project's first design)"
    )
    ctrl_settle: int = _opt(3, "gain controller: windows a new architecture is measured for before the next move")
    ctrl_history: int = _opt(8, "gain controller: windows whose trend (slope) is extrapolated past a switch")
    ctrl_warmup: float = _opt(
        0.2, "gain controller: fraction of the budget before which measured gains are not learned from "
        "(returns are mostly those of random actions while epsilon decays)"
    )
    ctrl_prior_sd: float = _opt(1.0, "gain controller: prior standard deviation of each decision's worth (noise units)")
    ctrl_move_cost: float = _opt(
        0.5, "gain controller: prior mean cost of any switch, in noise units (learned away if switches pay)"
    )
    ctrl_late_break: float = _opt(
        1.0, "gain controller: a breaking move also pays this x its believed cost x elapsed/remaining budget "
        "(0 = off)"
    )
    ctrl_lr: float = _opt(0.5, "reinforce controller: policy-gradient step size")
    ctrl_entropy: float = _opt(0.05, "reinforce controller: initial entropy bonus (decays to 0)")
    ctrl_baseline: float = _opt(0.2, "reinforce controller: moving-average rate of the reward baseline")
    ctrl_break_cost: float = _opt(
        3.0, "learned controller: cost of a move that does not preserve the function (gain: prior mean, in noise "
        "units; reinforce: log-probability penalty)"
    )
    ctrl_sharpen: float = _opt(
        3.0, "reinforce controller: choices sharpen to (1 + this) x log-odds by the end (settling)"
    )
    ctrl_signal: str = _opt(
        "trend", "reinforce controller reward: trend (improvement beyond the recent trend) | raw (window score)"
    )
    ctrl_moves: str = _opt("local", "learned controller candidates: local (one edit away) | global (any)")
    ctrl_cost_weight: float = _opt(
        0.0, "learned controller: charge per doubling of the parameter count, in noise units (0 = ignore compute)"
    )
    ctrl_init: str = _opt(
        "", "gain controller: start from the learned model in this controller.json (a finished nas run's), or "
        "pooled from every controller.json under this directory (transfer); empty = fresh", legacy=True,
    )

    # --- execution ---------------------------------------------------------------------------
    threads: int = _opt(1, "torch threads for this process")

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

    def replace(self, **changes: Any) -> RunConfig:
        return RunConfig.from_dict({**self.to_dict(), **changes})

    @property
    def config_hash(self) -> str:
        """A hash of the options this run's method uses (see `config_hash_of`)."""
        digest = config_hash_of(self.to_dict())
        assert digest is not None
        return digest


def option_scope(f: dataclasses.Field) -> str:
    """Which runs an option can affect: `run` (every run), `search` (searching methods), `learned`
    (nas: the `ctrl_*` options), `matched` (random-matched), `replay` (replay), `population` (the
    halving methods), `label` (none: it only names the run)."""
    return f.metadata.get("scope") or ("learned" if f.name.startswith("ctrl_") else "run")


def _scopes_used(method: str) -> set[str]:
    if method_arch(method) is not None:
        return {"run"}
    return {"run", "search"} | ({"learned"} if method == "nas" else set()) | (
        {"matched"} if method == "random-matched" else set()) | ({"replay"} if method == "replay" else set()) | (
        {"population"} if method in POPULATION_METHODS else set())


def config_hash_of(values: dict[str, Any]) -> str | None:
    """The hash of a stored config (a `to_dict()`, maybe written by an older version): sha256 of the
    sorted JSON of the options its method uses, or None when one of them is missing from `values`.

    Options a method cannot use are left out, so adding a controller option does not make the fixed
    baselines' committed runs stale; an option added later that a method does use is missing from
    the old runs' configs, and those runs then count as stale, as they must. The exception is an
    option declared `legacy`: one whose default is what the code did before it existed (e.g. weight
    inheritance by morphing). Absent, it means its default; at its default it is left out of the
    hash, so adding it leaves every committed run valid, and only runs that change it hash apart.
    """
    method = values.get("method")
    if not isinstance(method, str):
        return None
    used = {}
    for f in dataclasses.fields(RunConfig):
        if option_scope(f) not in _scopes_used(method):
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
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(c: RunConfig) -> None:
    """Refuse values that cannot make a meaningful run, naming the allowed range."""
    _check(bool(_NAME.match(c.experiment)), f"experiment {c.experiment!r}: use 1-64 letters, digits, _ . + -")
    _check(
        c.method in FIXED_ARCHS or c.method in SEARCH_METHODS or c.method.startswith("fixed:"),
        f"unknown method {c.method!r}; allowed: {', '.join(METHODS)}",
    )
    if c.method.startswith("fixed:"):
        Arch.parse(c.method[len("fixed:"):])
    env_id = resolve_env_id(c.env)
    _check(0 <= c.seed <= MAX_SEED, f"seed {c.seed} is out of range; allowed: 0..{MAX_SEED}")
    _check(0 < c.steps <= MAX_STEPS, f"steps {c.steps} is out of range; allowed: 1..{MAX_STEPS}")
    _check(2 <= c.n_torques <= 1000, f"n_torques {c.n_torques}: allowed 2..1000")
    _check(c.discretise == 0 or 2 <= c.discretise <= 100, f"discretise {c.discretise}: allowed 0 (off) or 2..100")
    _check(0 < c.max_torque <= 1000, f"max_torque {c.max_torque}: allowed (0, 1000]")
    _check(1 <= c.horizon <= 100_000, f"horizon {c.horizon}: allowed 1..100000")
    for name in ("pendulum_mass", "pendulum_length"):
        v = getattr(c, name)
        _check(0 < v <= 100, f"{name} {v}: allowed (0, 100]")
        _check(v == 1.0 or env_id == PENDULUM_ID, f"{name} applies only to env {PENDULUM_ID}")
    _check(0 < c.lr < 1, f"lr {c.lr}: allowed (0, 1)")
    _check(0 <= c.gamma <= 1, f"gamma {c.gamma}: allowed [0, 1]")
    _check(1 <= c.batch_size <= 100_000, f"batch_size {c.batch_size}: allowed 1..100000")
    _check(c.batch_size <= c.buffer_size <= 10_000_000, f"buffer_size {c.buffer_size}: allowed batch_size..10^7")
    _check(c.learning_starts >= 0, f"learning_starts {c.learning_starts}: must be >= 0")
    _check(c.train_freq >= 1, f"train_freq {c.train_freq}: must be >= 1")
    _check(c.gradient_steps == -1 or 1 <= c.gradient_steps <= 100_000,
           f"gradient_steps {c.gradient_steps}: allowed -1 (one per environment step) or 1..100000")
    _check(c.target_update >= 1, f"target_update {c.target_update}: must be >= 1")
    for name in ("eps_start", "eps_end", "eps_fraction"):
        v = getattr(c, name)
        _check(0 <= v <= 1, f"{name} {v}: allowed [0, 1]")
    _check(c.grad_clip > 0, f"grad_clip {c.grad_clip}: must be > 0")
    _check(c.target in TARGETS, f"target {c.target!r}; allowed: {', '.join(TARGETS)}")
    _check(c.eval_every >= 1, f"eval_every {c.eval_every}: must be >= 1")
    _check(1 <= c.eval_episodes <= 1000, f"eval_episodes {c.eval_episodes}: allowed 1..1000")
    _check(0 <= c.eval_seed <= MAX_SEED, f"eval_seed {c.eval_seed}: allowed 0..{MAX_SEED}")
    _check(c.final_evals >= 1, f"final_evals {c.final_evals}: must be >= 1")
    _check(c.search_interval >= 1, f"search_interval {c.search_interval}: must be >= 1")
    _check(0 <= c.distill_steps <= 100_000, f"distill_steps {c.distill_steps}: allowed 0..100000")
    _check(c.inherit in INHERIT_MODES, f"inherit {c.inherit!r}; allowed: {', '.join(INHERIT_MODES)}")
    _check(c.last_decision in ("apply", "skip"), f"last_decision {c.last_decision!r}; allowed: apply, skip")
    _check(0.0 < c.replay_keep <= 1.0, f"replay_keep {c.replay_keep}: allowed 0 < replay_keep <= 1")
    _check(c.layer_widths in LAYER_WIDTHS, f"layer_widths {c.layer_widths!r}; allowed: {', '.join(LAYER_WIDTHS)}")
    _check(all(e >= 1 for e in c.switch_at) and list(c.switch_at) == sorted(set(c.switch_at)),
           f"switch_at {list(c.switch_at)}: episode numbers >= 1, increasing, no repeats")
    _check(not c.switch_at or c.method == "random-matched", "switch_at is used only by method random-matched")
    _check(not (c.schedule or c.schedule_from or c.schedule_offset) or c.method == "replay",
           "schedule, schedule_from and schedule_offset are used only by method replay")
    _check(c.method != "replay" or bool(c.schedule or c.schedule_from),
           "method replay needs a schedule: set schedule_from (the grid whose nas runs it replays) or schedule")
    _check(c.schedule_from == "" or bool(_NAME.match(c.schedule_from)),
           f"schedule_from {c.schedule_from!r}: a grid name (1-64 letters, digits, _ . + -)")
    _check(0 <= c.schedule_offset <= MAX_SEED, f"schedule_offset {c.schedule_offset}: allowed 0..{MAX_SEED}")
    _check(c.ctrl_algo in ("gain", "reinforce"), f"ctrl_algo {c.ctrl_algo!r}; allowed: gain, reinforce")
    _check(1 <= c.ctrl_settle <= 100, f"ctrl_settle {c.ctrl_settle}: allowed 1..100")
    _check(1 <= c.ctrl_history <= 100, f"ctrl_history {c.ctrl_history}: allowed 1..100")
    _check(0 <= c.ctrl_warmup < 1, f"ctrl_warmup {c.ctrl_warmup}: allowed [0, 1)")
    _check(c.ctrl_prior_sd > 0, f"ctrl_prior_sd {c.ctrl_prior_sd}: must be > 0")
    _check(c.ctrl_move_cost >= 0, f"ctrl_move_cost {c.ctrl_move_cost}: must be >= 0")
    _check(c.ctrl_late_break >= 0, f"ctrl_late_break {c.ctrl_late_break}: must be >= 0")
    _check(c.ctrl_lr > 0, f"ctrl_lr {c.ctrl_lr}: must be > 0")
    _check(c.ctrl_entropy >= 0, f"ctrl_entropy {c.ctrl_entropy}: must be >= 0")
    _check(0 < c.ctrl_baseline <= 1, f"ctrl_baseline {c.ctrl_baseline}: allowed (0, 1]")
    _check(c.ctrl_break_cost >= 0, f"ctrl_break_cost {c.ctrl_break_cost}: must be >= 0")
    _check(0 <= c.ctrl_sharpen <= 100, f"ctrl_sharpen {c.ctrl_sharpen}: allowed 0..100")
    _check(c.ctrl_signal in ("trend", "raw"), f"ctrl_signal {c.ctrl_signal!r}; allowed: trend, raw")
    _check(c.ctrl_moves in ("local", "global"), f"ctrl_moves {c.ctrl_moves!r}; allowed: local, global")
    _check(c.ctrl_cost_weight >= 0, f"ctrl_cost_weight {c.ctrl_cost_weight}: must be >= 0")
    _check(not c.ctrl_init or (c.method == "nas" and c.ctrl_algo == "gain"),
           "ctrl_init is used only by method nas with ctrl_algo gain")
    _check(1 <= c.threads <= 256, f"threads {c.threads}: allowed 1..256")
    _check(len(c.halving_rungs) == len(c.halving_keep) >= 1,
           f"halving_rungs {c.halving_rungs} and halving_keep {c.halving_keep}: need one kept count per rung")
    _check(all(a < b for a, b in zip((0, *c.halving_rungs), c.halving_rungs, strict=False))
           and c.halving_rungs[-1] <= MAX_STEPS, f"halving_rungs {c.halving_rungs}: must be increasing steps > 0")
    _check(all(a > b for a, b in zip(c.halving_keep, c.halving_keep[1:], strict=False)) and c.halving_keep[-1] == 1,
           f"halving_keep {c.halving_keep}: must decrease to 1")
    _check(c.halving_score in ("auc", "recent"), f"halving_score {c.halving_score!r}; allowed: auc, recent")
    _check(0 <= c.selection_seed <= MAX_SEED and c.selection_seed != c.eval_seed,
           f"selection_seed {c.selection_seed}: allowed 0..{MAX_SEED}, and not eval_seed ({c.eval_seed})")
    if c.method in POPULATION_METHODS:
        _check(c.halving_rungs[-1] < c.steps, f"halving_rungs {c.halving_rungs}: the last rung must come before "
               f"the end of the run (steps {c.steps})")

    space = SearchSpace.from_config(c)
    Arch.parse(c.start_arch)
    if c.method in SEARCH_METHODS:
        _check(
            space.contains(Arch.parse(c.start_arch)),
            f"start_arch {c.start_arch} is not in the search space ({space.describe()})",
        )
    for episode, arch in parse_schedule(c.schedule).items():
        _check(space.contains(arch), f"schedule entry {episode}:{arch} is not in the search space ({space.describe()})")


def method_arch(method: str) -> str | None:
    """The fixed architecture a method names, or None for a searching method."""
    if method in FIXED_ARCHS:
        return FIXED_ARCHS[method]
    if method.startswith("fixed:"):
        return method[len("fixed:"):]
    return None
