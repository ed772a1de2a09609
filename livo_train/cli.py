"""`livo train` and `livo eval`: argument handling, registered into the `livo` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


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


def _data_run_settings(run_dir: Path | None) -> tuple[dict, str | None]:
    """Render settings and the CLIP checkpoint of the run the model was trained on (defaults)."""
    if run_dir is None or not (run_dir / "config.yaml").exists():
        return {}, None
    from livo_train.data import run_models_dir
    from pipeline.build import resolve_model
    from pipeline.config import load_config

    cfg = load_config(run_dir / "config.yaml")
    r = cfg.render
    render = {"num_inference_steps": r.steps, "guidance_scale": r.guidance_scale, "width": r.width,
              "height": r.height}
    return render, resolve_model(cfg.score.clip_model, run_models_dir(run_dir))


def cmd_eval(args: argparse.Namespace) -> int:
    from livo_train.evaluate import ImageJudge, evaluate, prompts_from_run, write_results
    from livo_train.model import read_training_record
    from livo_train.pipeline import LiVOPipeline
    from pipeline.prompt_import import read_prompt_file

    model = Path(args.model)
    record = read_training_record(model)
    data_run = Path(args.data or record["data_run"])
    render, clip_model = _data_run_settings(data_run if data_run.exists() else None)
    for key, value in (("num_inference_steps", args.steps), ("guidance_scale", args.guidance),
                       ("width", args.width), ("height", args.height)):
        if value is not None:
            render[key] = value
    clip_model = args.clip_model or clip_model
    if clip_model is None:
        print("livo eval: the data run is not available to take the CLIP model from: pass --clip-model",
              file=sys.stderr)
        return 2

    prompts = list(args.prompt)
    if args.prompts:
        result = read_prompt_file(Path(args.prompts))
        for problem in result.problems:
            print(f"skipped: {problem}", file=sys.stderr)
        prompts += [r.text for r in result.records]
    if not prompts:
        if not data_run.exists():
            print(f"livo eval: no prompts given and the data run {data_run} is gone: pass --prompts FILE",
                  file=sys.stderr)
            return 2
        prompts = prompts_from_run(data_run, args.per_principle)

    pipe = LiVOPipeline.from_pretrained(model, device=args.device, dtype=args.dtype, scheduler=args.scheduler,
                                        selector=args.selector, bias_fraction=args.bias_fraction)
    judge = ImageJudge(clip_model, device=args.device, nudenet=not args.no_nudenet)
    result = evaluate(pipe, prompts, judge, value=args.value, n=args.n, seed=args.seed, render=render)
    result.update(model=str(model), base_model=record["base_model"], clip_model=clip_model, render=render,
                  selector=args.selector, bias_fraction=args.bias_fraction)
    json_path, png_path = write_results(result, Path(args.out) if args.out else model / "eval")
    print(json.dumps(result["summary"]))
    print(f"wrote {json_path} and {png_path}")
    return 0


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

    p = sub.add_parser("eval", help="render with and without the value encoder and measure the difference")
    p.add_argument("--model", required=True, help="`livo train` output folder")
    p.add_argument("--out", help="where eval.json and eval.png go (default <model>/eval)")
    p.add_argument("--prompt", action="append", default=[], help="a prompt (repeatable)")
    p.add_argument("--prompts", help="prompt file: .txt, .jsonl or I2P .csv")
    p.add_argument("--data", help="data run for default prompts and settings (default: the training run's)")
    p.add_argument("--per-principle", type=int, default=2,
                   help="without --prompt/--prompts: this many prompts per principle from the data run")
    p.add_argument("--value", default="auto", help="'auto' (selector), a principle id, a value text, or 'none'")
    p.add_argument("-n", type=int, default=4, help="images per prompt and arm")
    p.add_argument("--seed", type=int, default=0, help="image i of every prompt uses seed + i")
    p.add_argument("--steps", type=int, help="denoising steps (default: the data run's)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the data run's)")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--scheduler", help="diffusers scheduler class, e.g. DPMSolverMultistepScheduler")
    p.add_argument("--clip-model", help="clip-anytorch name or checkpoint (default: the data run's)")
    p.add_argument("--no-nudenet", action="store_true", help="skip the NudeNet detector")
    p.add_argument("--selector", choices=["default", "keyword"], default="default")
    p.add_argument("--bias-fraction", type=float, default=0.5, help="share of a bias prompt's images given the value")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.set_defaults(func=cmd_eval)
