"""Per-task settings presets and SB3-style `gradient_steps`."""

import importlib.util
import subprocess
import sys

import pytest

from nasdqn import REPO_ROOT
from nasdqn.agent import DQNAgent
from nasdqn.batch import load_grid
from nasdqn.cli import main
from nasdqn.config import PRESETS, ConfigError, RunConfig, config_hash_of
from nasdqn.records import read_run
from nasdqn.train import train


@pytest.mark.parametrize("gradient_steps,expected", [(1, 10), (3, 30), (-1, 80)])
def test_gradient_steps_per_training_phase(monkeypatch, gradient_steps, expected):
    calls = []
    original = DQNAgent.update
    monkeypatch.setattr(DQNAgent, "update", lambda self: calls.append(1) or original(self))
    # Training phases at the steps > 20 divisible by 8: 24, 32, ..., 96 (ten of them).
    train(RunConfig(steps=100, learning_starts=20, train_freq=8, gradient_steps=gradient_steps, eval_every=100,
                    eval_episodes=1, horizon=50))
    assert len(calls) == expected


def test_gradient_steps_at_its_default_leaves_committed_runs_valid():
    stored = RunConfig().to_dict()
    del stored["gradient_steps"]  # a run written before the option existed
    assert config_hash_of(stored) == RunConfig().config_hash
    assert RunConfig(gradient_steps=-1).config_hash != RunConfig().config_hash
    with pytest.raises(ConfigError, match="allowed -1"):
        RunConfig(gradient_steps=0)


def test_a_preset_sets_its_env_and_options_and_explicit_options_win():
    c = RunConfig.from_dict({"preset": "acrobot", "method": "fixed:relu-256x256"})
    assert c.env == "Acrobot-v1" and c.lr == 6.3e-4 and c.batch_size == 128 and c.updates_per_train == 4
    assert RunConfig.from_dict({"preset": "acrobot", "steps": 777}).steps == 777
    assert RunConfig.from_dict({"preset": "task", "env": "MountainCar-v0"}).gamma == 0.98
    # The paper's pendulum preset is the defaults: its runs hash as before.
    assert RunConfig.from_dict({"preset": "task"}).config_hash == RunConfig().config_hash


@pytest.mark.parametrize("values,match", [
    ({"preset": "nope"}, "unknown preset 'nope'; allowed: task"),
    ({"preset": "cartpole", "env": "Acrobot-v1"}, "preset cartpole is for env CartPole-v1, not Acrobot-v1"),
    ({"preset": "task", "env": "MountainCarContinuous-v0"}, "no preset for env"),
    ({"preset": 3}, "expected a name"),
])
def test_bad_presets_are_refused_with_the_choices(values, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_dict(values)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_a_valid_config_for_its_network(name):
    preset = PRESETS[name]
    config = RunConfig.from_dict({"preset": name, "method": f"fixed:{preset.net_arch}"})
    assert config.env == preset.env and preset.source
    assert all(getattr(config, k) == v for k, v in preset.options.items())


def test_grid_names_the_task_preset_once_for_every_env():
    _, cells = load_grid(REPO_ROOT / "experiments" / "competence.yaml", "/nonexistent")
    by_env = {c.config.env: c.config for c in cells}
    assert by_env["CartPole-v1"].train_freq == 256 and by_env["CartPole-v1"].steps == 50_000
    assert by_env["LunarLander-v3"].gradient_steps == -1 and by_env["MountainCar-v0"].buffer_size == 10_000


def test_bad_preset_in_a_grid_names_the_cell(tmp_path):
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\nenvs: [CartPole-v1]\nmethods: [fixed-small]\nseeds: 1\ncells:\n"
                    "  - match: {env: CartPole-v1}\n    set: {preset: acrobot}\n")
    with pytest.raises(ConfigError, match="cell CartPole-v1 fixed-small seed=0: preset acrobot is for env"):
        load_grid(grid)


def test_cli_lists_presets_and_refuses_an_unknown_one(tmp_path, capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PRESETS) and "RL Baselines3 Zoo" in out
    assert main(["train", "--preset", "cartpol", "--root", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "allowed: task" in err and not (tmp_path / "d").exists()


def test_sb3_peer_benchmark_runs_a_cell_into_a_readable_run(tmp_path):
    pytest.importorskip("stable_baselines3")
    grid = tmp_path / "g.yaml"
    grid.write_text("name: tiny\nenvs: [CartPole-v1]\nmethods: [fixed:relu-16]\nseeds: 1\nsteps: 400\n"
                    "overrides: {preset: task, eval_every: 200, eval_episodes: 2, learning_starts: 100, "
                    "train_freq: 4, gradient_steps: 2}\n")
    script = str(REPO_ROOT / "benchmarks" / "competence.py")
    done = subprocess.run([sys.executable, script, str(grid), "--root", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run = read_run(tmp_path / "runs" / "tiny-sb3" / "CartPole-v1" / "fixed_relu-16" / "seed=0")
    assert run.meta["implementation"].startswith("stable-baselines3")
    assert sorted(run.evals["step"].unique()) == [200, 400] and len(run.evals) == 4
    assert len(run.episodes) > 3 and run.anchors["reference_return"] == 475.0
    again = subprocess.run([sys.executable, script, str(grid), "--root", str(tmp_path)], capture_output=True, text=True)
    assert "1 already done, 0 to run" in again.stdout
    bad = subprocess.run([sys.executable, script, str(tmp_path / "none.yaml")], capture_output=True, text=True)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_churn_probe_script_starts():
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "churn.py"), "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "--live-every" in done.stdout


def test_agilerl_peer_script_starts_and_says_where_agilerl_lives(tmp_path):
    """The AgileRL benchmark runs in .venv-agilerl (`make agilerl-env`); in the project's environment it
    starts, documents its options, and refuses to run with one line that says what to do."""
    script = str(REPO_ROOT / "benchmarks" / "agilerl_peer.py")
    done = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--task" in done.stdout and "paper-pendulum" in done.stdout
    bad = subprocess.run([sys.executable, script, "--task", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "cartpole" in bad.stderr
    assert importlib.util.find_spec("agilerl") is None, "AgileRL belongs in .venv-agilerl, not the project's env"
    out = tmp_path / "a.parquet"
    done = subprocess.run([sys.executable, script, "--task", "cartpole", "--seeds", "0", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "make agilerl-env" in done.stderr and not out.exists()
