"""Do the math kernels' pins hold a run's bits when the processor changes? Emulated on one machine.

Each cell is a fresh process that trains one small run and hashes its tables (episodes, evals,
arch_events), with the pins on or off (`NASDQN_PINS=off`) and under one emulation: variables that
make the libraries take the code paths another processor would give them (torch's kernels without
AVX2; MKL restricted to AVX2 or SSE4.2, as on an older Intel processor; numpy without its AVX-512
loops, as on a processor without AVX-512; OpenBLAS's kernels for another core). A pinned run must
hash the same under every emulation; an unpinned one changes where the emulation reaches a kernel
the run uses. An emulation can be a no-op on some machines: MKL ignores MKL_ENABLE_INSTRUCTIONS on
AMD processors, numpy has no AVX-512 loops to disable on a processor without AVX-512; the report
says so (the unpinned run does not change either).

    python benchmarks/pins.py --out benchmarks/results/pins_bytes.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RUN = r'''
import hashlib, json, sys
import nasdqn  # first: it pins the math kernels before torch and numpy load
from nasdqn import kernels
from nasdqn.config import RunConfig
from nasdqn.train import train
env, method, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = train(RunConfig(env=env, method=method, seed=0, steps=steps, learning_starts=steps // 4, eval_every=steps // 4,
                    eval_episodes=3, final_evals=2, **({"search_interval": 2} if method == "nas" else {})))
digest = hashlib.sha256(b"".join(getattr(r, t).to_csv().encode() for t in ("episodes", "evals", "arch_events")))
host = kernels.describe()
print(json.dumps({"hash": digest.hexdigest()[:16], "torch": host["torch_cpu_capability"],
                  "mkl": host["mkl_branch"], "numpy": host["numpy_simd"], "openblas": host["openblas_core"]}))
'''
CASES = {"pendulum-large": ("NASDQN/InvertedPendulum-v0", "fixed-large"),
         "pendulum-nas": ("NASDQN/InvertedPendulum-v0", "nas"),
         "cartpole-medium": ("CartPole-v1", "fixed-medium")}
EMULATIONS = {
    "none": {},
    "torch without AVX2": {"ATEN_CPU_CAPABILITY": "default"},
    "MKL at AVX2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "MKL at SSE4.2": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "numpy without AVX-512": {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"},
    "OpenBLAS Sandybridge core": {"OPENBLAS_CORETYPE": "Sandybridge"},
}


def cell(case: str, emulation: str, pinned: bool, steps: int) -> dict:
    from nasdqn import kernels

    env = kernels.environ_without_pins()
    env.update(EMULATIONS[emulation])
    if not pinned:
        env["NASDQN_PINS"] = "off"
    out = subprocess.run([sys.executable, "-c", RUN, *CASES[case], str(steps)], env=env, capture_output=True,
                         text=True, check=True, cwd="/")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps per run (default 2000; at least 400)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if args.steps < 400:
        print(f"pins: --steps {args.steps}: allowed: 400 or more", file=sys.stderr)
        return 2
    from nasdqn import kernels

    rows = []
    for case in CASES:
        for pinned in (True, False):
            base = None
            for emulation in EMULATIONS:
                r = {"case": case, "pinned": pinned, "emulation": emulation,
                     **cell(case, emulation, pinned, args.steps)}
                base = base or r["hash"]
                r["changed"] = r["hash"] != base
                rows.append(r)
                print(f"{case:16s} {'pinned' if pinned else 'unpinned':8s} {emulation:26s} {r['hash']} "
                      f"{'CHANGED' if r['changed'] else 'same':7s} torch {r['torch']}, MKL {r['mkl']}, "
                      f"numpy {r['numpy']}, OpenBLAS {r['openblas']}", flush=True)
    held = all(not r["changed"] for r in rows if r["pinned"])
    reached = sorted({r["emulation"] for r in rows if not r["pinned"] and r["changed"]})
    print(f"pinned runs: {'the same bytes under every emulation' if held else 'CHANGED under an emulation'}; "
          f"emulations that change unpinned runs here: {', '.join(reached) or 'none'}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": kernels.describe(), "steps": args.steps, "cells": rows,
                                        "pinned_held": held, "emulations_reaching_unpinned": reached}, indent=1)
                            + "\n")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
