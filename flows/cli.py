"""`livo shards`: a run folder built by the `build-dataset` Prefect flow, or with `--local` by
`pipeline.build.executor.build_dataset` in this process. Argument handling only; errors (a
`ShardsFailedError` included) end in pipeline/console.py."""

from __future__ import annotations

import argparse
import json

from pipeline.build.cli import config_args
from pipeline.config import ConfigError, load_config


def cmd_shards(args: argparse.Namespace) -> int:
    from pipeline.build.prepare import preflight

    cfg = load_config(args.config, args.overrides)
    if args.local and cfg.runner == "ray":
        raise ConfigError("runner=ray runs shard tasks through the Prefect flow: drop --local")
    preflight(cfg, args.out)  # catalog, prompt files, lock, run identity: refused before Prefect starts
    if args.local:
        from pipeline.build.executor import build_dataset
        from pipeline.build.progress import TqdmProgress

        stats = build_dataset(cfg, args.out, progress=TqdmProgress())
    else:
        from flows.build_dataset import build_dataset_flow
        from flows.console import check_api, quiet_console

        quiet_console(args.verbose)
        check_api()
        stats = build_dataset_flow(config=args.config, out=args.out, overrides=args.overrides)
    print(json.dumps({k: stats[k] for k in ("run_hash", "planned", "kept", "dropped")}))
    print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shards", help="build a dataset run folder")
    config_args(p, "configs/tiny.yaml")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--local", action="store_true", help="run in this process without Prefect")
    p.set_defaults(func=cmd_shards)
