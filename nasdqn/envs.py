"""The paper's inverted pendulum, its vectorised twin, a reference controller, and `make_env`.

Dynamics (paper, see shared/paper/facts.md): theta is the angle from the upright, wrapped to
(-pi, pi]; theta_dd = (g / l) sin(theta) + tau / (m l^2); semi-implicit Euler with dt = 0.02:
omega' = clip(omega + theta_dd dt, -8, 8), theta' = theta + omega' dt. Observation
[cos theta, sin theta, omega]. The reward, torque set, horizon and start distribution are our
choices (DESIGN.md) and are constructor parameters.
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from nasdqn.errors import ConfigError

PENDULUM_ID = "NASDQN/InvertedPendulum-v0"


@dataclass(frozen=True)
class PendulumParams:
    n_torques: int = 5
    max_torque: float = 3.0
    horizon: int = 200
    theta_weight: float = 1.0
    omega_weight: float = 0.1
    torque_weight: float = 0.001
    start_theta: float = math.pi  # theta0 ~ U(-start_theta, start_theta]
    start_omega: float = 1.0  # omega0 ~ U(-start_omega, start_omega)
    m: float = 1.0
    l: float = 1.0
    g: float = 9.8
    dt: float = 0.02
    max_speed: float = 8.0

    @property
    def torques(self) -> np.ndarray:
        return np.linspace(-self.max_torque, self.max_torque, self.n_torques)


def wrap_angle(theta: Any) -> Any:
    """Wrap to (-pi, pi] (floats and arrays: `%` takes the divisor's sign in Python and numpy alike)."""
    return math.pi - (math.pi - theta) % (2 * math.pi)


def _clip(x: Any, lo: float, hi: float) -> Any:
    return min(max(x, lo), hi) if isinstance(x, float) else np.clip(x, lo, hi)


def pendulum_step(p: PendulumParams, theta: Any, omega: Any, tau: Any) -> tuple[Any, Any, Any]:
    """One step of the paper's dynamics, for one pendulum (floats) or many (arrays).

    Returns (theta', omega', reward); the reward is computed on the state before the step and the
    applied torque, as in Gymnasium's Pendulum.
    """
    reward = -(p.theta_weight * theta**2 + p.omega_weight * omega**2 + p.torque_weight * tau**2)
    sin = math.sin if isinstance(theta, float) else np.sin  # math is ~10x faster on one float
    theta_dd = (p.g / p.l) * sin(theta) + tau / (p.m * p.l**2)
    omega = _clip(omega + theta_dd * p.dt, -p.max_speed, p.max_speed)
    theta = wrap_angle(theta + omega * p.dt)
    return theta, omega, reward


def sample_starts(p: PendulumParams, rng: np.random.Generator, n: int) -> np.ndarray:
    """n start states (theta, omega); theta in (-start_theta, start_theta]."""
    theta = p.start_theta - rng.uniform(0.0, 2 * p.start_theta, size=n)
    omega = rng.uniform(-p.start_omega, p.start_omega, size=n)
    return np.stack([theta, omega], axis=1)


def observe(theta: Any, omega: Any) -> np.ndarray:
    if isinstance(theta, float):
        return np.array([math.cos(theta), math.sin(theta), omega], dtype=np.float32)
    return np.stack([np.cos(theta), np.sin(theta), omega], axis=-1).astype(np.float32)


class InvertedPendulumEnv(gym.Env):
    """The paper's pendulum as a Gymnasium env with discrete torques; episodes end by truncation."""

    metadata = {"render_modes": []}

    def __init__(self, **params: Any) -> None:
        self.p = PendulumParams(**params)
        if self.p.n_torques < 2:
            raise ConfigError(f"n_torques {self.p.n_torques}: need at least 2")
        self.torques = self.p.torques
        self.action_space = spaces.Discrete(self.p.n_torques)
        high = np.array([1.0, 1.0, self.p.max_speed], dtype=np.float32)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.theta = self.omega = 0.0
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options and "state" in options:
            self.theta, self.omega = (float(v) for v in options["state"])
        else:
            self.theta, self.omega = (float(v) for v in sample_starts(self.p, self.np_random, 1)[0])
        self.t = 0
        return observe(self.theta, self.omega), {}

    def step(self, action):
        tau = float(self.torques[int(action)])
        self.theta, self.omega, reward = pendulum_step(self.p, self.theta, self.omega, tau)
        self.t += 1
        return observe(self.theta, self.omega), float(reward), False, self.t >= self.p.horizon, {}


def pendulum_params(env: gym.Env) -> PendulumParams | None:
    """The parameters of the paper's pendulum inside `env`, or None for any other env."""
    inner = env.unwrapped
    # Exactly this class: a subclass may change `step`, which the vectorised twin would not see.
    return inner.p if type(inner) is InvertedPendulumEnv else None


def rollout_pendulum(p: PendulumParams, starts: np.ndarray, policy) -> np.ndarray:
    """Run one episode from each start at once (the vectorised twin); return the episode returns.

    `policy(obs[n, 3]) -> actions[n]`. Used for greedy evaluation and for the score anchors.
    """
    theta, omega = starts[:, 0].copy(), starts[:, 1].copy()
    total = np.zeros(len(starts))
    for _ in range(p.horizon):
        tau = p.torques[policy(observe(theta, omega))]
        theta, omega, reward = pendulum_step(p, theta, omega, tau)
        total += reward
    return total


def reference_policy(p: PendulumParams):
    """Energy-pumping swing-up that hands over to LQR near the top, using only the discrete torques.

    It anchors the normalised score (DESIGN.md); it is a competent controller, not an optimal one.
    """
    a, dt = p.g / p.l, p.dt
    inertia = p.m * p.l**2
    # LQR on the semi-implicit Euler linearisation about the upright, input u = tau / inertia.
    A = np.array([[1 + a * dt * dt, dt], [a * dt, 1.0]])
    B = np.array([[dt * dt], [dt]])
    Q = np.diag([p.theta_weight, p.omega_weight])
    R = np.array([[p.torque_weight * inertia**2]])
    P = Q.copy()
    for _ in range(5000):  # Riccati iteration; converges in a few hundred steps here
        K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P = Q + A.T @ P @ (A - B @ K)
    K = K[0]
    torques = p.torques

    def act(obs: np.ndarray) -> np.ndarray:
        theta = np.arctan2(obs[:, 1], obs[:, 0])
        omega = obs[:, 2].astype(float)
        energy = 0.5 * omega**2 + a * (np.cos(theta) - 1.0)  # 0 at rest upright
        direction = np.where(omega >= 0, 1.0, -1.0)
        pump = inertia * 10.0 * (-energy) * direction
        lqr = -inertia * (K[0] * theta + K[1] * omega)
        near_top = (np.abs(theta) < 0.5) & (np.abs(energy) < 2.0)
        tau = np.where(near_top, lqr, pump)
        return np.abs(tau[:, None] - torques[None, :]).argmin(axis=1)

    return act


# Normalisation anchors of other tasks' scores (1 = this return). Gymnasium's `reward_threshold`
# ("solved") where it defines one: CartPole-v1 475, Acrobot-v1 -100, MountainCar-v0 -110,
# LunarLander-v3 200. Pendulum-v1 defines none; -150 is about where well-trained agents of RL
# Baselines3 Zoo's benchmark end (returns of -140 to -170), i.e. "solved" in the same sense.
EXTRA_REFERENCE_RETURNS = {"Pendulum-v1": -150.0}


def reference_return(env_id: str) -> float | None:
    """The score that normalises to 1 on a task other than the paper's pendulum (None: unknown)."""
    env_id = resolve_env_id(env_id)
    threshold = gym.spec(env_id).reward_threshold
    return float(threshold) if threshold is not None else EXTRA_REFERENCE_RETURNS.get(env_id)


def random_policy(n_actions: int, rng: np.random.Generator):
    return lambda obs: rng.integers(n_actions, size=len(obs))


class DiscretiseActions(gym.ActionWrapper):
    """Turns a Box action space into Discrete(bins ** dims): each dimension on an even grid."""

    def __init__(self, env: gym.Env, bins: int) -> None:
        super().__init__(env)
        box = env.action_space
        grids = [np.linspace(lo, hi, bins) for lo, hi in zip(box.low.ravel(), box.high.ravel(), strict=False)]
        mesh = np.meshgrid(*grids, indexing="ij")
        self._table = np.stack([m.ravel() for m in mesh], axis=1).astype(box.dtype).reshape(-1, *box.shape)
        self.action_space = spaces.Discrete(len(self._table))

    def action(self, action):
        return self._table[int(action)]


gym.register(id=PENDULUM_ID, entry_point=InvertedPendulumEnv, disable_env_checker=True)


# `module:EnvId`, Gymnasium's own syntax: import the module (which registers the env), then make the id.
# Only dotted Python identifiers are imported: never a path, never anything else.
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def resolve_env_id(env_id: str) -> str:
    """The registered id that `env_id` names, after importing its module for `module:EnvId`; a
    ConfigError saying what was tried when the module or the id is unknown."""
    module, colon, name = env_id.rpartition(":")
    if colon:
        if not _MODULE.match(module):
            raise ConfigError(f"environment {env_id!r}: {module!r} is not a Python module name; "
                              "allowed: module:EnvId with a dotted module name, e.g. my_envs.grid:Grid-v0")
        try:
            importlib.import_module(module)
        except Exception as e:  # whatever the user's module raises on import, say what it was
            raise ConfigError(f"environment {env_id!r}: cannot import module {module!r} "
                              f"({type(e).__name__}: {e})") from None
        if name not in gym.registry:
            raise ConfigError(f"environment {env_id!r}: module {module!r} was imported but registers no env "
                              f"{name!r}; allowed: ids registered with gymnasium.register")
        return name
    if env_id not in gym.registry:
        near = [k for k in gym.registry if env_id.split("/")[-1].split("-")[0].lower() in k.lower()]
        hint = f" (did you mean {', '.join(near[:5])}?)" if near else ""
        raise ConfigError(f"unknown environment {env_id!r}{hint}; allowed: any registered Gymnasium id, "
                          f"e.g. {PENDULUM_ID}, CartPole-v1, Acrobot-v1, Pendulum-v1, or module:EnvId")
    return env_id


def make_env(env_id: str, seed: int | None = None, *, n_torques: int = 5, max_torque: float = 3.0,
             horizon: int = 200, discretise: int = 0, mass: float = 1.0, length: float = 1.0,
             **kwargs: Any) -> gym.Env:
    """Build an env with a discrete action space.

    The pendulum takes `n_torques` torques in [-max_torque, max_torque], `horizon`, `mass` and
    `length`. A continuous-action env is refused unless `discretise` gives the bins per action
    dimension.
    """
    env_id = resolve_env_id(env_id)
    if env_id == PENDULUM_ID:
        env = gym.make(env_id, n_torques=n_torques, max_torque=max_torque, horizon=horizon, m=mass, l=length,
                       **kwargs)
    else:
        env = gym.make(env_id, disable_env_checker=True, **kwargs)
        if isinstance(env.action_space, spaces.Box):
            if discretise < 2:
                raise ConfigError(f"environment {env_id!r} has continuous actions {env.action_space}; "
                                  "allowed with --discretise N (bins per action dimension, N >= 2)")
            env = DiscretiseActions(env, discretise)
        elif not isinstance(env.action_space, spaces.Discrete):
            raise ConfigError(
                f"environment {env_id!r} has action space {env.action_space}; "
                "allowed: Discrete, or Box with --discretise N"
            )
    if not (isinstance(env.observation_space, spaces.Box) and len(env.observation_space.shape) == 1):
        raise ConfigError(f"environment {env_id!r}: observations must be a flat Box, got {env.observation_space}")
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env
