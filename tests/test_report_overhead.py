"""The overhead chapter's tables and texts, on hand-made runs and benchmark results."""

import json
from types import SimpleNamespace

import pandas as pd

from nasdqn.report import overhead


def _exp():
    metrics = pd.DataFrame([{"method": m, "seed": s, "search_share": sh, "sec_per_step": 0.002 if m == "nas" else 0.001}
                            for m, shares in (("nas", (0.001, 0.003)), ("fixed-small", (0.0, 0.0)))
                            for s, sh in enumerate(shares)])
    runs = [SimpleNamespace(config=SimpleNamespace(method=m), timing={"total": 10.0, "learn": 6.0, "env": 2.0})
            for m in ("nas", "nas", "fixed-small", "fixed-small")]
    return SimpleNamespace(metrics=metrics, runs=runs)


def test_the_overhead_table_gives_speed_and_the_search_share_per_method():
    rows, text = overhead.overhead_table(_exp(), None)
    assert list(rows.index) == ["fixed-small", "nas"]
    assert rows.loc["nas", "seconds per step as run (median)"] == "2.0 ms"
    assert rows.loc["nas", "steps per second as run (median)"] == 500 and rows.loc["nas", "max share"] == "0.300 %"
    assert "cost of the architectures trained vs relu-64x64" not in rows  # no measured costs
    assert text.startswith("NAS-DQN's controller and morphing took 0.200 % of its wall time on average")
    assert "at most 0.300 % in any run" in text


def test_time_shares_add_up_with_the_rest_as_other():
    parts = overhead.time_shares(_exp())
    assert parts.loc["nas", "learn"] == 0.6 and parts.loc["nas", "env"] == 0.2
    assert abs(parts.loc["nas", "other"] - 0.2) < 1e-12 and abs(parts.sum(axis=1) - 1).max() < 1e-12


def test_search_growth_reads_the_benchmark_and_says_when_it_is_missing(tmp_path):
    path = tmp_path / "so.json"
    path.write_text(json.dumps({"spaces": [
        {"space": "paper default (equal widths)", "architectures": 24, "ms_per_decision": 1.5,
         "share_of_paper_run": 0.0002, "peak_memory_mb": 1.0},
        {"space": "big", "architectures": 600, "ms_per_decision": 40.0, "share_of_paper_run": 0.01,
         "peak_memory_mb": 12.5}]}))
    grow, text = overhead.search_growth(path)
    assert list(grow.index) == ["paper default (equal widths)", "big"]
    assert text.startswith("At the paper's size (24 architectures) a decision costs 1.50 ms and the search 0.020 %")
    assert "at 600 architectures, 40.0 ms and 1.00 % (peak memory 12.5 MB)" in text
    assert overhead.search_growth(tmp_path / "none.json")[0].empty
