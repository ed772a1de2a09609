"""`livo export`, `livo push`, `livo browse`: argument handling, registered into the `livo` command; their
errors (`ExportError`, a `UserError`) end in pipeline/console.py."""

from __future__ import annotations

import argparse


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "pickapic":
        from pipeline.export.layouts import export_pickapic

        out, pairs = export_pickapic(args.run_dir, args.out, args.image_format)
        print(f"wrote {pairs} pairs to {out} (Pick-a-Pic v2 layout: train_diffusion_dpo.py --dataset_name {out})")
    else:
        from pipeline.export.layouts import export_livo

        out, pairs, scenes = export_livo(args.run_dir, args.out)
        print(f"wrote {pairs} pairs in {scenes} scenes to {out} (LiVO layout: train.py --train_data_dir {out})")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.export.hub import push, upload_list

    upload = upload_list(args.run_dir, include_report=args.report)
    root = Path(args.run_dir)
    if args.dry_run:
        for f in upload.files:
            print(f"{(root / f).stat().st_size:>12,}  {f.as_posix()}")
        print(f"{len(upload.files)} files, {upload.total_bytes(root) / 1e6:.1f} MB would go to dataset repo "
              f"{args.repo_id} ({'private' if args.private else 'public'}); nothing was uploaded (--dry-run)")
        return 0
    url = push(args.run_dir, args.repo_id, upload, private=args.private)
    print(f"pushed {len(upload.files)} files to {args.repo_id}: {url}")
    return 0


def cmd_browse(args: argparse.Namespace) -> int:
    import pandas as pd

    from pipeline.run.browse import load_pairs, summary_lines

    where = dict(kv.split("=", 1) for kv in args.where)
    df = load_pairs(args.run_dir, args.n, args.seed, rejected=args.rejected, **where)
    for line in summary_lines(args.run_dir, df):
        print(line)
    cols = [c for c in ("principle_id", "pair_type", "reason", "prompt") if c in df]
    if len(df):
        with pd.option_context("display.width", 160, "display.max_colwidth", 60):
            print(df[cols].head(args.show).to_string())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a run in another training layout: pickapic (Diffusion-DPO) or livo (official)")
    p.add_argument("run_dir")
    p.add_argument("out", help="new (or empty) output folder")
    p.add_argument("--format", required=True, choices=["pickapic", "livo"])
    p.add_argument("--image-format", choices=["jpeg", "original"], default="jpeg",
                   help="pickapic: re-encode images as JPEG, as Pick-a-Pic stores them (default), or keep them")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("push", help="upload a run (card, shards) to the Hugging Face Hub as a dataset repo")
    p.add_argument("run_dir")
    p.add_argument("repo_id", help="e.g. your-name/livo-tiny")
    p.add_argument("--dry-run", action="store_true", help="list what would be uploaded; no network, no token")
    p.add_argument("--report", action="store_true", help="also upload report.html (write it with `livo report`)")
    p.add_argument("--public", dest="private", action="store_false", help="create the repo public (default private)")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("browse", help="load a run (or a sample) as a DataFrame and print a summary")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, help="a deterministic sample of this many pairs (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE", help="e.g. category=gore")
    p.add_argument("--rejected", action="store_true", help="the rejected pairs, with their reason")
    p.add_argument("--show", type=int, default=10, help="rows to print")
    p.set_defaults(func=cmd_browse)
