"""`livo report`: argument handling, registered into the `livo` command."""

from __future__ import annotations

import argparse
import sys


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.report.run_report import ReportOptions, write_report

    if args.max_pairs < 1 or args.page_size < 1:
        print("livo: --max-pairs and --page-size must be at least 1", file=sys.stderr)
        return 2
    options = ReportOptions(max_pairs=args.max_pairs, seed=args.seed, boxes=not args.no_boxes,
                            page_size=args.page_size)
    path = write_report(args.run_dir, args.out, options)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); open it in a browser, it needs no network")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="one self-contained HTML report of a run: counts, charts, a pair gallery")
    p.add_argument("run_dir")
    p.add_argument("--out", help="HTML file to write (default RUN/report.html)")
    p.add_argument("--max-pairs", type=int, default=200,
                   help="kept pairs in the gallery (a deterministic sample beyond that), and as many rejected ones")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample")
    p.add_argument("--page-size", type=int, default=24, help="pairs per gallery page")
    p.add_argument("--no-boxes", action="store_true",
                   help="blur whole violating images instead of finding NudeNet's boxes on them")
    p.set_defaults(func=cmd_report)
