"""`livo` command line: principles, prompts, select, train-selector, plan, audit, shards, validate, train, eval,
report, export, push, browse."""

from __future__ import annotations

import argparse
import sys


def _registrations() -> tuple:
    """Each package's `register(sub)`, in the order `livo --help` lists the commands."""
    from flows.cli import register as register_shards  # `livo shards`
    from livo_train.cli import register as register_training  # `livo train`, `livo eval`
    from pipeline.build.cli import register_run, register_stages  # principles..train-selector; plan, audit, validate
    from pipeline.calibrate.cli import register as register_calibrate  # `livo calibrate`
    from pipeline.export.cli import register as register_export  # `livo export`, `livo push`, `livo browse`
    from pipeline.report.cli import register as register_report  # `livo report`

    return (register_stages, register_shards, register_run, register_training, register_calibrate, register_report,
            register_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livo", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="more log lines (Prefect's and the library's)")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also LIVO_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _registrations():
        register(sub)  # each command's function is its parser's `func` default
    return parser


def main(argv: list[str] | None = None) -> int:
    from pipeline.console import prepare_environment, run_command, setup_logging

    prepare_environment()  # before anything imports Prefect
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
