"""The claims chapter's targets table, on hand-made runs."""

from types import SimpleNamespace

import pandas as pd

from nasdqn.report import claims as C


def _run(method, wall):
    return SimpleNamespace(config=SimpleNamespace(method=method), meta={"wall_time": wall})


def test_the_nas_targets_measure_each_target_and_say_whether_it_was_met(monkeypatch):
    monkeypatch.setattr(C, "arch_costs", lambda: None)
    metrics = pd.DataFrame(
        [{"method": "nas", "seed": s, "final_score": 0.90 + 0.01 * s, "auc": 0.6, "final_arch": a,
          "search_share": 0.001 * (s + 1)} for s, a in enumerate(["relu-32", "relu-32", "tanh-64"])]
        + [{"method": "fixed-medium", "seed": s, "final_score": 0.9, "auc": 0.7, "final_arch": "relu-64",
            "search_share": 0.0} for s in range(3)])
    exp = SimpleNamespace(metrics=metrics, runs=[_run("nas", 200), _run("nas", 220), _run("nas", 240)])
    ranking = pd.DataFrame({"rank": [1, 2, 3, 4]}, index=["relu-32", "relu-64", "tanh-32", "tanh-64"])
    sweep = SimpleNamespace(metrics=pd.DataFrame({"method": "fixed:relu-32", "final_score": [0.93, 0.94, 0.95]}),
                            runs=[_run("fixed:relu-32", 3600)] * 3)
    claims = pd.DataFrame({"better / worse than": ["3 / 0 of 3", "1 / 0 of 3"], "verdict": ["reproduced", "partly"]},
                          index=["learned search beats random search (final)",
                                 "learned search beats random search (AUC)"])
    out = C.nas_targets(exp, claims, (sweep, ranking))
    assert out.loc["final score within 0.02 of the hindsight best (relu-32)", "measured"].startswith("-0.030")
    assert not out.loc["final score within 0.02 of the hindsight best (relu-32)", "met"]
    assert not out.loc["AUC at least fixed-medium's", "met"]
    cost = "one NAS-DQN run 220 s vs sweep 3.0 h: ratio 0.0204"
    assert out.loc["total cost far below the sweep's", "measured"] == cost
    rank = "final architecture in the hindsight top quarter (rank <= 1) in most seeds"
    assert out.loc[rank, "measured"] == "2 of 3 seeds"
    assert out.loc["beats every random control with Holm-corrected significance: final", "met"]
    assert not out.loc["beats every random control with Holm-corrected significance: AUC", "met"]
    assert out.loc["controller and morphing under 2% of wall time", "measured"] == "max 0.300 % over runs"
    assert C.nas_targets(SimpleNamespace(metrics=metrics[metrics.method != "nas"], runs=[]), claims, None).empty
