"""`nasdqn` command line. Every run option, its default and its help come from `RunConfig`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from nasdqn.config import PRESETS, TASK_PRESET, ConfigError, RunConfig, option_fields

EXIT_BAD_INPUT = 2


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run options (defaults from nasdqn.config.RunConfig)")
    group.add_argument("--preset", default=None, metavar="PRESET",
                       help=f"per-task settings: {TASK_PRESET} (the env's own) or one of {', '.join(PRESETS)}; "
                       "options given explicitly override the preset's (see `nasdqn presets`)")
    for f in option_fields():
        default = f.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(_flag(f.name), dest=f.name, default=None, metavar=f.name.upper(),
                           # argparse %-formats help texts: a literal % (e.g. "25%") must be doubled
                           help=f"{f.metadata['help']} (default: {shown})".replace("%", "%%"))


def config_from_args(args: argparse.Namespace) -> RunConfig:
    given = {f.name: getattr(args, f.name) for f in option_fields() if getattr(args, f.name) is not None}
    if args.preset is not None:
        given["preset"] = args.preset
    return RunConfig.from_dict(given)


def check_output_dir(out: Path, force: bool) -> None:
    """Refuse, before any work, an output that holds a finished run or cannot be written."""
    from nasdqn.records import run_status

    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a directory")
    if out.exists() and run_status(out) == "ok" and not force:
        raise ConfigError(f"output {out} already holds a finished run; pass --force to overwrite it")
    parent = out
    while not parent.exists():
        parent = parent.parent
    # Probe by creating (and at once removing) a file: permission bits say nothing for root or for
    # a read-only mount.
    try:
        if not parent.is_dir():
            raise NotADirectoryError(f"{parent} is not a directory")
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as e:
        raise ConfigError(f"output {out} is not writable ({e.strerror or e} at {parent})") from None


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nasdqn.batch import run_and_record
    from nasdqn.metrics import final_performance
    from nasdqn.records import run_dir
    from nasdqn.train import check_runnable

    config = config_from_args(args)
    check_runnable(config)
    out = Path(args.out) if args.out else run_dir(args.root, config)
    check_output_dir(out, args.force)

    bar = tqdm(total=config.steps, unit="step", desc=config.method, disable=args.quiet or None, dynamic_ncols=True)
    try:
        result = run_and_record(config, out, progress=bar.update)
    except KeyboardInterrupt:
        bar.close()
        print(f"nasdqn train: interrupted (recorded in {out})", file=sys.stderr)
        return 130
    except OSError as e:
        bar.close()
        print(f"nasdqn train: could not write the run to {out}: {e.strerror or e}; nothing was marked ok",
              file=sys.stderr)
        return 1
    bar.close()
    if result is None:
        print(f"nasdqn train: the run diverged (recorded in {out}/meta.json)", file=sys.stderr)
        return 1
    if not args.quiet:
        final = final_performance(result.evals, config.final_evals)
        anchors = f"random policy {result.anchors['random_return']:.1f}"
        if result.anchors.get("reference_return") is not None:
            anchors += f", reference {result.anchors['reference_return']:.1f}"
        print(f"{config.method} seed {config.seed}: final greedy return {final:.1f} ({anchors}); "
              f"{result.timing['total']:.1f} s; written to {out}")
    return 0


def _print_estimate(todo: list, root: str, workers: int) -> None:
    """The dry run's cost estimate: from committed runs of the same configs, then, for fixed networks
    nobody ran at these settings, scaled from another architecture's runs by the measured cost ratios."""
    from nasdqn.batch import committed_walls, estimate_by_arch_cost, estimate_cpu_seconds
    from nasdqn.report.load import arch_costs

    walls = committed_walls(root)
    seconds, runs, unknown = estimate_cpu_seconds(todo, root, walls)
    costs = arch_costs()
    scaled, n_scaled, unknown = estimate_by_arch_cost(unknown, root, {} if costs is None else costs.to_dict(), walls)
    total, n = seconds + scaled, len(todo) - len(unknown)
    if not n:
        print("estimated cost: unknown, no committed run has the config of any of these cells, nor (for fixed "
              "networks) its settings with another network; estimate from benchmarks/results/arch_cost.json")
        return
    parts = [f"{len(todo) - len(unknown) - n_scaled} from the median wall time of {runs} committed runs of the same "
             "configs, any seed"] if n > n_scaled else []
    if n_scaled:
        parts.append(f"{n_scaled} scaled from another fixed network's runs at the same settings by "
                     "benchmarks/results/arch_cost.json (it underestimates large networks at large batches)")
    print(f"estimated cost: {total / 3600:.2f} CPU-hours for {n} of the {len(todo)} cells ({'; '.join(parts)}; "
          f"about {total / 3600 / workers:.2f} hours on {workers} workers)")
    if unknown:
        print(f"  not estimated: {len(unknown)} cells with no committed run of their config, e.g. {unknown[0].label}")


def cmd_batch(args: argparse.Namespace) -> int:
    from nasdqn.batch import experiment_lock, load_grid, open_executor, pending

    name, cells = load_grid(args.grid, args.root)
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: need at least 1")
    if args.dry_run:
        todo = pending(cells, args.force)
        print(f"{name}: {len(cells)} cells, {len(cells) - len(todo)} already done, {len(todo)} to run")
        for cell in todo:
            print(f"  would run {cell.label} -> {cell.out}")
        if todo:
            _print_estimate(todo, args.root, args.workers)
        return 0
    # The executor first: a scheduler that does not answer is refused before anything is written.
    with open_executor(args.workers, args.scheduler) as (executor, slots), experiment_lock(args.root, name):
        return _run_batch(args, name, cells, executor, slots)


def _run_batch(args: argparse.Namespace, name: str, cells: list, executor, slots: int) -> int:
    from tqdm import tqdm

    from nasdqn.batch import pending, reap_stale, run_grid

    for cell in reap_stale(cells):
        print(f"{cell.label}: was left running by a killed batch; marked interrupted, will be rerun")
    todo = pending(cells, args.force)
    print(f"{name}: {len(cells)} cells, {len(cells) - len(todo)} already done, {len(todo)} to run")
    if not todo:
        return 0
    counts = {"ok": 0, "failed": 0}
    bar = tqdm(total=len(todo), unit="run", desc=name, dynamic_ncols=True, disable=args.quiet or None)

    def on_done(cell, status, error):
        counts["ok" if status == "ok" else "failed"] += 1
        bar.set_postfix(ok=counts["ok"], failed=counts["failed"], left=len(todo) - sum(counts.values()))
        bar.update(1)
        if status != "ok":
            bar.write(f"{status}: {cell.label}: {error} (see {cell.out})")

    try:
        outcome = run_grid(todo, executor, slots, on_done=on_done)
    except KeyboardInterrupt:
        bar.close()
        print(f"{name}: interrupted after {counts['ok']} ok and {counts['failed']} not ok; runs in flight are "
              f"marked interrupted; run the same command again to finish the rest", file=sys.stderr)
        return 130
    finally:
        bar.close()
    failed = sum(len(v) for k, v in outcome.items() if k != "ok")
    print(f"{name}: {len(outcome.get('ok', []))} ok, {failed} not ok, "
          f"{len(cells) - len(todo)} skipped (already done)")
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    from nasdqn.batch import load_grid, status_table

    name, cells = load_grid(args.grid, args.root)
    rows = status_table(cells)
    width = max(len(r[0]) for r in rows)
    print(f"{'env':{width}s}  {'method':24s} {'seed':>5s}  status")
    for env, method, seed, status in rows:
        print(f"{env:{width}s}  {method:24s} {seed:>5s}  {status}")
    totals: dict[str, int] = {}
    for *_, status in rows:
        totals[status] = totals.get(status, 0) + 1
    print(f"{name}: " + ", ".join(f"{v} {k}" for k, v in sorted(totals.items())))
    return 0


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected whole numbers separated by commas, e.g. 0,3") from None


def cmd_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nasdqn.batch import load_grid, open_executor
    from nasdqn.verify import BY_IDENTITY, regenerate_and_compare, select_cells

    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: need at least 1")
    seeds = _int_list(args.seeds) if args.seeds else None
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    name, cells = load_grid(args.grid, args.into)
    chosen = select_cells(cells, seeds, methods, args.sample)  # input errors before anything runs
    print(f"{name}: regenerating {len(chosen)} cells into {args.into} (cells already ok there are kept)")
    bar = tqdm(total=len(chosen), unit="run", desc=f"verify {name}", dynamic_ncols=True, disable=args.quiet or None)
    with open_executor(args.workers, args.scheduler) as (executor, slots):
        try:
            comparison, agree = regenerate_and_compare(
                args.grid, args.into, args.root, executor, slots, seeds, methods,
                on_done=lambda cell, status, error: bar.update(1), sample=args.sample)
        finally:
            bar.close()
    for _, r in comparison[~comparison["identical"]].iterrows():
        why = r["problem"] or (f"{r['differing_tables']} differ; largest evaluation-return difference "
                               f"{r['largest_eval_difference']:.3g}")
        print(f"  {r['env']} {r['method']} seed={r['seed']}: {why}")
        if not r["problem"]:
            for key, old_label, new_label, both in (
                    ("host", "committed run made on:", "regenerated on:", "both made on:"),
                    ("libraries", "committed run's libraries:", "regenerated with:", "both with:")):
                print(f"    {old_label:<26} {r[key + '_old']}\n    {new_label:<26} {r[key + '_new']}"
                      if r[key + "_old"] != r[key + "_new"] else f"    {both} {r[key + '_new']}")
    identical = int(comparison["identical"].sum())
    print(f"{identical} of {len(comparison)} runs reproduced bit for bit")
    for _, r in agree[~agree["judged_by"].eq(BY_IDENTITY)].iterrows():
        word = {True: "agree", False: "metrics disagree"}.get(r["agrees"], "differ, too few seeds to judge agreement")
        how = f", by the {r['judged_by']}" if r["judged_by"] else ""
        print(f"  {r['env']} {r['method']}: {word}{how} (mean final score {r['final_score_difference']:+.3g}, "
              f"AUC {r['auc_difference']:+.3g}, regenerated minus committed)")
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        # each run's row carries its method's judgment, so that one file holds the whole check
        comparison.merge(agree[["env", "method", "agrees", "judged_by"]], on=["env", "method"], how="left").to_csv(
            args.report, index=False)
    verified = (comparison["problem"] == "").all() and bool(agree["agrees"].eq(True).all())
    print("verified: every run identical or agreeing within its intervals" if verified else
          "not verified: see the lines above")
    return 0 if verified else 1


def cmd_presets(args: argparse.Namespace) -> int:
    for name, preset in PRESETS.items():
        options = ", ".join(f"{k}={v}" for k, v in preset.options.items())
        print(f"{name} ({preset.env}, tuned for {preset.net_arch}): {options}\n    source: {preset.source}")
    return 0


def cmd_prior(args: argparse.Namespace) -> int:
    from nasdqn.report.hindsight import prior_orders

    orders = prior_orders(Path(args.root))
    if not orders:
        print(f"nasdqn prior: no committed sweep under {args.root}/runs (sweep-preset, sweep, sweep-top)",
              file=sys.stderr)
        return 2
    unknown = [e for e in args.envs if e not in orders]
    if unknown:
        print(f"nasdqn prior: no sweep of {', '.join(unknown)}; allowed: {', '.join(orders)}", file=sys.stderr)
        return 2
    for env in args.envs or orders:
        print(f"{env}: {','.join(orders[env])}")
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from nasdqn.bookbuild import build_book, chapter_count

    source = Path(args.source)
    bar = tqdm(total=chapter_count(source, args.jobs), unit="chapter", desc="book", disable=args.quiet or None,
               dynamic_ncols=True)
    with bar:
        result = build_book(source, Path(args.out), args.jobs,
                            on_chapter=lambda chapter, seconds: (bar.set_postfix_str(f"{chapter} {seconds:.1f} s"),
                                                                 bar.update(1)))
    if result.returncode != 0:
        # Sphinx's own report: the warnings (errors under -W) and where they are.
        print(result.log[-6000:], file=sys.stderr)
    if not args.quiet:
        for chapter, seconds in sorted(result.chapter_seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {seconds:6.1f} s  {chapter}")
    print(f"book: {len(result.chapter_seconds)} chapters executed, {sum(result.chapter_seconds.values()):.1f} s of "
          f"chapter time on {args.jobs} jobs; built in {result.seconds:.1f} s"
          + ("" if result.returncode == 0 else f"; FAILED (sphinx exit {result.returncode})"))
    if args.times:
        Path(args.times).parent.mkdir(parents=True, exist_ok=True)
        Path(args.times).write_text(json.dumps({"jobs": args.jobs, "build_seconds": result.seconds,
                                                "chapter_seconds": result.chapter_seconds}, indent=1) + "\n")
    return result.returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nasdqn",
        description="NAS-DQN: Double DQN with an online architecture search (a reproduction).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser("train", help="train one run and write its run directory",
                           description="Train one run (a function of the options and the seed) and "
                                       "write its run directory (see data/README.md).")
    add_config_options(train)
    out = train.add_argument_group("output")
    out.add_argument("--out", default=None, help="run directory to write (default: ROOT/runs/<experiment>/"
                                                 "<env>/<method>/seed=<seed>)")
    out.add_argument("--root", default="data", help="data root used when --out is not given (default: data)")
    out.add_argument("--force", action="store_true", help="overwrite a finished run in the output directory")
    out.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    train.set_defaults(func=cmd_train)

    batch = sub.add_parser("batch", help="run every cell of a grid through the run notebook (papermill)",
                           description="Execute notebooks/run.ipynb with papermill for every cell of a grid "
                                       "file, skipping cells already done with the same config.")
    batch.add_argument("grid", help="grid file, e.g. experiments/smoke.yaml")
    batch.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="local worker processes (default: one per core)")
    batch.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="send the runs to this Dask scheduler instead of the local pool")
    batch.add_argument("--root", default="data", help="data root (default: data)")
    batch.add_argument("--force", action="store_true", help="rerun cells that are already done")
    batch.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    batch.set_defaults(func=cmd_batch)

    status = sub.add_parser("status", help="done / failed / missing cells of a grid")
    status.add_argument("grid", help="grid file, e.g. experiments/smoke.yaml")
    status.add_argument("--root", default="data", help="data root (default: data)")
    status.set_defaults(func=cmd_status)

    verify = sub.add_parser("verify", help="regenerate a grid's runs elsewhere and compare them with the committed",
                            description="Run cells of a grid into another data root and compare each run's tables "
                                        "with its committed twin: bit for bit, and where they differ, the largest "
                                        "difference and whether the metrics agree within their intervals. Exit 0 "
                                        "when all runs are identical or all agree, 1 otherwise.")
    verify.add_argument("grid", help="grid file, e.g. experiments/paper.yaml")
    verify.add_argument("--into", default="reproduced", help="data root to regenerate into (default: reproduced)")
    verify.add_argument("--root", default="data", help="data root of the committed runs (default: data)")
    verify.add_argument("--seeds", default=None, help="only these seeds, e.g. 0,3 (default: all)")
    verify.add_argument("--methods", default=None, help="only these methods, e.g. fixed-medium,nas (default: all)")
    verify.add_argument("--sample", action="store_true",
                        help="only the lowest (selected) seed of each env and method, judged against the 95%% "
                             "prediction interval of the grid's other committed seeds: a cheap check of an older grid")
    verify.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local worker processes")
    verify.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="run on this Dask scheduler")
    verify.add_argument("--report", default=None, help="write the per-run comparison as CSV here")
    verify.add_argument("--quiet", action="store_true", help="no progress bar")
    verify.set_defaults(func=cmd_verify)

    presets = sub.add_parser("presets", help="the per-task settings presets and their sources",
                             description="List every settings preset (--preset NAME, or `preset:` in a grid "
                                         "file): its env, options and published source.")
    presets.set_defaults(func=cmd_presets)

    prior = sub.add_parser("prior", help="the leave-one-task-out order of architectures racing starts from",
                           description="For each swept task, every swept architecture ranked by its mean "
                                       "normalised AUC on the OTHER tasks' committed sweeps (the task's own runs "
                                       "never enter it): the value of race_candidates for that task.")
    prior.add_argument("envs", nargs="*", help="tasks to print (default: every swept task)")
    prior.add_argument("--root", default="data", help="data root (default: data)")
    prior.set_defaults(func=cmd_prior)

    book = sub.add_parser("book", help="build the book, its chapters executed in parallel",
                          description="Build the Jupyter Book (HTML) from _config.yml and _toc.yml as "
                                      "`jupyter-book build -W --keep-going` does, but with Sphinx reading (and so "
                                      "executing) JOBS chapters at a time; print each chapter's execution time. "
                                      "The data root is NASDQN_DATA (default: data). Exit status is Sphinx's.")
    book.add_argument("source", nargs="?", default=".", help="the book's root, holding _config.yml (default: .)")
    book.add_argument("--out", default="_build/html", help="HTML output folder (default: _build/html)")
    book.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                      help="chapters executed at a time (default: one per core)")
    book.add_argument("--times", default=None, metavar="FILE", help="write the chapter times as JSON here")
    book.add_argument("--quiet", action="store_true", help="no progress bar or per-chapter times")
    book.set_defaults(func=cmd_book)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        # One line whatever the input held: control characters in a hostile value are shown escaped.
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(e))
        print(f"nasdqn {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

