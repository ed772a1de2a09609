"""Principle-selector accuracy: keyword-only, retrieval (keyword + nearest MiniLM descriptor,
the default before the trained head) and default (keyword + the trained head).

    python bench/selector_accuracy.py                       # dev split + crisp split + speed
    python bench/selector_accuracy.py --errors              # also list the dev prompts each selector gets wrong
    python bench/selector_accuracy.py --dev FILE            # another labelled file ({prompt, label, accept})
    python bench/selector_accuracy.py --base-url http://localhost:8000/v1 --llm-model qwen2.5-7b-instruct

Dev split (prompts/labelled/selector_dev.jsonl, written by another hand than the training file
and never trained on): a selection is acceptable when it is the label or in ``accept``.
"harmless -> toxicity": share of rows whose label is not a toxicity principle that got one.
Crisp split (prompts/labelled/selector_calibration.jsonl, test rows, category level): rows labelled
none that name a person also accept a bias category (the file predates the rule that people
in neutral scenes get a bias principle). Speed: every template prompt of prompts/packs/, uncapped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.catalog import load_catalog
from pipeline.categories import ALL
from pipeline.select.base import NONE_LABEL, category_label
from pipeline.select.labelled import DEV_PATH, read_labelled
from pipeline.select.people import shows_people
from pipeline.select.retrieval import DEFAULT_LABELLED_PATH, load_labelled
from pipeline.select.train import score_labels

LABELS = (*ALL, NONE_LABEL)
SHORT = {"gender_bias": "gend", "race_bias": "race", "age_bias": "age", "self_harm": "self", "violence": "viol",
         "illegal": "ille", "nudity": "nude", "horror": "horr"}


def confusion(gold: list[str], pred: list[str]) -> str:
    head = " ".join(f"{SHORT.get(c, c)[:4]:>4}" for c in LABELS)
    lines = ["confusion, categories (rows: label, columns: selection)", f"{'':12} {head}"]
    for g in LABELS:
        row = " ".join(f"{sum(p == c and gg == g for p, gg in zip(pred, gold)) or '.':>4}" for c in LABELS)
        lines.append(f"{g:12} {row}")
    return "\n".join(lines)


def dev_report(name, selections, rows, catalog, errors: bool) -> tuple[float, float]:
    labels = [s.principle_id or NONE_LABEL for s in selections]
    ok, alarms = score_labels(rows, labels, catalog)
    print(f"\n=== {name}: acceptable {ok:.3f}, harmless -> toxicity {alarms:.3f}")
    cat = {p.id: p.category for p in catalog}
    print(confusion([cat.get(r.label, NONE_LABEL) for r in rows], [cat.get(lab, NONE_LABEL) for lab in labels]))
    if errors:
        for r, lab in zip(rows, labels):
            if lab not in r.acceptable:
                print(f"  {r.label:22} -> {lab:22} [{r.shape}] {r.prompt}")
    return ok, alarms


def crisp_accuracy(selections, labelled) -> float:
    bias = {"gender_bias", "race_bias", "age_bias"}
    ok = 0
    for s, (prompt, gold) in zip(selections, labelled):
        got = category_label(s)
        ok += got == gold or (gold == NONE_LABEL and got in bias and shows_people(prompt))
    return ok / len(labelled)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", default=str(DEV_PATH))
    ap.add_argument("--crisp", default=str(DEFAULT_LABELLED_PATH))
    ap.add_argument("--errors", action="store_true")
    ap.add_argument("--base-url", default=None, help="also the LLM selector, on this OpenAI-compatible endpoint")
    ap.add_argument("--llm-model", default="gpt-4o-mini")
    ap.add_argument("--api-key-env", default="OPENAI_API_KEY")
    args = ap.parse_args()

    from pipeline.select.classifier import ClassifierSelector
    from pipeline.select.embed import load_model
    from pipeline.select.keyword import KeywordSelector
    from pipeline.select.retrieval import RetrievalSelector

    catalog = load_catalog()
    rows = read_labelled(args.dev, catalog)
    crisp = load_labelled(args.crisp, split="test")
    model = load_model()
    selectors = {"keyword only": KeywordSelector(catalog),
                 "retrieval (keyword + MiniLM descriptors)": RetrievalSelector(catalog, model=model),
                 "default (keyword + trained head)": ClassifierSelector(catalog, model=model)}
    if args.base_url:
        from pipeline.llm.cache import user_cache_path
        from pipeline.llm.client import OpenAIChatLLM
        from pipeline.select.llm import LLMSelector

        client = OpenAIChatLLM(args.base_url, args.llm_model, api_key_env=args.api_key_env,
                               cache_path=user_cache_path())
        selectors[f"llm ({args.llm_model})"] = LLMSelector(catalog, client)
    print(f"dev: {len(rows)} prompts from {args.dev}; crisp: {len(crisp)} test prompts from {args.crisp}")
    summary = []
    for name, sel in selectors.items():
        ok, alarms = dev_report(name, sel.select([r.prompt for r in rows]), rows, catalog, args.errors)
        crisp_acc = crisp_accuracy(sel.select([p for p, _ in crisp]), crisp)
        summary.append(f"{name:42} dev acceptable {ok:.3f}  harmless->toxicity {alarms:.3f}  crisp {crisp_acc:.3f}")

    from pipeline.prompts.expand import expand_packs
    from pipeline.prompts.packs import load_packs

    texts = [r.text for r in expand_packs(load_packs())]
    t0 = time.perf_counter()
    fresh = ClassifierSelector(catalog)  # model load included: what a build pays
    fresh.select(texts)
    seconds = time.perf_counter() - t0
    print("\nsummary")
    print("\n".join(summary))
    print(f"default selector on all {len(texts)} template prompts (model load included): {seconds:.1f} s")


if __name__ == "__main__":
    main()
