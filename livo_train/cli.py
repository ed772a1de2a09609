"""`livo train` and `livo eval`: argument handling, registered into the `livo` command."""

from __future__ import annotations

import argparse
import json
import sys
from typing import get_args


def cmd_train(args: argparse.Namespace) -> int:
    from livo_train.config import load_train_config
    from livo_train.trainer import LiVOTrainer, TrainingError

    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data_run={args.data}")
    if args.out:
        overrides.append(f"output_dir={args.out}")
    cfg = load_train_config(args.config, overrides)
    try:
        trainer = LiVOTrainer(cfg)
        trainer.setup(args.resume)
        report = trainer.prepare_report
        trainer.accelerator.print(
            f"cache {report.cache_dir}: {report.reused} shard(s) reused, {report.prepared} prepared, "
            f"{len(trainer.dataset)} pairs")
        if args.prepare_only:
            return 0
        summary = trainer.train()
    except TrainingError as e:
        print(f"livo train: {e}", file=sys.stderr)
        return 1
    if trainer.accelerator.is_main_process:
        print(json.dumps({k: summary[k] for k in ("global_step", "pairs", "seconds_this_run", "final_metrics")}))
        print(f"wrote {cfg.output_dir}")
    return 0


def _print_skipped(problem: str) -> None:
    print(f"skipped: {problem}", file=sys.stderr)


def cmd_eval(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from livo_train.errors import EvalError
    from livo_train.eval_job import EvalConfig, run_eval
    from pipeline.typed_config import field_errors

    # The eval flags' dests are EvalConfig's field names and unset flags are absent (SUPPRESS):
    # the config alone holds the defaults.
    settings = {k: v for k, v in vars(args).items() if k in EvalConfig.model_fields}
    try:
        cfg = EvalConfig(**settings)
    except ValidationError as e:
        print(f"livo eval: {'; '.join(field_errors(e))}", file=sys.stderr)
        return 2
    try:
        result, json_path, png_path = run_eval(cfg, on_skipped=_print_skipped)
    except EvalError as e:
        print(f"livo eval: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result["summary"]))
    print(f"wrote {json_path} and {png_path}")
    return 0


def _choices(field: str) -> list[str]:
    from livo_train.eval_job import EvalConfig

    return list(get_args(EvalConfig.model_fields[field].annotation))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `train` and `eval` subcommands to the `livo` parser."""
    p = sub.add_parser("train", help="train a LiVO value encoder on a run's shards")
    p.add_argument("--config", default="configs/train_tiny.yaml", help="training YAML (configs/train_*.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set train.max_steps=100 (repeatable)")
    p.add_argument("--data", help="run folder written by `livo shards` (sets data_run)")
    p.add_argument("--out", help="output folder (sets output_dir)")
    p.add_argument("--resume", metavar="latest|CHECKPOINT",
                   help="continue from the newest checkpoint in --out ('latest'; a fresh start when there is "
                        "none) or from a checkpoint folder")
    p.add_argument("--prepare-only", action="store_true", help="cache latents and text states, then stop")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="render with and without the value encoder and measure the difference",
                       argument_default=argparse.SUPPRESS)
    p.add_argument("--model", required=True, help="`livo train` output folder")
    p.add_argument("--out", help="where eval.json and eval.png go (default <model>/eval)")
    p.add_argument("--prompt", dest="prompts", metavar="PROMPT", action="append", help="a prompt (repeatable)")
    p.add_argument("--prompts", dest="prompts_file", metavar="PROMPTS", help="prompt file: .txt, .jsonl or I2P .csv")
    p.add_argument("--data", help="data run for default prompts and settings (default: the training run's)")
    p.add_argument("--per-principle", type=int,
                   help="without --prompt/--prompts: this many prompts per principle from the data run")
    p.add_argument("--value", help="'auto' (selector), a principle id, a value text, or 'none'")
    p.add_argument("-n", type=int, help="images per prompt and arm")
    p.add_argument("--seed", type=int, help="image i of every prompt uses seed + i")
    p.add_argument("--steps", type=int, help="denoising steps (default: the data run's)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the data run's)")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--scheduler", help="diffusers scheduler class, e.g. DPMSolverMultistepScheduler")
    p.add_argument("--clip-model", help="clip-anytorch name or checkpoint (default: the data run's)")
    p.add_argument("--no-nudenet", dest="nudenet", action="store_false", help="skip the NudeNet detector")
    p.add_argument("--selector", choices=_choices("selector"))
    p.add_argument("--bias-fraction", type=float, help="share of a bias prompt's images given the value")
    p.add_argument("--device")
    p.add_argument("--dtype", choices=_choices("dtype"))
    p.set_defaults(func=cmd_eval)
