"""`livo` command line: principles, prompts, select, shards, validate, train, eval."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pipeline.config import ConfigError, load_config


def _config_args(p: argparse.ArgumentParser, default: str | None = None) -> None:
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
        print(json.dumps({"prompt": r.text, "source": r.source, "category_hint": r.category_hint}))
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


def cmd_shards(args: argparse.Namespace) -> int:
    from pipeline.errors import ShardsFailedError

    cfg = load_config(args.config, args.overrides)
    if args.local and cfg.runner == "ray":
        raise ConfigError("runner=ray runs shard tasks through the Prefect flow: drop --local")
    try:
        if args.local:
            from pipeline.build.executor import build_dataset
            from pipeline.build.progress import TqdmProgress

            stats = build_dataset(cfg, args.out, progress=TqdmProgress())
        else:
            from flows.build_dataset import build_dataset_flow

            stats = build_dataset_flow(config=args.config, out=args.out, overrides=args.overrides)
    except ShardsFailedError as e:
        for f in e.failed:
            print(f"livo: shard {f.index} ({f.pairs} pairs) failed after {f.attempts} attempt(s): {f.error}",
                  file=sys.stderr)
        print(f"livo: {e}", file=sys.stderr)
        return 1
    print(json.dumps({k: stats[k] for k in ("run_hash", "planned", "kept", "dropped")}))
    print(f"wrote {args.out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.run.validate import validate_run

    problems = validate_run(Path(args.run_dir))
    if problems:
        print(f"{args.run_dir}: {len(problems)} problem(s)", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"{args.run_dir}: ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livo", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("principles", help="the value-principle catalog")
    p.add_argument("action", choices=["list"])
    p.add_argument("--catalog", default="value_principles")
    p.add_argument("--json", action="store_true", help="one JSON object per principle")
    p.set_defaults(func=cmd_principles)

    p = sub.add_parser("prompts", help="print the prompts a config expands to (JSONL)")
    _config_args(p, "configs/tiny.yaml")
    p.set_defaults(func=cmd_prompts)

    p = sub.add_parser("select", help="select a principle per prompt (one JSON object per line)")
    p.add_argument("prompts", nargs="*")
    p.add_argument("--input", help="prompt file: .txt, .jsonl or I2P .csv")
    _config_args(p)
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("shards", help="build a dataset run folder")
    _config_args(p, "configs/tiny.yaml")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--local", action="store_true", help="run in this process without Prefect")
    p.set_defaults(func=cmd_shards)

    p = sub.add_parser("validate", help="check a run folder (schema, images, ids)")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_validate)

    from livo_train.cli import register as register_training  # `livo train`, `livo eval`

    register_training(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"livo: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - one clear line for users; -v shows the traceback
        from pipeline.catalog import CatalogError
        from pipeline.errors import ModelUnavailableError, RunConflictError
        from pipeline.llm.types import LLMUnavailableError

        if isinstance(e, (ModelUnavailableError, CatalogError, FileNotFoundError, LLMUnavailableError,
                          RunConflictError)) and not args.verbose:
            print(f"livo: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
