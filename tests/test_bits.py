"""The reproducibility contract, checked on whatever machine runs the tests: one committed pinned run of
every method family (experiments/bits.yaml) is regenerated and must be identical, byte for byte, to the
committed one, wherever that was made (its meta says on what processor)."""

import json
import subprocess
import sys

import pandas as pd

from nasdqn import REPO_ROOT, kernels, methods
from nasdqn.batch import load_grid

BITS = REPO_ROOT / "experiments" / "bits.yaml"


def test_the_bits_grid_holds_one_pinned_run_of_every_family_nasdqn_runs():
    _, cells = load_grid(BITS)
    families = {methods.get(c.config.method).family for c in cells}
    runnable = {methods.get(name).family for name in methods.runnable_names() if name != methods.FIXED_PATTERN}
    assert families == runnable
    for cell in cells:
        meta = json.loads((cell.out / "meta.json").read_text())
        assert meta["status"] == "ok" and meta["host"]["pinned"], cell.out


def test_every_family_regenerates_bit_for_bit_on_this_machine(tmp_path):
    env = kernels.environ_without_pins()  # a tester's NASDQN_PINS=off cannot weaken the check
    report = tmp_path / "bits.csv"
    done = subprocess.run([sys.executable, "-m", "nasdqn", "verify", str(BITS), "--into", str(tmp_path / "again"),
                           "--workers", "2", "--quiet", "--report", str(report)],
                          env=env, capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_csv(report)
    _, cells = load_grid(BITS)
    assert len(table) == len(cells)
    differing = table.loc[~table["identical"], ["method", "differing_tables"]]
    assert differing.empty, f"not bit for bit on this machine:\n{differing}\n{done.stdout}"
    assert f"{len(cells)} of {len(cells)} runs reproduced bit for bit" in done.stdout
