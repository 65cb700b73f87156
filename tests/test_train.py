import json

import numpy as np
import pandas as pd
import pytest

from nasdqn.config import ConfigError, RunConfig, config_hash_of
from nasdqn.metrics import final_performance, normalised
from nasdqn.search_space import Arch, SearchSpace
from nasdqn.train import TIMING_KEYS, train

TINY = dict(steps=1500, learning_starts=300, eval_every=500, eval_episodes=3, search_interval=1, horizon=100)


@pytest.mark.parametrize("method", ["fixed-small", "fixed-medium", "fixed-large", "fixed:tanh-16x8", "random", "nas"])
def test_every_method_runs_and_returns_tidy_tables(method):
    r = train(RunConfig(method=method, **TINY))
    assert len(r.episodes) == 15 and r.episodes["step"].is_monotonic_increasing
    assert sorted(r.evals["step"].unique()) == [500, 1000, 1500]
    assert len(r.evals) == 9 and np.isfinite(r.evals["return"]).all()
    assert r.arch_events.iloc[0]["step"] == 0
    assert set(TIMING_KEYS) <= set(r.timing) and r.timing["total"] > 0
    if method.startswith("fixed"):
        assert len(r.arch_events) == 1
    if method == "random":
        assert len(r.arch_events) > 5  # it draws a new architecture nearly every window


def test_same_config_and_seed_give_identical_tables():
    config = RunConfig(method="random", seed=7, **TINY)
    a, b = train(config), train(config)
    for t in ("episodes", "evals", "arch_events"):
        pd.testing.assert_frame_equal(getattr(a, t), getattr(b, t))
    assert a.anchors == b.anchors
    c = train(config.replace(seed=8))
    assert not c.episodes["return"].equals(a.episodes["return"])


def test_other_gymnasium_envs_work():
    r = train(RunConfig(env="CartPole-v1", steps=600, learning_starts=100, eval_every=600, eval_episodes=2))
    # Normalised against Gymnasium's "solved" return for the task.
    assert r.anchors["reference_return"] == 475.0 and 0 < r.anchors["random_return"] < 100
    r = train(RunConfig(env="Pendulum-v1", discretise=3, steps=400, learning_starts=100, eval_every=400,
                        eval_episodes=1))
    assert len(r.evals) == 1


def test_metrics_final_performance_and_normalisation():
    evals = pd.DataFrame({"step": np.repeat([1, 2, 3], 2), "return": [0, 2, 4, 6, 8, 10]})
    assert final_performance(evals, last=2) == pytest.approx((5 + 9) / 2)
    assert normalised(-500, -1000, -400) == pytest.approx(500 / 600)


@pytest.mark.parametrize("bad,match", [
    (dict(method="bogus"), "unknown method"), (dict(steps=0), "steps"), (dict(seed=-3), "seed"),
    (dict(widths=()), "widths is empty"), (dict(widths=(10**9,)), "width"), (dict(env="Nope-v9"), "unknown env"),
    (dict(method="nas", start_arch="relu-48"), "not in the search space"), (dict(ctrl_signal="magic"), "trend, raw"),
    (dict(inherit="clone"), "morph, copy, none"),
    (dict(replay_keep=0.0), "0 < replay_keep <= 1"), (dict(last_decision="later"), "apply, skip"),
    (dict(method="replay"), "needs a schedule"), (dict(schedule=("2:relu-64",)), "only by method replay"),
    (dict(method="replay", schedule=("4:relu-64", "2:relu-32")), "must increase"),
    (dict(method="replay", schedule=("2:relu-48",)), "not in the search space"),
    (dict(method="replay", schedule=("two:relu-64",)), "EPISODE:ARCH"),
    (dict(env="CartPole-v1", pendulum_mass=2.0), "applies only to env"),
    (dict(pendulum_length=0.0), r"allowed \(0, 100\]"),
    (dict(method="random", ctrl_init="x.json"), "only by method nas"),
])
def test_config_refuses_bad_values_naming_what_is_allowed(bad, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**bad)


def test_config_from_dict_refuses_unknown_keys_and_wrong_types():
    with pytest.raises(ConfigError, match="unknown option"):
        RunConfig.from_dict({"stepz": 5})
    with pytest.raises(ConfigError, match="not a valid int"):
        RunConfig.from_dict({"steps": "many"})
    with pytest.raises(ConfigError, match="not a valid int"):
        RunConfig.from_dict({"steps": True})
    assert RunConfig.from_dict({"steps": "2e4", "widths": "8,16"}).steps == 20000


def test_config_hash_is_stable_and_sensitive():
    a = RunConfig()
    assert a.config_hash == RunConfig.from_dict(a.to_dict()).config_hash
    assert a.config_hash != a.replace(lr=2e-3).config_hash


def test_config_hash_covers_only_the_options_a_method_uses():
    fixed = RunConfig(method="fixed-medium")
    assert fixed.config_hash == fixed.replace(ctrl_lr=0.1, search_interval=3, experiment="other").config_hash
    assert fixed.config_hash != fixed.replace(lr=2e-3).config_hash
    nas = RunConfig(method="nas")
    assert nas.config_hash != nas.replace(ctrl_lr=0.1).config_hash
    assert nas.config_hash != nas.replace(search_interval=3).config_hash
    rnd = RunConfig(method="random")
    assert rnd.config_hash == rnd.replace(ctrl_lr=0.1).config_hash != rnd.replace(widths=(32, 64)).config_hash
    matched = RunConfig(method="random-matched")
    assert matched.config_hash != matched.replace(switch_at=(10, 20)).config_hash


def test_a_stored_config_missing_an_option_its_method_uses_is_stale():
    stored = RunConfig(method="nas").to_dict()
    del stored["ctrl_lr"]  # as written by a version before ctrl_lr existed
    assert config_hash_of(stored) is None
    fixed = RunConfig(method="fixed-small").to_dict()
    del fixed["ctrl_lr"]  # a fixed run never used it: still valid
    assert config_hash_of(fixed) == RunConfig(method="fixed-small").config_hash


def test_a_legacy_option_at_its_default_leaves_committed_runs_valid():
    """`inherit` and `ctrl_init` were added after runs were committed, and their defaults are what
    the code did before: a stored config without them hashes as if they were at the default, and
    only a run that changes them hashes apart."""
    for method in ("nas", "random", "fixed-small"):
        config = RunConfig(method=method)
        stored = config.to_dict()
        for name in ("inherit", "replay_keep", "last_decision", "ctrl_init", "pendulum_mass", "pendulum_length"):
            del stored[name]
        assert config_hash_of(stored) == config.config_hash
    nas = RunConfig(method="nas")
    assert nas.replace(inherit="none").config_hash != nas.config_hash
    assert nas.replace(inherit="copy").config_hash != nas.config_hash
    assert nas.replace(replay_keep=0.25).config_hash != nas.config_hash
    assert nas.replace(pendulum_mass=1.5).config_hash != nas.config_hash
    # fixed runs do not search: weight inheritance cannot change them
    assert RunConfig(method="fixed-small", inherit="none").config_hash == RunConfig(method="fixed-small").config_hash


def test_without_weight_inheritance_every_switch_starts_a_fresh_network():
    r = train(RunConfig(method="random", inherit="none", seed=3, **TINY))
    switches = r.arch_events.iloc[1:]
    assert len(switches) > 3 and not switches["preserving"].any()
    assert (switches["morph_error"] > 0.05).all()  # a fresh network computes something else
    kept = train(RunConfig(method="random", seed=3, **TINY)).arch_events.iloc[1:]
    # growth keeps the function (tanh deepening approximately: error ~2e-3)
    assert kept["preserving"].any() and (kept.loc[kept["preserving"], "morph_error"] < 0.01).all()


# The paper's protocol as a third party reported it (experiments/paper-reported.yaml), made tiny.
REPORTED = dict(depths=(2, 3, 4), widths=(32, 64, 128), activations=("relu", "tanh", "leaky_relu"),
                start_arch="relu-32x32", inherit="copy", replay_keep=0.25)


def test_reported_protocol_copies_matching_layers_and_prunes_replay_at_each_change():
    seen = []

    def observer(step, agent):
        seen.append((step, agent.buffer.size))

    r = train(RunConfig(method="random", seed=1, **{**TINY, "steps": 2000, "eval_every": 100}, **REPORTED),
              observer=observer)
    switches = r.arch_events.iloc[1:]
    assert len(switches) >= 3 and not switches["preserving"].any()
    assert np.isfinite(switches["morph_error"]).all() and (switches["morph_error"] > 0).all()
    space = SearchSpace((2, 3, 4), (32, 64, 128), ("relu", "tanh", "leaky_relu"))
    assert space.size == 27 and all(space.contains(Arch.parse(a)) for a in switches["to_arch"])
    # the first change leaves the newest quarter of the buffer (it held every step so far), and the
    # buffer refills from there; the observer runs after the change of the same step
    sizes = dict(seen)
    first = int(switches["step"].iloc[0])
    assert sizes[first - 100] == first - 100 and sizes[first] == -(-first // 4)


def test_last_decision_skip_keeps_the_trained_network_for_the_final_evaluation():
    """Random search decides after every window, the last one too: with `apply` the final evaluation
    measures a network that was never trained; `skip` leaves the last step's network in place, and
    changes nothing else in the run."""
    config = RunConfig(method="random", seed=3, **TINY)
    applied, skipped = train(config), train(config.replace(last_decision="skip"))
    assert int(applied.arch_events["step"].max()) == config.steps  # the control did change at the end
    assert int(skipped.arch_events["step"].max()) < config.steps
    pd.testing.assert_frame_equal(skipped.arch_events, applied.arch_events.iloc[:-1])
    before = applied.evals["step"] < config.steps
    pd.testing.assert_frame_equal(skipped.evals[before], applied.evals[before])
    last = ~before
    final_returns = [r.evals.loc[last, "return"].to_numpy() for r in (skipped, applied)]
    assert not np.array_equal(*final_returns)


def test_transfer_run_starts_from_a_saved_controller(tmp_path):
    source = train(RunConfig(method="nas", ctrl_warmup=0.0, **TINY))
    path = tmp_path / "controller.json"
    path.write_text(json.dumps(source.controller_state))
    from nasdqn.methods import make_controller

    config = RunConfig(method="nas", ctrl_init=str(path), **TINY)
    loaded = make_controller(config, np.random.default_rng(0))
    fresh = make_controller(RunConfig(method="nas", **TINY), np.random.default_rng(0))
    np.testing.assert_allclose(loaded.posterior()[0], source.controller_state["posterior_mean"])
    assert not np.allclose(loaded.posterior()[0], fresh.posterior()[0])
    assert len(train(config).evals)  # and it trains
    # A directory: every run's observations pooled over one prior (two copies: twice the evidence).
    for seed in (0, 1):
        (tmp_path / f"seed={seed}").mkdir()
        (tmp_path / f"seed={seed}" / "controller.json").write_text(json.dumps(source.controller_state))
    path.unlink()
    pooled = make_controller(config.replace(ctrl_init=str(tmp_path)), np.random.default_rng(0))
    prior = fresh.precision
    np.testing.assert_allclose(pooled.precision - prior, 2 * (loaded.precision - prior))


def test_a_relative_transfer_path_is_found_from_the_repository_root(tmp_path, monkeypatch):
    """Grid files name paths from the repository root, but papermill runs from notebooks/."""
    from nasdqn import REPO_ROOT
    from nasdqn.controllers import read_controller_states

    monkeypatch.chdir(tmp_path)
    relative = "experiments"  # exists under the root only, and holds no controller.json
    with pytest.raises(ConfigError, match="no controller.json under"):
        read_controller_states(relative)
    assert (REPO_ROOT / relative).is_dir()  # (from tmp_path it would be "cannot read it")


@pytest.mark.parametrize("content,match", [(None, "cannot read it"), ("{}", "not a gain controller's state"),
                                           ("dir", "no controller.json under")])
def test_transfer_from_a_missing_or_wrong_file_is_refused_in_one_line(tmp_path, content, match):
    from nasdqn.train import check_runnable

    path = tmp_path / "controller.json"
    if content == "dir":
        path = tmp_path
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=match) as e:
        check_runnable(RunConfig(method="nas", ctrl_init=str(path)))
    assert "\n" not in str(e.value)


def test_pendulum_variants_change_the_dynamics_and_the_reference():
    from nasdqn.evaluation import Evaluator

    base = Evaluator(RunConfig(eval_episodes=4)).anchors()["reference_return"]
    heavy = Evaluator(RunConfig(eval_episodes=4, pendulum_mass=1.5, pendulum_length=1.2)).anchors()["reference_return"]
    assert base != heavy


def test_an_observer_that_restores_the_agent_leaves_the_run_unchanged():
    config = RunConfig(method="fixed-medium", seed=3, **TINY)
    plain = train(config)
    seen = []

    def probe(step, agent):
        saved = agent.snapshot()
        before = agent.greedy(agent.buffer.recent_states(64))
        for _ in range(20):
            agent.update()
            agent.sync_target()
        seen.append((step, bool((agent.greedy(agent.buffer.recent_states(64)) != before).any())))
        agent.restore(saved)

    probed = train(config, observer=probe)
    assert [s for s, _ in seen] == [500, 1000, 1500]
    assert any(changed for _, changed in seen)  # the probe did move the network before restoring it
    for t in ("episodes", "evals"):
        pd.testing.assert_frame_equal(getattr(plain, t), getattr(probed, t))
