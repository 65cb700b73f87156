"""Peers: our DQN beside Stable-Baselines3 (competence) and AgileRL's evolutionary search."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nasdqn import REPO_ROOT, analysis
from nasdqn import methods as registry
from nasdqn import stats as S
from nasdqn.report.format import ci_text
from nasdqn.report.load import Experiment, score_table
from nasdqn.stats import bootstrap_ci

COMPETENCE_EXPERIMENT, PEER_SUFFIX = "competence", "-sb3"


# -- AgileRL, a peer (benchmarks/agilerl_peer.py) -------------------------------------------------------
AGILERL_RESULTS = REPO_ROOT / "benchmarks" / "results" / "agilerl.parquet"


def load_agilerl() -> tuple[pd.DataFrame, dict] | None:
    """AgileRL's rounds (every agent, every round) and the settings it ran with; None if not run."""
    import json

    settings = AGILERL_RESULTS.with_name("agilerl.json")
    if not AGILERL_RESULTS.exists() or not settings.exists():
        return None
    return pd.read_parquet(AGILERL_RESULTS), json.loads(settings.read_text())


def agilerl_answer(paper: Experiment, elite: pd.DataFrame, population: int) -> str:
    """AgileRL's elite against NAS-DQN on the paper's pendulum: at the end of training (its last
    round against NAS-DQN's final score, Welch), at the last step count both were evaluated at, and
    the CPU-seconds of a run."""
    pend = elite[elite["task"] == "paper-pendulum"]
    last = pend[pend["round"] == pend["round"].max()]
    theirs = last["score"].to_numpy(dtype=float)
    nas = paper.metrics[paper.metrics["method"] == registry.NAS]
    mine = nas["final_score"].to_numpy(dtype=float)
    if len(theirs) < 2 or len(mine) < 2:
        return f"AgileRL has {len(theirs)} finished seed(s) on the pendulum: too few to compare."
    d, dlo, dhi = S.welch_difference_ci(mine, theirs)
    words = "ahead of" if dhi < 0 else "behind" if dlo > 0 else "not distinguishable from"
    text = (f"**On the paper's pendulum, AgileRL's elite is {words} NAS-DQN at the end of training** (NAS-DQN minus "
            f"AgileRL {ci_text(d, dlo, dhi)}, Welch). After {int(last['total_steps'].iloc[0]):,} environment steps "
            f"of its population of {population}, its best agent scores {ci_text(*S.t_ci(theirs))} ({len(theirs)} "
            f"seeds), against NAS-DQN's final {ci_text(*bootstrap_ci(mine))} after {int(nas['steps'].max()):,} steps")
    eq = analysis.at_equal_steps(score_table([r for r in paper.runs if r.config.method == registry.NAS]), pend,
                                 registry.NAS)
    peer = eq[eq["method"] == analysis.AGILERL].sort_values("step")
    if len(peer) and "ref_minus_agilerl" in peer and np.isfinite(peer["ref_minus_agilerl"].iloc[-1]):
        row = peer.iloc[-1]
        text += (f"; at {int(row['step']):,} steps, where both were evaluated, NAS-DQN minus AgileRL is "
                 f"{ci_text(row['ref_minus_agilerl'], row['diff_low'], row['diff_high'])}")
    cpu = float(last["cpu_s"].median())
    nas_cpu = float((nas["sec_per_step"] * nas["steps"]).median())
    return text + (f". A run costs a median {cpu:,.0f} CPU-seconds against NAS-DQN's {nas_cpu:,.0f} wall-clock "
                   f"seconds on one core (as run; the machine was shared).")
