import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from nasdqn.config import PENDULUM_ID, ConfigError
from nasdqn.envs import (
    InvertedPendulumEnv,
    PendulumParams,
    make_env,
    random_policy,
    reference_policy,
    rollout_pendulum,
    sample_starts,
    wrap_angle,
)


def test_registered_env_passes_gymnasium_checker():
    env = gym.make(PENDULUM_ID)
    check_env(env.unwrapped, skip_render_check=True)


def test_dynamics_match_the_papers_equations_step_by_step():
    """Integrate the paper's equations independently (plain floats) and compare every step."""
    env = InvertedPendulumEnv(n_torques=5, max_torque=3.0)
    theta, omega = 2.5, -0.7
    obs, _ = env.reset(seed=0, options={"state": (theta, omega)})
    m, l, g, dt = 1.0, 1.0, 9.8, 0.02
    torques = [-3.0, -1.5, 0.0, 1.5, 3.0]
    rng = np.random.default_rng(1)
    for t in range(200):
        a = int(rng.integers(5))
        tau = torques[a]
        expected_reward = -(theta**2 + 0.1 * omega**2 + 0.001 * tau**2)
        theta_dd = (g / l) * math.sin(theta) + tau / (m * l**2)
        omega = min(max(omega + theta_dd * dt, -8.0), 8.0)
        theta = theta + omega * dt
        theta = (theta + math.pi) % (2 * math.pi) - math.pi
        if theta == -math.pi:
            theta = math.pi
        obs, reward, terminated, truncated, _ = env.step(a)
        assert reward == pytest.approx(expected_reward, abs=1e-9)
        np.testing.assert_allclose(obs, [math.cos(theta), math.sin(theta), omega], atol=1e-5)
        assert not terminated
        assert truncated == (t == 199)


def test_wrap_angle_range_includes_pi_excludes_minus_pi():
    x = np.array([-math.pi, math.pi, 3 * math.pi, -3 * math.pi + 1e-9, 0.1, 7.0])
    w = wrap_angle(x)
    assert np.all(w > -math.pi) and np.all(w <= math.pi)
    np.testing.assert_allclose(np.cos(w), np.cos(x), atol=1e-9)
    assert wrap_angle(-math.pi) == pytest.approx(math.pi)


def test_starts_follow_the_stated_distribution():
    starts = sample_starts(PendulumParams(), np.random.default_rng(0), 20_000)
    assert starts[:, 0].min() > -math.pi and starts[:, 0].max() <= math.pi
    assert np.abs(starts[:, 1]).max() <= 1.0
    assert abs(starts[:, 0].mean()) < 0.05 and abs(np.abs(starts[:, 0]).mean() - math.pi / 2) < 0.05


def test_vectorised_twin_matches_the_env():
    p = PendulumParams()
    starts = sample_starts(p, np.random.default_rng(3), 4)
    actions = np.random.default_rng(4).integers(5, size=(p.horizon, 4))
    counter = iter(range(p.horizon))
    twin = rollout_pendulum(p, starts, lambda obs: actions[next(counter)])
    for i in range(4):
        env = InvertedPendulumEnv()
        env.reset(options={"state": starts[i]})
        total = sum(env.step(int(actions[t, i]))[1] for t in range(p.horizon))
        assert total == pytest.approx(twin[i], rel=1e-9)


def test_reference_controller_far_better_than_random():
    """The prototype measured random about -1130 and the reference about -485 (DESIGN.md)."""
    p = PendulumParams()
    starts = sample_starts(p, np.random.default_rng(100), 1000)
    rand = rollout_pendulum(p, starts, random_policy(5, np.random.default_rng(1))).mean()
    ref = rollout_pendulum(p, starts, reference_policy(p)).mean()
    assert -1250 < rand < -1050
    assert -530 < ref < -440


def test_make_env_discretises_continuous_actions():
    with pytest.raises(ConfigError, match="continuous actions.*--discretise"):
        make_env("Pendulum-v1")
    env = make_env("Pendulum-v1", seed=0, discretise=7)
    assert env.action_space.n == 7
    obs, _ = env.reset(seed=0)
    env.step(6)
    assert env.unwrapped.last_u == pytest.approx(2.0)  # the top bin is Pendulum-v1's max torque


def test_make_env_accepts_discrete_envs():
    env = make_env("CartPole-v1", seed=1)
    assert env.action_space.n == 2


def test_make_env_refuses_unknown_ids_and_unusable_spaces():
    with pytest.raises(ConfigError, match="unknown environment 'NoSuchEnv-v0'.*allowed"):
        make_env("NoSuchEnv-v0")
    with pytest.raises(ConfigError, match="observations must be a flat Box"):
        make_env("Blackjack-v1")
    with pytest.raises(ConfigError, match="action space MultiBinary.*allowed: Discrete, or Box with --discretise"):
        make_env("Test/MultiBinaryActions-v0")


class _MultiBinaryActions(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,))
    action_space = gym.spaces.MultiBinary(3)


gym.register("Test/MultiBinaryActions-v0", entry_point=_MultiBinaryActions)


# -- Gymnasium conventions -------------------------------------------------------------------------
USER_ENV = '''
import gymnasium as gym
from gymnasium import spaces
import numpy as np


class Corridor(gym.Env):
    """Walk right to the end of a short corridor."""

    observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.x = max(0, self.x + (1 if action == 1 else -1))
        done = self.x >= 5
        return np.array([self.x / 5], np.float32), float(done), done, False, {}


gym.register(id="UserCorridor-v0", entry_point=Corridor, max_episode_steps=50)
'''


def test_import_nasdqn_registers_the_paper_pendulum():
    import subprocess
    import sys

    code = f"import gymnasium as gym, nasdqn; print(gym.make({PENDULUM_ID!r}).action_space)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "Discrete(5)" in done.stdout, done.stderr


def test_module_colon_env_id_imports_the_users_module(tmp_path, monkeypatch):
    from nasdqn.cli import main
    from nasdqn.config import RunConfig
    from nasdqn.records import read_run, run_dir

    (tmp_path / "user_envs").mkdir()
    (tmp_path / "user_envs" / "__init__.py").write_text("")
    (tmp_path / "user_envs" / "corridor.py").write_text(USER_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    env = make_env("user_envs.corridor:UserCorridor-v0", seed=0)
    assert env.action_space.n == 2
    config = RunConfig(env="user_envs.corridor:UserCorridor-v0", steps=300, learning_starts=50, eval_every=300,
                       eval_episodes=2)
    out = run_dir(tmp_path / "data", config)
    assert ":" not in str(out.relative_to(tmp_path))
    assert main(["train", "--env", config.env, "--steps", "300", "--learning-starts", "50", "--eval-every", "300",
                 "--eval-episodes", "2", "--root", str(tmp_path / "data"), "--quiet"]) == 0
    assert read_run(out).config.env == config.env


@pytest.mark.parametrize("env_id,match", [
    ("no_such_module_xyz:Foo-v0", "cannot import module 'no_such_module_xyz' (ModuleNotFoundError"),
    ("json:Foo-v0", "module 'json' was imported but registers no env 'Foo-v0'"),
    ("../../etc/passwd:Foo-v0", "is not a Python module name"),
    ("os; import sys:Foo-v0", "is not a Python module name"),
    ("__import__('os').system('true'):X-v0", "is not a Python module name"),
])
def test_bad_module_env_ids_are_one_line_errors(tmp_path, capsys, env_id, match):
    from nasdqn.cli import main

    assert main(["train", "--env", env_id, "--root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert not (tmp_path / "data").exists()
