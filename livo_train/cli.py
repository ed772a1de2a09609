"""`livo train` and `livo eval`: argument handling, registered into the `livo` command."""

from __future__ import annotations

import argparse
import json
import sys
from typing import get_args


def check_data_run(data_run, allow_incomplete: bool) -> list[str]:
    """Why the data run is not a complete build (empty when it is). Refused (TrainingError) unless
    ``allow_incomplete``: a model trained on part of a run would silently miss what the rest holds."""
    from livo_train.config import TrainingError
    from pipeline.run.validate import completeness_problems, repair_command

    problems = completeness_problems(data_run)
    if problems and not allow_incomplete:
        more = f"; {len(problems) - 1} more problem(s): livo validate {data_run}" if len(problems) > 1 else ""
        raise TrainingError(f"{data_run} is not a complete data run ({problems[0]}{more}); finish it with "
                            f"{repair_command(data_run)}, or pass --allow-incomplete to train on what it holds")
    return problems


def cmd_train(args: argparse.Namespace) -> int:
    from livo_train.config import load_train_config
    from livo_train.trainer import LiVOTrainer

    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data_run={args.data}")
    if args.out:
        overrides.append(f"output_dir={args.out}")
    cfg = load_train_config(args.config, overrides)
    problems = check_data_run(cfg.data_run, args.allow_incomplete) if cfg.data_run is not None else []
    trainer = LiVOTrainer(cfg)
    trainer.data_problems = problems
    for problem in problems:
        trainer.accelerator.print(f"warning: training on an incomplete data run: {problem}")
    trainer.setup(args.resume)
    report = trainer.prepare_report
    trainer.accelerator.print(
        f"cache {report.cache_dir}: {report.reused} shard(s) reused, {report.prepared} prepared, "
        f"{len(trainer.dataset)} pairs")
    if args.prepare_only:
        return 0
    summary = trainer.train()
    if trainer.accelerator.is_main_process:
        print(json.dumps({k: summary[k] for k in ("global_step", "pairs", "seconds_this_run", "final_metrics")}))
        print(f"wrote {cfg.output_dir}")
    return 0


def _print_skipped(problem: str) -> None:
    print(f"skipped: {problem}", file=sys.stderr)


def cmd_eval(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from livo_train.config import EvalError
    from livo_train.evaluate import IMAGES_DIR, PAGE_FILE, EvalConfig, run_eval, summary_table
    from pipeline.typed_config import field_errors

    # The eval flags' dests are EvalConfig's field names and unset flags are absent (SUPPRESS):
    # the config alone holds the defaults.
    settings = {k: v for k, v in vars(args).items() if k in EvalConfig.model_fields}
    try:
        cfg = EvalConfig(**settings)
    except ValidationError as e:
        raise EvalError("; ".join(field_errors(e))) from None
    result, json_path, png_path = run_eval(cfg, on_skipped=_print_skipped)

    print(summary_table(result))
    out = json_path.parent
    print(f"wrote {json_path}, {png_path}, {out / PAGE_FILE} and the images in {out / IMAGES_DIR}/")
    return 0


def _choices(field: str) -> list[str]:
    from livo_train.evaluate import EvalConfig

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
    p.add_argument("--allow-incomplete", action="store_true",
                   help="train on a data run that is not a complete build (recorded in the model card)")
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
    p.add_argument("--no-nsfw", dest="nsfw", action="store_false", help="skip OpenNSFW (nsfw_rate)")
    p.add_argument("--no-faces", dest="faces", action="store_false", help="skip the face classifier (face_d1/d2)")
    p.add_argument("--q16-prompts", help="Q16 prompts file (prompts.p of github.com/ml-research/Q16) for the "
                                         "I2P inappropriate probability (default: the data run's score.q16_prompts)")
    p.add_argument("--vlm-model", help="a VLM judge for LiVO's toxicity protocol, as its OpenAI-compatible server "
                                       "names it (default: the data run's score.vlm.model; none: off)")
    p.add_argument("--vlm-base-url", help="the VLM judge's endpoint, e.g. http://localhost:8000/v1 "
                                          "(default: the data run's score.vlm.base_url)")
    p.add_argument("--vlm-style", choices=["yes_no", "llavaguard"],
                   help="the VLM judge's prompt and answer style (default: the data run's score.vlm.style)")
    p.add_argument("--selector", choices=_choices("selector"))
    p.add_argument("--bias-fraction", type=float, help="share of a bias prompt's images given the value")
    p.add_argument("--device")
    p.add_argument("--dtype", choices=_choices("dtype"))
    p.set_defaults(func=cmd_eval)
