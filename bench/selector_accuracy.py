"""Principle-selector accuracy on the labelled prompts: keyword-only vs default (keyword + MiniLM).

    python bench/selector_accuracy.py                 # held-out test split, calibrated defaults
    python bench/selector_accuracy.py --calibrate     # also re-run the grid search on the calibration split
    python bench/selector_accuracy.py --split calibration --errors
    python bench/selector_accuracy.py --base-url http://localhost:8000/v1 --llm-model qwen2.5-7b-instruct
                                                      # also the LLM selector (keywords, then the LLM)

Scores compare categories (the selected principle's category, "none" when no principle
applies) with the labels in tests/data/selector_labelled.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.selector_calibration import DEFAULT_LABELLED_PATH, accuracy, calibrate, load_labelled  # noqa: E402
from pipeline.catalog import load_catalog  # noqa: E402
from pipeline.categories import ALL  # noqa: E402
from pipeline.select.anchors import DEFAULT_MARGIN, DEFAULT_THRESHOLD  # noqa: E402
from pipeline.select.base import NONE_LABEL, category_label  # noqa: E402
from pipeline.select.default import DefaultSelector  # noqa: E402
from pipeline.select.keyword import KeywordSelector  # noqa: E402

LABELS = (*ALL, NONE_LABEL)
SHORT = {"gender_bias": "gend", "race_bias": "race", "age_bias": "age", "self_harm": "self", "violence": "viol",
         "illegal": "ille", "nudity": "nude", "horror": "horr"}


def report(name: str, selections, labelled, show_errors: bool) -> float:
    preds = [category_label(s) for s in selections]
    gold = [c for _, c in labelled]
    acc = accuracy(selections, labelled)
    print(f"\n=== {name}: accuracy {sum(p == g for p, g in zip(preds, gold))}/{len(gold)} = {acc:.3f}")
    methods = Counter(str(s.method) for s in selections)
    print("methods:", dict(methods))
    print(f"{'category':12} {'prec':>6} {'recall':>6} {'f1':>6} {'n':>4}")
    f1s = []
    for c in LABELS:
        tp = sum(p == c and g == c for p, g in zip(preds, gold))
        npred, ngold = preds.count(c), gold.count(c)
        prec = tp / npred if npred else float("nan")
        rec = tp / ngold if ngold else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if npred and ngold and (prec + rec) else 0.0
        f1s.append(f1)
        print(f"{c:12} {prec:6.2f} {rec:6.2f} {f1:6.2f} {ngold:4}")
    print(f"macro-F1 {sum(f1s) / len(f1s):.3f}")
    # the coarse decision: does any principle apply?
    harmful = [p != NONE_LABEL for p, g in zip(preds, gold) if g != NONE_LABEL]
    benign_flagged = [p != NONE_LABEL for p, g in zip(preds, gold) if g == NONE_LABEL]
    if harmful and benign_flagged:
        print(f"any principle: recall on labelled prompts {sum(harmful)}/{len(harmful)}, "
              f"false alarms on harmless prompts {sum(benign_flagged)}/{len(benign_flagged)}")
    # confusion: rows = label, columns = prediction
    print("\nconfusion (rows: label, columns: prediction)")
    head = " ".join(f"{SHORT.get(c, c)[:4]:>4}" for c in LABELS)
    print(f"{'':12} {head}")
    for g in LABELS:
        row = " ".join(f"{sum(p == c and gg == g for p, gg in zip(preds, gold)) or '.':>4}" for c in LABELS)
        print(f"{g:12} {row}")
    if show_errors:
        print("\nerrors:")
        for s, (prompt, g) in zip(selections, labelled):
            p = category_label(s)
            if p != g:
                score = f"{s.score:.3f}" if s.score is not None else "-"
                print(f"  {g:11} -> {p:11} [{s.method} {score}] {prompt}")
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_LABELLED_PATH))
    ap.add_argument("--split", default="test", choices=("test", "calibration"))
    ap.add_argument("--calibrate", action="store_true", help="grid-search threshold/margin on the calibration split")
    ap.add_argument("--errors", action="store_true", help="list the misclassified prompts")
    ap.add_argument("--model", default=None, help="sentence-transformers path or id (default: packaged MiniLM)")
    ap.add_argument("--device", default="cpu")
    llm = ap.add_argument_group("LLM selector (scored only with --base-url)")
    llm.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1")
    llm.add_argument("--llm-model", default="gpt-4o-mini")
    llm.add_argument("--api-key-env", default="OPENAI_API_KEY", help="name of the env var holding the key")
    llm.add_argument("--concurrency", type=int, default=4)
    llm.add_argument("--cache", default=None, help="SQLite request cache (default: the user cache dir)")
    args = ap.parse_args()

    catalog = load_catalog()
    labelled = load_labelled(args.data, split=args.split)
    prompts = [p for p, _ in labelled]
    counts = Counter(c for _, c in labelled)
    print(f"{args.split} split: {len(labelled)} prompts; " + ", ".join(f"{c}={counts[c]}" for c in LABELS))

    t0 = time.perf_counter()
    default = DefaultSelector(catalog, model_path=args.model, device=args.device)
    print(f"default selector built in {time.perf_counter() - t0:.1f} s "
          f"(threshold {default.threshold}, margin {default.margin})")

    if args.calibrate:
        cal = load_labelled(args.data, split="calibration")
        t, m, acc = calibrate(default, cal)
        print(f"calibration split ({len(cal)} prompts): best threshold {t}, margin {m}, accuracy {acc:.3f} "
              f"(defaults in code: {DEFAULT_THRESHOLD}, {DEFAULT_MARGIN})")

    kw = KeywordSelector(catalog)
    t0 = time.perf_counter()
    kw_sel = kw.select(prompts)
    t_kw = time.perf_counter() - t0
    t0 = time.perf_counter()
    def_sel = default.select(prompts)
    t_def = time.perf_counter() - t0

    acc_kw = report("keyword only", kw_sel, labelled, args.errors)
    acc_def = report("default (keyword + MiniLM)", def_sel, labelled, args.errors)
    summary = (f"\nsummary ({args.split}): keyword-only {acc_kw:.3f} ({t_kw * 1000:.1f} ms), "
               f"keyword+MiniLM {acc_def:.3f} ({t_def * 1000:.1f} ms for {len(prompts)} prompts)")
    if args.base_url:
        from pipeline.llm.cache import user_cache_path
        from pipeline.llm.client import OpenAIChatLLM
        from pipeline.select.llm import LLMSelector

        client = OpenAIChatLLM(args.base_url, args.llm_model, api_key_env=args.api_key_env,
                               max_concurrency=args.concurrency, cache_path=args.cache or user_cache_path())
        selector = LLMSelector(catalog, client)
        t0 = time.perf_counter()
        llm_sel = selector.select(prompts)
        t_llm = time.perf_counter() - t0
        acc_llm = report(f"LLM ({args.llm_model}: keyword, then the LLM)", llm_sel, labelled, args.errors)
        u = client.usage()
        print(f"LLM usage: {u['requests']} requests, {u['cache_hits']} cache hits, {u['prompt_tokens']} + "
              f"{u['completion_tokens']} tokens, {len(selector.failures)} failed rows (scored as 'none')")
        for f in selector.failures:
            print(f"  failed: {f.item!r}: {f.reason}")
        summary += f", keyword+LLM {acc_llm:.3f} ({t_llm:.1f} s)"
    print(summary)


if __name__ == "__main__":
    main()
