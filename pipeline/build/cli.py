"""The dataset commands of `livo` but `shards` (registered from flows/cli.py): `principles`, `prompts`,
`select`, `train-selector` (one stage at a time, no run folder) and `plan`, `audit`, `validate` (a run
folder before and after `livo shards`). Argument handling only; errors end in pipeline/console.py."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.config import load_config


def config_args(p: argparse.ArgumentParser, default: str | None = None) -> None:
    """`--config` and `--set` of the commands that read a dataset config."""
    p.add_argument("--config", default=default, help="YAML profile (configs/*.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set render.steps=8 (repeatable)")


def cmd_principles(args: argparse.Namespace) -> int:
    from pipeline.catalog import load_catalog

    catalog = load_catalog(args.catalog)
    if args.json:
        for p in catalog:
            print(json.dumps(p.model_dump()))
        return 0
    print(f"{len(catalog)} principles from {', '.join(str(f) for f in catalog.files)}")
    for p in catalog:
        extra = f" [{p.attribute}: {', '.join(p.attribute_values)}]" if p.kind == "bias" else ""
        print(f"{p.id:24} {p.category:12} {p.kind:9} {p.statement}{extra}")
    return 0


def _llm_report(llm, failures: list) -> None:
    """LLM failures and usage on stderr (never the key: the client does not expose it)."""
    if llm is None:
        return
    for f in failures:
        print(f"llm {f.stage} failed: {f.item!r}: {f.reason}", file=sys.stderr)
    u = llm.usage()
    print(f"llm {llm.model}: {u['requests']} requests, {u['cache_hits']} cache hits, {u['prompt_tokens']} + "
          f"{u['completion_tokens']} tokens, {len(failures)} failed rows", file=sys.stderr)


def cmd_prompts(args: argparse.Namespace) -> int:
    from pipeline.prompts.collect import collect_prompts

    cfg = load_config(args.config, args.overrides)
    llm, failures = None, []
    if cfg.prompts.generate is not None:
        from pipeline.llm.client import make_llm

        llm = make_llm(cfg)
    records, stats = collect_prompts(cfg, llm, failures)
    for problem in stats.import_problems:
        print(f"skipped: {problem}", file=sys.stderr)
    for r in records:
        print(json.dumps({"prompt": r.text, "source": r.source, "category_hint": r.category_hint,
                          "aligned_text": r.aligned_text}))
    print(f"{len(records)} prompts", file=sys.stderr)
    _llm_report(llm, failures)
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from pipeline.catalog import load_catalog
    from pipeline.prompts.importer import read_prompt_file
    from pipeline.select.factory import make_selector

    cfg = load_config(args.config, args.overrides)
    prompts = list(args.prompts)
    if args.input:
        result = read_prompt_file(Path(args.input), max_chars=cfg.prompts.max_chars)
        for problem in result.problems:
            print(f"skipped: {problem}", file=sys.stderr)
        prompts += [r.text for r in result.records]
    if not prompts:
        print("livo select: give prompts as arguments or --input FILE", file=sys.stderr)
        return 2
    llm = None
    if cfg.selector == "llm":
        from pipeline.llm.client import make_llm

        llm = make_llm(cfg)
    selector = make_selector(cfg, load_catalog(cfg.catalog_dir), llm)
    for s in selector.select(prompts):
        print(json.dumps({"prompt": s.prompt, "principle_id": s.principle_id, "category": s.category,
                          "method": s.method, "score": s.score}))
    _llm_report(llm, getattr(selector, "failures", []))
    return 0


def cmd_train_selector(args: argparse.Namespace) -> int:
    from pipeline.catalog import load_catalog
    from pipeline.errors import UserError
    from pipeline.select.embed import DEFAULT_EMBEDDING, load_model
    from pipeline.select.head import HEAD_FILE
    from pipeline.select.labelled import TRAIN_FILES, file_digest, read_labelled
    from pipeline.select.train import train_head

    catalog = load_catalog(args.catalog)
    files = [Path(f) for f in (args.data or TRAIN_FILES)]
    rows = [r for f in files for r in read_labelled(f, catalog)]
    out = Path(args.out) if args.out else Path(args.catalog) / HEAD_FILE
    meta = {"data": {f.name: file_digest(f) for f in files}}
    model = load_model(args.model)
    depth = len(model[0].auto_model.encoder.layer)
    if args.tuned_layers > depth:
        raise UserError(f"--tuned-layers {args.tuned_layers}: the sentence model has {depth} layers; "
                        f"give 0 to {depth}")
    head, report = train_head(rows, catalog, model, seed=args.seed, **({"c": args.c} if args.c else {}),
                              max_false_alarm=args.max_false_alarm, embedding=args.model or DEFAULT_EMBEDDING,
                              tuned_layers=args.tuned_layers, tuned_epochs=args.tuned_epochs, meta=meta)
    head.save(out)
    print(f"{report.rows} labelled prompts from {', '.join(map(str, files))}")
    print(f"out-of-fold on the {report.calibrated_on} rows: acceptable {report.cv_acceptable:.3f}, harmless given a "
          f"toxicity principle {report.cv_false_alarm:.3f} (worst source) at toxic_threshold {report.toxic_threshold}")
    for src, m in report.per_source.items():
        print(f"  {src:10} {m['rows']:5} rows: acceptable {m['acceptable']:.3f}, recall {m['recall']:.3f}, "
              f"false alarms {m['false_alarm']:.3f}")
    print(f"wrote {out}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from pipeline.build.prepare import prepare_run
    from pipeline.run.layout import RunPaths
    from pipeline.run.lock import run_lock

    cfg = load_config(args.config, args.overrides)
    with run_lock(RunPaths(Path(args.out))):
        prepared = prepare_run(cfg, args.out)
    refused = prepared.prompt_stats.planning_dropped or {}
    print(f"{args.out}: {prepared.num_pairs} pairs planned in {prepared.num_shards} shards, "
          f"{sum(refused.values())} refused by the prompt checks; `livo audit {args.out}` shows them")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from pipeline.catalog import load_catalog
    from pipeline.errors import MissingFileError
    from pipeline.plan.audit import audit_plan, format_report
    from pipeline.plan.checks import check_for
    from pipeline.run.layout import RunPaths
    from pipeline.run.plan_io import load_plan, read_dropped

    paths = RunPaths(Path(args.run_dir))
    if not paths.plan.exists():
        raise MissingFileError(f"{paths.plan} does not exist; plan the run first: livo plan --config CONFIG "
                                f"--out {args.run_dir}")
    cfg = load_config(paths.config)
    catalog = load_catalog(cfg.catalog_dir)
    report = audit_plan(load_plan(paths), read_dropped(paths), catalog, check_for(cfg, catalog))
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    if args.min_pass is not None and report.share_passing() < args.min_pass:
        print(f"livo audit: {report.share_passing():.1%} of pairs pass every check, below --min-pass "
              f"{args.min_pass:.0%}", file=sys.stderr)
        return 1
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.run.validate import repair_hint, validate_run

    problems = validate_run(Path(args.run_dir))
    if problems:
        print(f"{args.run_dir}: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print(f"livo: {repair_hint(args.run_dir)}", file=sys.stderr)
        return 1
    print(f"{args.run_dir}: ok")
    return 0


def _at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {low}, got {text}")
        return value
    return parse


def register_stages(sub: argparse._SubParsersAction) -> None:
    """`principles`, `prompts`, `select`, `train-selector`."""
    from pipeline.select.tuned import DEFAULT_EPOCHS, DEFAULT_LAYERS  # numpy only at import; torch when training
    p = sub.add_parser("principles", help="the value-principle catalog")
    p.add_argument("action", choices=["list"])
    p.add_argument("--catalog", default="value_principles")
    p.add_argument("--json", action="store_true", help="one JSON object per principle")
    p.set_defaults(func=cmd_principles)

    p = sub.add_parser("prompts", help="print the prompts a config expands to (JSONL)")
    config_args(p, "configs/tiny.yaml")
    p.set_defaults(func=cmd_prompts)

    p = sub.add_parser("select", help="select a principle per prompt (one JSON object per line)")
    p.add_argument("prompts", nargs="*")
    p.add_argument("--input", help="prompt file: .txt, .jsonl or I2P .csv")
    config_args(p)
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("train-selector", help="train the default selector's head on labelled prompts")
    p.add_argument("--data", action="append", help="labelled JSONL (repeatable); default prompts/labelled/selector_train.jsonl and "
                        "prompts/labelled/real/*_train.jsonl")
    p.add_argument("--catalog", default="value_principles", help="catalog the head is trained for")
    p.add_argument("--out", help="head file; default <catalog>/selector_head.npz")
    p.add_argument("--model", help="sentence-transformers model path or id; default the packaged all-MiniLM-L6-v2")
    p.add_argument("--c", type=float, help="inverse L2 strength of the logistic regression (default: the shipped head's, 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-false-alarm", type=float, default=0.08,
                   help="out-of-fold share of harmless prompts allowed a toxicity principle when calibrating")
    p.add_argument("--tuned-layers", type=_at_least(0), default=DEFAULT_LAYERS,
                   help=f"the sentence model's top layers to fine-tune as the head's second half (default {DEFAULT_LAYERS}; "
                        "0: the linear half alone, minutes faster)")
    p.add_argument("--tuned-epochs", type=_at_least(1), default=DEFAULT_EPOCHS,
                   help=f"passes over the rows when fine-tuning them (default {DEFAULT_EPOCHS})")
    p.set_defaults(func=cmd_train_selector)


def register_run(sub: argparse._SubParsersAction) -> None:
    """`plan`, `audit`, `validate`."""
    p = sub.add_parser("plan", help="prepare a run folder (prompts, principles, plan) without rendering")
    config_args(p, "configs/tiny.yaml")
    p.add_argument("--out", required=True, help="run folder; `livo shards` with the same config resumes it")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("audit", help="prompt-level checks of a planned run, with counts and examples")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument("--min-pass", type=float, help="exit 1 when fewer pairs than this share pass every check")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("validate", help="check a run folder (schema, images, ids)")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_validate)
