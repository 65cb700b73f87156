"""The design questions the paper leaves open: what it says, what we chose, why, and the options that
change each choice. "We chose" is filled in from `RunConfig`'s defaults (and the paper grid), so the
table shows what the runs used and cannot drift from the code; the rest is prose, stated once here.

What the paper says comes from its abstract and a public summary; where a third party reported the
paper's protocol (unverified), that is said, and `experiments/paper-reported.yaml` runs it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd
import yaml

from nasdqn import REPO_ROOT, methods
from nasdqn.config import RunConfig


@dataclass(frozen=True)
class Choice:
    topic: str
    paper: str  # what the paper says (or, marked, what a third party reported)
    chose: str  # what we chose: a template of {option} names, filled from RunConfig's defaults
    why: str
    options: tuple[str, ...]  # the RunConfig options (or grid keys) that change it


CHOICES = (
    Choice("task details",
           "A custom inverted pendulum: its dynamics (m = 1, l = 1, g = 9.8, dt = 0.02 s, angular speed "
           "clipped to ±8), the observation (cos θ, sin θ, ω) and discrete torques. Reward, torque set, "
           "horizon and start states are not stated.",
           "{n_torques} torques evenly spaced in ±{max_torque}; episodes of {horizon} steps; reward "
           "−(θ² + 0.1 ω² + 0.001 τ²); starts θ ~ U(−π, π], ω ~ U(−1, 1).",
           "The swing-up cost of Gymnasium's Pendulum. A torque of at most {max_torque} is less than "
           "m g l = 9.8, so the pendulum cannot be lifted directly: it must be swung up.",
           ("n_torques", "max_torque", "horizon", "pendulum_mass", "pendulum_length")),
    Choice("agent",
           "A DQN with the Double DQN target and the Huber loss, on minibatches from a replay buffer.",
           "Target {target}, Huber loss, Adam (learning rate {lr}), minibatch {batch_size}, buffer "
           "{buffer_size}, first update after {learning_starts} steps, target network copied every "
           "{target_update} steps, γ = {gamma}, ε from {eps_start} to {eps_end} over {eps_fraction} of "
           "the steps, gradient norm clipped at {grad_clip}.",
           "Common DQN settings for small control tasks, the same for every method and never tuned for "
           "one; the competence chapter checks the agent against Stable-Baselines3's.",
           ("target", "lr", "batch_size", "buffer_size", "learning_starts", "target_update", "gamma",
            "eps_start", "eps_end", "eps_fraction", "grad_clip")),
    Choice("search space",
           "Not stated. Reported by a third party: 27 configurations, depth 2, 3 or 4 × width 32, 64 or "
           "128 × three activations.",
           "{space}.",
           "Small enough to train every architecture on its own for a hindsight reference (the sweep), "
           "from networks too small to solve the task to ones that cost several times more per step.",
           ("depths", "widths", "activations", "layer_widths")),
    Choice("how often the architecture may change",
           "\"Periodically\". Reported: every 200 episodes.",
           "Every {search_interval} episodes ({interval_steps} steps at the default horizon).",
           "At {steps} steps ({episodes} episodes), a change every 200 episodes would leave {reported_decisions} "
           "decisions; every {search_interval} episodes gives the controller {decisions}, each window still "
           "thousands of updates long.",
           ("search_interval",)),
    Choice("weights after a change",
           "Not stated. Reported: matching weights are transferred.",
           "inherit = {inherit}: function-preserving morphing (Net2Net-style widening and deepening keep the "
           "network's function; other moves start afresh, and distill_steps = {distill_steps} distils the old "
           "network into the new one after them).",
           "A change that keeps the function keeps what was learned, so a window's score measures the new "
           "architecture rather than the cost of a restart. `copy` is the reported rule.",
           ("inherit", "distill_steps")),
    Choice("replay buffer after a change",
           "Not stated. Reported: pruned to 25%.",
           "replay_keep = {replay_keep}: every transition is kept.",
           "A transition is valid data whatever network learns from it; the reported 25% runs in the "
           "protocol chapter.",
           ("replay_keep",)),
    Choice("controller",
           "A learned NAS controller that selects architectures from performance scores (\"cumulative "
           "performance feedback\"); its algorithm is not stated.",
           "ctrl_algo = {ctrl_algo}: a Bayesian model of each move's gain beyond the score's trend, "
           "Thompson sampling over the moves one edit away ({ctrl_moves}); a REINFORCE policy is kept as "
           "ctrl_algo = reinforce.",
           "A run gives {decisions} noisy window scores: a policy gradient learns little from so few; a model "
           "of the gain per move uses each one, in units of the window-to-window noise.",
           ("ctrl_algo", "ctrl_moves", "ctrl_settle", "ctrl_history", "ctrl_prior_sd", "ctrl_move_cost",
            "ctrl_break_cost")),
    Choice("first architecture",
           "Not stated.",
           "{start_arch}.",
           "The smallest network: growing preserves the function, shrinking does not.",
           ("start_arch",)),
    Choice("fixed baselines",
           "Three fixed architectures, not named.",
           "fixed-small {fixed-small}, fixed-medium {fixed-medium}, fixed-large {fixed-large}.",
           "Small, middle and large networks of the space; the sweep adds every other architecture as a "
           "hindsight reference.",
           ("method",)),
    Choice("random-search control",
           "A random-search control, not described.",
           "random: a uniform draw from the space every window; beside it random-matched (draws at NAS-DQN's "
           "own switch times) and random-freeze (one draw, held).",
           "A draw every window changes the network up to {decisions} times a run; the two fairer controls "
           "give chance as many changes as NAS-DQN made, or none.",
           ("method",)),
    Choice("budget and seeds",
           "Not stated. Reported: three seeds.",
           "{steps} steps; {paper_seeds} seeds in the paper grid.",
           "A budget at which the fixed networks' curves should have flattened (the results chapter checks "
           "whether they did); {paper_seeds} seeds, where the paper's reported three give very wide intervals.",
           ("steps", "seeds (grid)")),
    Choice("evaluation",
           "Not stated.",
           "Greedy policy every {eval_every} steps on {eval_episodes} fixed start states (seed {eval_seed}, "
           "the same for every run); final score: mean of the last {final_evals} evaluations, normalised "
           "between a random and a reference policy.",
           "A training episode's return mostly reflects its start state; greedy returns on common starts "
           "compare runs far less noisily.",
           ("eval_every", "eval_episodes", "eval_seed", "final_evals")),
)


def _values() -> dict[str, str]:
    from nasdqn.report.setup import option_values

    defaults = RunConfig()
    episodes = defaults.steps // defaults.horizon
    grid = yaml.safe_load((REPO_ROOT / "experiments" / "paper.yaml").read_text())
    seeds = grid["seeds"]
    return {**option_values(), **methods.named_fixed(),
            "space": defaults.search_space.describe(),
            "interval_steps": f"{defaults.search_interval * defaults.horizon:,}",
            "episodes": str(episodes), "decisions": str(episodes // defaults.search_interval),
            "reported_decisions": str(episodes // 200), "eval_seed": str(defaults.eval_seed),
            "paper_seeds": str(seeds if isinstance(seeds, int) else len(seeds))}


def choices_table() -> pd.DataFrame:
    """One row per design question: the paper says / we chose / why / the option that changes it."""
    values = _values()
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    rows = []
    for c in CHOICES:
        unknown = [o for o in c.options if o not in fields and not o.endswith("(grid)")]
        if unknown:
            raise KeyError(f"choice {c.topic!r} names options that RunConfig does not have: {unknown}")
        rows.append({"question": c.topic, "the paper says": c.paper, "we chose": c.chose.format(**values),
                     "why": c.why.format(**values), "option": ", ".join(c.options)})
    return pd.DataFrame(rows).set_index("question")
