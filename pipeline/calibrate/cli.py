"""`livo calibrate RUN`: what each filter threshold would keep on a pilot run, and proposed thresholds."""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.calibrate.sweep import MIN_SEPARATION


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def print_calibration(result, file=sys.stdout) -> None:
    print(f"{result.run}: {result.pairs} judged pairs (kept and rejected)", file=file)
    print(f"{'rule':30} {'threshold':24} {'pairs':>5} {'current':>9} {'kept':>5} {'proposed':>9} {'kept':>5}  method",
          file=file)
    for r in result.rules:
        sep = f" (J={r.proposal.separation:.2f})" if r.proposal.separation is not None else ""
        print(f"{r.reason:30} {r.field:24} {r.pairs:>5} {_fmt(r.current):>9} {r.current_kept:>5} "
              f"{_fmt(r.proposal.threshold):>9} {r.proposed_kept:>5}  {r.proposal.method}{sep}", file=file)
        for category, c in r.by_category.items():
            p = c["proposal"]
            if p["method"] != "too_few_pairs":  # a keep rate per category is shown, never proposed
                sep = f" (J={p['separation']:.2f})" if p.get("separation") is not None else ""
                print(f"  {category:28} {'':24} {c['pairs']:>5} {_fmt(c['current']):>9} {'':>5} "
                      f"{_fmt(p['threshold']):>9} {'':>5}  {p['method']}{sep}", file=file)
    weak = sorted({r.reason for r in result.rules if r.proposal.method == "not_separated"}
                  | {r.reason for r in result.rules for c in r.by_category.values()
                     if c["proposal"]["method"] == "not_separated"})
    if weak:
        print(f"not_separated: the judges barely tell the aligned from the violating images (J < "
              f"{MIN_SEPARATION}) for {', '.join(weak)}; those thresholds stay: look at the pairs (livo report "
              f"{result.run}) before trusting the filter", file=file)
    print(f"wrote {result.files['yaml']} (paste its filters: block into a profile), "
          f"{result.files['json']}, {result.files.get('png', 'no plot')}", file=file)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from pipeline.calibrate import calibrate_run

    result = calibrate_run(args.run_dir, keep=args.keep, out=args.out, plot=not args.no_plot)
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print_calibration(result)
    return 0


def _keep(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"--keep must be in (0, 1], got {text}")
    return value


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="propose filter thresholds from a finished (pilot) run's stored scores")
    p.add_argument("run_dir")
    p.add_argument("--keep", type=_keep, default=0.9,
                   help="share of pairs to keep for rules without an aligned/violating contrast (fidelity, margin)")
    p.add_argument("--out", default=None, help="output folder (default RUN/calibration)")
    p.add_argument("--json", action="store_true", help="print the whole result as one JSON object")
    p.add_argument("--no-plot", action="store_true", help="skip calibration.png")
    p.set_defaults(func=cmd_calibrate)
