"""`nasdqn` command line. Every run option, its default and its help come from `RunConfig`."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from nasdqn.config import ConfigError, RunConfig, option_fields

EXIT_BAD_INPUT = 2


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run options (defaults from nasdqn.config.RunConfig)")
    for f in option_fields():
        default = f.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(_flag(f.name), dest=f.name, default=None, metavar=f.name.upper(),
                           help=f"{f.metadata['help']} (default: {shown})")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    given = {f.name: getattr(args, f.name) for f in option_fields() if getattr(args, f.name) is not None}
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

    from nasdqn.records import run_dir, write_failure, write_run
    from nasdqn.train import Diverged, check_runnable, train

    config = config_from_args(args)
    check_runnable(config)
    out = Path(args.out) if args.out else run_dir(args.root, config)
    check_output_dir(out, args.force)

    bar = tqdm(total=config.steps, unit="step", desc=config.method, disable=args.quiet or None,
               dynamic_ncols=True)
    try:
        result = train(config, progress=bar.update)
    except Diverged as e:
        bar.close()
        write_failure(out, config, "diverged", str(e))
        print(f"nasdqn train: run diverged: {e} (recorded in {out})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.close()
        write_failure(out, config, "interrupted", "interrupted by the user (SIGINT)")
        print(f"nasdqn train: interrupted (recorded in {out})", file=sys.stderr)
        return 130
    bar.close()
    write_run(out, result)
    if not args.quiet:
        from nasdqn.metrics import final_performance

        final = final_performance(result.evals, config.final_evals)
        anchors = f"random policy {result.anchors['random_return']:.1f}"
        if result.anchors.get("reference_return") is not None:
            anchors += f", reference {result.anchors['reference_return']:.1f}"
        print(f"{config.method} seed {config.seed}: final greedy return {final:.1f} ({anchors}); "
              f"{result.timing['total']:.1f} s; written to {out}")
    return 0


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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"nasdqn {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())

