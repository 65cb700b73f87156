"""The method registry and the house around it: every method declared once, asked everywhere else;
the layer contract; one error per bad option."""

import ast
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nasdqn import REPO_ROOT, methods
from nasdqn.config import ConfigError, RunConfig, config_hash_of, option_scope
from nasdqn.controllers import Feedback, HalvingController, RandomHalvingController
from nasdqn.search_space import Arch
from nasdqn.train import train

PACKAGE = REPO_ROOT / "nasdqn"
TINY = dict(steps=600, learning_starts=100, eval_every=300, eval_episodes=2, horizon=100)


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    """Every string literal of a module except docstrings (prose may name methods)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings]


def test_no_module_outside_the_registry_names_a_method():
    names = {m.name for m in methods.entries()}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "methods.py":
            continue
        for node in _string_constants(ast.parse(path.read_text())):
            if node.value in names or node.value.startswith(methods.FIXED_PREFIX):
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {node.value!r}")
    assert found == [], "ask nasdqn.methods instead of naming a method:\n" + "\n".join(found)


def test_the_method_string_check_would_see_a_method_named_in_code():
    tree = ast.parse('"""A docstring naming nas is prose."""\nif method == "nas":\n    arch = f"fixed:{x}"\n')
    values = [n.value for n in _string_constants(tree)]
    assert "nas" in values and "fixed:" in values and not any("prose" in v for v in values)


@pytest.mark.parametrize("entry", [m for m in methods.entries() if m.build is not None], ids=lambda m: m.name)
def test_every_runnable_method_builds_its_controller_from_a_config(entry):
    extra = {"schedule": ("2:relu-64",)} if entry.copies == "schedule" else {}
    if entry.family == methods.POPULATION:
        extra.update(halving_rungs=(300,), halving_keep=(1,), depths=(1,), widths=(32, 64), activations=("relu",),
                     race_size=2, race_deadline=0.5)
    config = RunConfig(method=entry.name, **TINY, **extra)
    controller = methods.make_controller(config, np.random.default_rng(0))
    if entry.family == methods.POPULATION:
        assert controller.checkpoints == (300,)  # halving's one rung; racing's deadline, half of 600 steps
        assert [str(a) for a in entry.candidates(config)] == ["relu-32", "relu-64"]
    else:
        assert config.search_space.contains(controller.initial()) or entry.family == methods.FIXED
    assert config_hash_of(config.to_dict()) == config.config_hash


def test_the_registry_answers_what_modules_used_to_hard_code():
    assert methods.named_fixed() == {"fixed-small": "relu-32", "fixed-medium": "relu-64x64",
                                     "fixed-large": "relu-256x256x256"}
    assert methods.random_controls() == ("random", "random-matched", "random-freeze", "halving-random",
                                         "racing-random")
    assert methods.paper_baselines() == ("fixed-small", "fixed-medium", "fixed-large", "random")
    assert methods.order(["zeta", "nas", "replay", "fixed-large", "halving"]) == [
        "fixed-large", "nas", "halving", "replay", "zeta"]  # listed ones first, the rest by name
    assert methods.get("fixed:tanh-64x64").arch == "tanh-64x64" and methods.is_fixed("fixed:tanh-64x64")
    assert methods.is_population("halving-random") and not methods.is_population("nas")
    assert methods.users_of(methods.MATCHED) == ("random-matched",)
    with pytest.raises(ConfigError, match="unknown method 'dqn'; allowed: fixed-small, fixed-medium, fixed-large, "
                                          "fixed:<arch>, random"):
        methods.get("dqn")
    with pytest.raises(ConfigError, match="is a peer measured by a benchmark, not run by nasdqn"):
        RunConfig(method=methods.AGILERL)


def test_a_new_method_is_one_registry_entry(monkeypatch, tmp_path):
    """The README's worked example: a controller that widens every window, registered once, runs
    through RunConfig, hashing, a grid and the training loop with no other change."""
    from nasdqn.batch import load_grid

    class WidenEveryWindow:
        def __init__(self, space, start):
            self.space, self.arch = space, start

        def initial(self):
            return self.arch

        def propose(self, feedback: Feedback):
            wider = [a for a in self.space.neighbours(feedback.arch)
                     if a.depth == feedback.arch.depth and a.widths[0] > feedback.arch.widths[0]]
            return wider[0] if wider else None

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

        def diagnostics(self):
            return {}

    entry = methods.Method("widen", methods.SEARCH, "widen every window", uses=frozenset({"run", "search"}),
                           build=lambda c, rng, io: WidenEveryWindow(c.search_space, Arch.parse(c.start_arch)))
    monkeypatch.setitem(methods._REGISTRY, "widen", entry)
    config = RunConfig(method="widen", search_interval=1, **TINY)
    result = train(config)
    assert list(result.arch_events["to_arch"])[:3] == ["relu-32", "relu-64", "relu-128"]
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\nenvs: [NASDQN/InvertedPendulum-v0]\nmethods: [widen]\nseeds: 1\nsteps: 600\n")
    assert load_grid(grid, tmp_path)[1][0].config.method == "widen"
    assert "widen (widen every window)" in methods.describe()


# -- options: each one's own rule, rules between options in the registry -----------------------------
BAD = {  # option: a value its own rule refuses
    "experiment": "bad name!", "env": "Nope-v9", "method": "bogus", "seed": -3, "steps": 0, "n_torques": 1,
    "discretise": 1, "max_torque": 0.0, "horizon": 0, "pendulum_mass": 0.0, "pendulum_length": 101.0, "lr": 1.0,
    "gamma": 1.5, "batch_size": 0, "buffer_size": 10, "learning_starts": -1, "train_freq": 0,
    "gradient_steps": 0, "target_update": 0, "eps_start": 2.0, "eps_end": -0.1, "eps_fraction": 1.5,
    "grad_clip": 0.0, "target": "soft", "eval_every": 0, "eval_episodes": 0, "eval_seed": -1, "final_evals": 0,
    "start_arch": "relu", "layer_widths": "mixed", "search_interval": 0, "inherit": "clone", "replay_keep": 0.0,
    "last_decision": "later", "distill_steps": -1, "switch_at": (3, 2), "schedule": ("two:relu-64",),
    "schedule_from": "no/such", "schedule_offset": -1, "halving_rungs": (1000, 500), "halving_keep": (2, 2),
    "halving_score": "best", "selection_seed": -1, "ctrl_algo": "magic", "ctrl_settle": 0, "ctrl_history": 0,
    "ctrl_warmup": 1.0, "ctrl_prior_sd": 0.0, "ctrl_move_cost": -1.0, "ctrl_late_break": -1.0, "ctrl_lr": 0.0,
    "ctrl_entropy": -1.0, "ctrl_baseline": 0.0, "ctrl_break_cost": -1.0, "ctrl_sharpen": 101.0,
    "ctrl_signal": "magic", "ctrl_moves": "far", "ctrl_cost_weight": -1.0, "threads": 0,
    "race_candidates": ("relu-32", "relu-32"), "race_size": 1, "race_deadline": 1.0, "race_confidence": 0.0,
    "race_score": "best",
}


def test_every_option_with_a_rule_has_a_bad_value_here():
    ruled = {f.name for f in dataclasses.fields(RunConfig) if f.metadata.get("check") is not None}
    assert ruled == set(BAD)


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_option_refuses_its_bad_values_in_one_line_naming_it(name):
    with pytest.raises(ConfigError) as e:
        RunConfig(**{name: BAD[name]})
    message = str(e.value)
    assert "\n" not in message
    shown = {"method": "method", "env": "environment", "start_arch": "architecture", "schedule": "schedule entry"}
    assert shown.get(name, name) in message
    assert any(word in message for word in ("allowed", "must", "use 1-64", "expected", "increasing", "a grid name",
                                            "of the form")), \
        message


@pytest.mark.parametrize("f", [f for f in dataclasses.fields(RunConfig) if f.metadata.get("exclusive")],
                         ids=lambda f: f.name)
def test_an_option_set_for_a_method_that_does_not_use_it_is_refused(f):
    value = {"switch_at": (2,), "schedule": ("2:relu-64",), "schedule_from": "paper", "schedule_offset": 1,
             "ctrl_init": "x.json"}[f.name]
    users = methods.users_of(option_scope(f))
    with pytest.raises(ConfigError, match=f"^{f.name} is used only by method {', '.join(users)}$"):
        RunConfig(method="fixed-small", **{f.name: value})


@pytest.mark.parametrize("method,values,match", [
    ("nas", {"start_arch": "relu-48"}, "start_arch relu-48 is not in the search space"),
    ("nas", {"ctrl_init": "x.json", "ctrl_algo": "reinforce"}, "used only by method nas with ctrl_algo gain"),
    ("replay", {}, "needs a schedule"),
    ("replay", {"schedule": ("2:relu-48",)}, "schedule entry 2:relu-48 is not in the search space"),
    ("halving", {"halving_keep": (1,)}, "one kept count per rung"),
    ("halving", {"halving_rungs": (500, 100_000, 200_000), "steps": 200_000}, "before the end of the run"),
    ("halving", {"halving_keep": (24, 6, 1)}, "fewer than the 24 candidates of the search space; allowed: 1..23"),
    ("halving-random", {"selection_seed": 12_345}, "not eval_seed"),
    ("racing", {"race_size": 25}, r"race_size 25: allowed 2..24 \(the candidates on offer\)"),
    ("racing", {"race_candidates": ("relu-32", "tanh-64"), "race_size": 3}, "race_size 3: allowed 2..2"),
    ("racing", {"race_candidates": ("relu-48", "relu-32")}, "race_candidates: relu-48 is not in the search space"),
    ("racing-random", {"race_deadline": 0.01}, r"no evaluation before it .*; allowed 0.025..<1"),
    ("racing", {"selection_seed": 12_345}, "not eval_seed"),
])
def test_rules_between_options_live_in_the_entry_of_the_method_they_concern(method, values, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(method=method, **values)
    if method != "nas":  # the same values are harmless for a method the rule does not concern
        other = {k: v for k, v in values.items() if k not in ("schedule",)}
        RunConfig(method="fixed-small", **other)


# -- successive halving's decision rule -------------------------------------------------------------
def test_halving_deploys_the_best_so_far_and_breaks_ties_by_the_spaces_order():
    rule = HalvingController((10, 20), (2, 1), "recent")
    scores = {"a": [1.0, 2.0], "b": [3.0, 0.0], "c": [0.0, 1.5]}
    assert rule.deployed(scores, ["a", "b", "c"], None) == "a"  # recent means 1.5, 1.5, 0.75: a is listed first
    assert rule.deployed(scores, ["b", "a", "c"], "a") == "b"  # the same tie, b listed first
    assert rule.survivors(10, scores, ["a", "b", "c"]) == ["a", "b"]
    assert rule.survivors(15, scores, ["a", "b", "c"]) == ["a", "b", "c"]  # not a rung: nobody is cut
    recent = {"a": [9.0, 0.0, 0.0, 0.0], "b": [1.0]}
    assert rule.deployed(recent, ["a", "b"], None) == "b"  # the last 3 evaluations only
    assert HalvingController((10,), (1,), "auc").deployed(recent, ["a", "b"], None) == "a"  # all of them


def test_the_random_control_keeps_its_deployed_candidate_until_it_is_cut():
    rule = RandomHalvingController((10,), (1,), np.random.default_rng(0))
    scores = {"a": [0.0], "b": [9.0], "c": [5.0]}
    first = rule.deployed(scores, ["a", "b", "c"], None)
    assert all(rule.deployed(scores, ["a", "b", "c"], first) == first for _ in range(20))
    survivor = rule.survivors(10, scores, ["a", "b", "c"])
    assert len(survivor) == 1 and rule.deployed(scores, survivor, first) == survivor[0]


def test_a_halving_run_deploys_its_survivor_and_reports_it():
    config = RunConfig(method="halving", depths=(1,), widths=(32, 64), activations=("relu", "tanh"),
                       halving_rungs=(300, 600), halving_keep=(2, 1), steps=900, learning_starts=100,
                       eval_every=300, eval_episodes=2, horizon=100)
    r = train(config)
    c = {row["arch"]: row for row in r.controller_state["candidates"]}
    survivor = [a for a, row in c.items() if pd.isna(row["cut_at"])]
    assert len(survivor) == 1 and c[survivor[0]]["deployed"]
    assert r.evals[r.evals["step"] == 900]["arch"].unique().tolist() == survivor
    assert r.arch_events["to_arch"].iloc[-1] == survivor[0]


# -- the layer contract ---------------------------------------------------------------------------
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_the_layer_contract_holds_and_would_catch_an_import_that_climbs(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "nasdqn", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")

    def lint() -> subprocess.CompletedProcess:
        return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                              env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)

    clean = lint()
    assert clean.returncode == 0 and "3 kept, 0 broken" in clean.stdout, clean.stdout + clean.stderr
    config = tmp_path / "nasdqn" / "config.py"
    config.write_text(config.read_text() + "\nfrom nasdqn import train  # noqa\n")
    broken = lint()
    assert broken.returncode != 0 and "nasdqn.config -> nasdqn.train" in broken.stdout
