"""The setup, methods and choices chapters: grids, configurations, provenance, the math kernels' pins
and the settings presets."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nasdqn import REPO_ROOT
from nasdqn.records import RunResult
from nasdqn.report.format import method_order
from nasdqn.report.load import data_root, grid_names


def grid_table(results: list[RunResult]) -> pd.DataFrame:
    rows = [{"env": r.config.env, "method": r.config.method, "seed": r.config.seed, "steps": r.config.steps,
             "wall_time_s": r.meta.get("wall_time")} for r in results]
    df = pd.DataFrame(rows)
    table = df.groupby(["env", "method"], sort=False).agg(
        seeds=("seed", "nunique"), steps=("steps", "max"), median_wall_time_s=("wall_time_s", "median"))
    order = {m: i for i, m in enumerate(method_order(df["method"]))}
    return table.sort_index(key=lambda idx: idx.map(order) if idx.name == "method" else idx).round(1)


def config_tables(results: list[RunResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Options equal in every run (option, value), and the others per method (method x option)."""
    configs = pd.DataFrame([{k: str(v) for k, v in r.config.to_dict().items()} for r in results])
    per_run = {"experiment", "env", "method", "seed"}
    same = [c for c in configs.columns if c not in per_run and configs[c].nunique() == 1]
    differ = [c for c in configs.columns if c not in per_run and c not in same]
    common = pd.DataFrame({"option": same, "value": [configs[c].iloc[0] for c in same]}).set_index("option")
    varying = configs.groupby("method")[differ].agg(lambda s: ", ".join(sorted(set(s)))) if differ else \
        pd.DataFrame(index=pd.Index(sorted(configs["method"].unique()), name="method"))
    return common, varying


def provenance_table(results: list[RunResult]) -> pd.DataFrame:
    rows = [{**r.meta.get("versions", {}), "git_commit": (r.meta.get("git_commit") or "")[:10],
             "cpus": r.meta.get("host", {}).get("cpus")} for r in results]
    # a library older runs did not record shows as such, not as "nan"
    df = pd.DataFrame(rows).fillna("not recorded").astype(str)
    return df.value_counts().rename("runs").reset_index()


def processor_table(root: Path | None = None) -> pd.DataFrame:
    """Per committed experiment: its runs, how many were made under the math kernels' pins
    (`nasdqn.kernels`; bit for bit reproducible on any x86-64 processor with AVX2), and the
    processors its runs were made on (from each `ok` run's meta.json; older runs recorded none)."""
    rows = []
    for meta_path in sorted((root or data_root()).glob("runs/*/*/*/seed=*/meta.json")):
        meta = json.loads(meta_path.read_text())
        if meta.get("status") != "ok":
            continue
        host = meta.get("host") if isinstance(meta.get("host"), dict) else {}  # the oldest runs: a host name
        kind = host.get("cpu_model") or "not recorded"
        if host.get("avx512") is not None:
            kind += ", AVX-512" if host["avx512"] else ", no AVX-512"
        rows.append({"experiment": meta_path.parts[-5], "pinned": host.get("pinned") is True, "processor": kind})
    if not rows:
        return pd.DataFrame(columns=["runs", "pinned runs", "processors"])
    runs = pd.DataFrame(rows)
    return runs.groupby("experiment").agg(**{"runs": ("pinned", "size"), "pinned runs": ("pinned", "sum"),
                                            "processors": ("processor", lambda p: "; ".join(sorted(set(p))))})


def verification_table(folder: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The committed `nasdqn verify` reports (`data/verify/*.csv`): one row per check (its runs, how many
    reproduced bit for bit, and of the methods that differ how many agree, disagree or could not be
    judged, and by which interval), and per check and method the runs that differ and by how much."""
    rows, differing = [], []
    for path in sorted((folder or REPO_ROOT / "data" / "verify").glob("*.csv")):
        r = pd.read_csv(path)
        row = {"check": path.stem, "runs": len(r), "bit for bit": int(r["identical"].sum()),
               "regenerated on": "; ".join(sorted(set(r["host_new"].dropna()))),
               "committed runs made on": "; ".join(sorted(set(r["host_old"].dropna())))}
        if "agrees" in r:  # reports written before verify recorded its judgment lack it
            methods = r[~r["identical"]].drop_duplicates(["env", "method"])
            judged = methods["agrees"].map({True: "agree", False: "disagree"}).fillna("cannot judge")
            row["methods that differ"] = ", ".join(
                f"{n} {word}" + (f" ({', '.join(sorted(set(methods.loc[judged == word, 'judged_by'].dropna())))})"
                                 if word != "cannot judge" else "")
                for word, n in judged.value_counts().items()) or "none"
        rows.append(row)
        differing.append(r.loc[~r["identical"]].assign(check=path.stem))
    table = pd.DataFrame(rows).set_index("check").fillna("") if rows else pd.DataFrame()
    if not differing or not sum(len(d) for d in differing):
        return table, pd.DataFrame()
    runs = pd.concat(differing, ignore_index=True)
    return table, runs.groupby(["check", "env", "method"], sort=False).agg(
        **{"runs that differ": ("seed", "size"),
           "largest evaluation-return difference": ("largest_eval_difference", "max")}).round(1)


SAMPLE_PREFIX = "sample-"  # data/verify/sample-<experiment>.csv: `nasdqn verify --sample` of that grid


def unsampled_text(checks: pd.DataFrame, root: Path | None = None) -> str:
    """The experiments neither regenerated under the pins nor checked by a committed sample, each with
    what one seed of it cost as run (total CPU over seeds, from its runs' timing.json)."""
    pinned = processor_table(root)
    regenerated = set(pinned.index[pinned["pinned runs"] == pinned["runs"]])
    sampled = {c.removeprefix(SAMPLE_PREFIX) for c in checks.index if c.startswith(SAMPLE_PREFIX)}
    left = [n for n in grid_names("") if n not in regenerated | sampled]
    if not left:
        return "Every grid was regenerated or sampled."
    costs = []
    for name in left:
        timings = [json.loads(t.read_text())["total"]
                   for t in (root or data_root()).glob(f"runs/{name}/*/*/seed=*/timing.json")]
        seeds = {t.name for t in (root or data_root()).glob(f"runs/{name}/*/*/seed=*")}
        costs.append(f"`{name}` ({sum(timings) / max(len(seeds), 1) / 3600:.2f})")
    return (f"Not sampled yet, for want of CPU ({len(left)} grids; CPU-hours for one seed as run): "
            + ", ".join(costs) + ".")


ESCALATED_PREFIX = "escalated-"  # data/verify/escalated-<experiment>.csv: a flagged sample, every seed
CHANCE_OUTSIDE = 1 - 0.95 ** 2  # a method is judged on two metrics, each by a 95% interval


def sample_text(folder: Path | None = None) -> str:
    """What the committed samples found: per method sampled, bit for bit, inside or outside the
    prediction interval of the other seeds, or not judged; how many would fall outside by chance; and
    the verdict of every flagged grid regenerated at all its seeds (Welch's interval)."""
    folder = folder or REPO_ROOT / "data" / "verify"
    samples = sorted(folder.glob(f"{SAMPLE_PREFIX}*.csv"))
    if not samples:
        return "No sample has been committed yet."
    rows = pd.concat([pd.read_csv(p).assign(grid=p.stem.removeprefix(SAMPLE_PREFIX)) for p in samples],
                     ignore_index=True).drop_duplicates(["grid", "env", "method"])
    identical = rows["identical"].astype(bool)
    judged = rows[~identical]
    outside = judged[judged["agrees"].eq(False)]
    unjudged = judged[judged["agrees"].isna()]
    n_judged = len(judged) - len(unjudged)
    named = ", ".join(f"`{g}` {m}" for g, m in outside[["grid", "method"]].to_numpy())
    text = (f"The samples cover {len(samples)} grids and {len(rows)} (env, method) cells, one pinned run each: "
            f"{int(identical.sum())} reproduced bit for bit, {int(judged['agrees'].eq(True).sum())} lie within the "
            f"95% prediction interval of their grid's other seeds, {len(outside)} outside it"
            + (f" ({named})" if len(outside) else "")
            + (f", and {len(unjudged)} could not be judged (fewer than 3 other seeds)" if len(unjudged) else "")
            + ". Each cell is judged on two measures at 95%, so even if every regenerated run came from the "
            f"committed runs' distribution, about {CHANCE_OUTSIDE:.0%} would fall outside by chance: about "
            f"{CHANCE_OUTSIDE * n_judged:.1f} of these {n_judged}.")
    for path in sorted(folder.glob(f"{ESCALATED_PREFIX}*.csv")):
        r = pd.read_csv(path)
        agrees = r.drop_duplicates(["env", "method"])["agrees"]
        text += (f" `{path.stem.removeprefix(ESCALATED_PREFIX)}`, flagged, was regenerated at all {len(r)} seeds: "
                 + ("its methods agree with the committed runs within Welch's 95% interval." if agrees.eq(True).all()
                    else "it does not agree within Welch's 95% interval."))
    return text


def pins_evidence_text(path: Path | None = None) -> str:
    """What `benchmarks/pins.py` measured: whether pinned runs kept their bytes under every emulation
    of another processor, and which emulations changed the unpinned runs, on which machine."""
    path = path or REPO_ROOT / "benchmarks" / "results" / "pins_bytes.json"
    if not path.exists():
        return "The emulation check (`benchmarks/pins.py`) has not been run yet."
    d = json.loads(path.read_text())
    cells = pd.DataFrame(d["cells"])
    pinned, unpinned = cells[cells["pinned"]], cells[~cells["pinned"]]
    emulations = [e for e in dict.fromkeys(cells["emulation"]) if e != "none"]
    inert = [e for e in emulations if not unpinned.loc[unpinned["emulation"] == e, "changed"].any()]
    m = d["machine"]
    emulated = pinned[pinned["emulation"] != "none"]
    return (f"On one {m['cpu_model']} ({m['cpu_vendor']}, {'with' if m['avx512'] else 'no'} AVX-512), "
            f"{cells['case'].nunique()} small runs ({', '.join(cells['case'].unique())}; {d['steps']} steps), "
            f"each under {len(emulations)} emulations of another processor ({', '.join(emulations)}): the pinned "
            f"runs kept their bytes in {int((~emulated['changed']).sum())} of {len(emulated)} (run, emulation) "
            f"cells; the unpinned runs changed under {', '.join(d['emulations_reaching_unpinned']) or 'none'}"
            + (f", and not under {', '.join(inert)}, which on this machine reach no kernel these runs use"
               if inert else "") + ".")


# benchmarks/versions.py's case names; a case not listed (the search methods) is shown by its name
PINS_COST_CASES = {"pendulum": "fixed-medium on the pendulum", "cartpole": "fixed-medium on CartPole",
                   "large": "fixed-large on the pendulum"}


def pins_cost_text(path: Path | None = None) -> str:
    """Pinned over unpinned steps per CPU-second, per case measured (`benchmarks/versions.py`)."""
    path = path or REPO_ROOT / "benchmarks" / "results" / "pins_speed.json"
    if not path.exists():
        return "not measured yet."
    cases = json.loads(path.read_text())["cases"]
    return "; ".join(f"{PINS_COST_CASES.get(c, c)} runs at {r['ratio_of_medians']:.2f}x the unpinned speed"
                     for c, r in cases.items()) + (
        " (MKL's COMPATIBLE path does without AVX2 in matrix products: the larger the network, the more it costs).")


def preset_table() -> pd.DataFrame:
    """Every settings preset as a column: its env, the options it sets (blank: the RunConfig
    default) and the network it was tuned for; `preset_sources` says where each comes from."""
    from nasdqn.config import PRESETS, RunConfig

    defaults = RunConfig().to_dict()
    names = list(dict.fromkeys(k for p in PRESETS.values() for k in p.options))
    rows = {"env": {n: p.env for n, p in PRESETS.items()}}
    for option in names:
        rows[option] = {n: p.options.get(option, "") for n, p in PRESETS.items()}
    rows["tuned for"] = {n: p.net_arch for n, p in PRESETS.items()}
    table = pd.DataFrame(rows).T
    table.insert(0, "default", [defaults.get(o, "") for o in table.index])
    return table


def preset_sources() -> str:
    """One Markdown line per preset: its name, env and source."""
    from nasdqn.config import PRESETS

    return "\n".join(f"- `{n}` ({p.env}): {p.source}." for n, p in PRESETS.items())


def option_values() -> dict[str, str]:
    """Every `RunConfig` option's default, and every metric constant of `nasdqn.metrics`, as the text
    the methods chapter shows inline (so no value there is typed by hand)."""
    import dataclasses

    from nasdqn import metrics
    from nasdqn.config import RunConfig

    def text(v) -> str:
        if isinstance(v, tuple):
            return ", ".join(text(x) for x in v) if v else "none"
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000:
            return f"{v:,}"
        return str(v) if v != "" else "empty"

    out = {f.name: text(f.default) for f in dataclasses.fields(RunConfig)}
    for name in ("SMOOTH", "THRESHOLD", "EARLY_FRACTION", "BAND", "FINAL_FRACTION", "CVAR_ALPHA"):
        out[name] = text(getattr(metrics, name))
    return out
