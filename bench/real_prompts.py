"""The default selector and planning on real prompts: the dev splits of
``prompts/labelled/real/`` (I2P prompts people typed into Stable Diffusion, COCO captions),
never trained on.

    python bench/real_prompts.py                   # make bench-real
    python bench/real_prompts.py --errors          # also the rows each measure gets wrong
    python bench/real_prompts.py --head OLD.npz    # another selector head (e.g. an older one), same measures
    python bench/real_prompts.py --corpus DIR      # the folder of coco_captions.csv (default ../shared/data/real-prompts)
    python bench/real_prompts.py --keywords        # each toxicity keyword's precision on the real *train* rows

Selection, per source: ``acceptable`` (the selection is the label or in ``accept``), ``recall``
(harmful rows given an acceptable toxicity principle), ``false alarms`` (harmless rows given a
toxicity principle). For captions also the toxicity rate over every dev-split caption of the
corpus file (unlabelled; COCO captions are harmless photographs, so this is a false-alarm rate).

Planning, on the I2P dev prompts imported as a prompt file would be (``plan_pairs`` with the
prompt checks of a default run): pairs planned and refused per reason; harmful prompts that
became a toxicity pair with an acceptable principle; benign pairs built on a prompt the reader
called harmful or not English; bias pairs on prompts the reader gave no bias principle; the
reader's own safe twins refused by the aligned-prompt check (each one is a false refusal); and
``livo audit``'s prompt checks per pair type, for the I2P plan and the template plan.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.catalog import load_catalog
from pipeline.select.base import NONE_LABEL
from pipeline.select.labelled import DEV_PATH, REAL_DEV_FILES, is_dev, read_labelled
from pipeline.select.train import is_toxic, score_labels, toxic_recall

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-prompts"


def selection_report(name, rows, labels, catalog, errors: bool) -> dict:
    ok, alarms = score_labels(rows, labels, catalog)
    harmful = sum(is_toxic(r.label, catalog) for r in rows)
    harmless = len(rows) - harmful
    recall = toxic_recall(rows, labels, catalog)
    print(f"{name:10} rows {len(rows):5}  acceptable {ok:.3f}  recall {recall:.3f} ({round(recall * harmful)}/{harmful})"
          f"  false alarms {alarms:.3f} ({round(alarms * harmless)}/{harmless})")
    if errors:
        for r, lab in zip(rows, labels):
            if lab not in r.acceptable:
                print(f"    {r.label:22} -> {lab:22} {r.prompt[:150]}")
    return {"acceptable": ok, "recall": recall, "false_alarm": alarms}


def caption_corpus_rate(selector, corpus: Path, catalog) -> None:
    path = corpus / "coco_captions.csv"
    if not path.is_file():
        print(f"(no {path}: the corpus caption rate is skipped)")
        return
    with path.open(encoding="utf-8") as f:
        caps = [r["caption"].strip() for r in csv.DictReader(f) if is_dev(f"coco:{r['image_id']}")]
    sels = selector.select(caps)
    n = sum(s.principle_id is not None and is_toxic(s.principle_id, catalog) for s in sels)
    print(f"{'coco all':10} rows {len(caps):5}  given a toxicity principle {n / len(caps):.4f} ({n}/{len(caps)})"
          f"  (every dev-split caption of {path.name}, unlabelled)")


def planning_report(rows, selector, catalog, errors: bool) -> None:
    from pipeline.plan.audit import audit_plan, format_report
    from pipeline.plan.checks import PromptCheck
    from pipeline.plan.planner import plan_pairs
    from pipeline.records import PromptRecord

    by_prompt = {r.prompt: r for r in rows}
    records = [PromptRecord(r.prompt, "file:i2p_dev.jsonl") for r in rows]
    selections = selector.select([r.prompt for r in rows])
    check = PromptCheck(catalog, selector)
    plan = plan_pairs(records, selections, catalog, check=check)
    planned = Counter(p.pair_type for p in plan.plans)
    refused = Counter(f"{d.pair_type}:{d.reason}" for d in plan.dropped)
    print(f"planned {sum(planned.values())} ({', '.join(f'{k} {v}' for k, v in sorted(planned.items()))}); "
          f"refused at planning {sum(refused.values())} ({', '.join(f'{k} {v}' for k, v in sorted(refused.items()))})")
    harmful = [r for r in rows if is_toxic(r.label, catalog)]
    made = {p.prompt for p in plan.plans if p.pair_type == "toxicity" and p.principle_id in by_prompt[p.prompt].acceptable}
    print(f"harmful prompts that became a toxicity pair with an acceptable principle: {len(made)}/{len(harmful)}"
          f" = {len(made) / max(1, len(harmful)):.3f}")
    bad_benign = [p for p in plan.plans if p.pair_type == "benign" and is_toxic(by_prompt[p.prompt].label, catalog)]
    foreign = [p for p in plan.plans if p.pair_type == "benign" and not by_prompt[p.prompt].english]
    print(f"benign pairs on a harmful prompt: {len(bad_benign)}; on a prompt that is not English: {len(foreign)}")
    bias_label = {p.id for p in catalog if p.kind == "bias"}
    stray = [p for p in plan.plans if p.pair_type == "bias" and by_prompt[p.prompt].label not in bias_label]
    print(f"bias pairs on a prompt the reader gave no bias principle: {len(stray)}"
          f" of {planned['bias']}")
    twins = [(r.twin, r.prompt) for r in harmful if r.twin]
    problems = check.aligned_problems(twins)
    refused_twins = [(t, why) for (t, _), why in zip(twins, problems) if why]
    print(f"the reader's safe twins refused by the aligned-prompt check: {len(refused_twins)}/{len(twins)}"
          f" ({', '.join(f'{k} {v}' for k, v in Counter(w for _, w in refused_twins).items()) or 'none'})")
    if errors:
        for p in stray:
            print(f"    bias on {by_prompt[p.prompt].label}: {p.prompt[:120]}")
        for r in harmful:
            if r.prompt not in made:
                why = next((d.reason for d in plan.dropped if d.prompt == r.prompt), "not selected as its principle")
                print(f"    no pair ({why}): [{r.label}] {r.prompt[:120]}")
        for t, why in refused_twins:
            print(f"    twin refused ({why}): {t[:120]}")
    print("\nlivo audit, I2P dev plan")
    report = audit_plan(plan.plans, [d.to_dict() for d in plan.dropped], catalog, check)
    print(format_report(report) if errors else format_report(report).split("\n  ")[0])


def template_report(selector, catalog) -> None:
    from pipeline.plan.audit import audit_plan
    from pipeline.plan.checks import PromptCheck
    from pipeline.plan.planner import apply_pack_categories, plan_pairs
    from pipeline.prompts.expand import expand_packs
    from pipeline.prompts.packs import load_packs

    records = expand_packs(load_packs())
    t0 = time.perf_counter()
    selections = selector.select([r.text for r in records])
    seconds = time.perf_counter() - t0
    selections = apply_pack_categories(records, selections, catalog)
    check = PromptCheck(catalog, selector)
    plan = plan_pairs(records, selections, catalog, check=check)
    report = audit_plan(plan.plans, [d.to_dict() for d in plan.dropped], catalog, check)
    shares = ", ".join(f"{t} {report.share_passing(t):.3f}" for t in sorted(report.planned))
    print(f"templates: {len(records)} prompts selected in {seconds:.1f} s; {sum(report.planned.values())} pairs, "
          f"audit passes all {report.share_passing():.3f} ({shares}); refused {len(plan.dropped)}")


def keyword_precision(catalog) -> None:
    """Per toxicity keyword (and cue word), how many real training rows hold it and how many of
    those a reader called harmful: the evidence for ``cue_words`` (train rows only)."""
    from collections import defaultdict

    from pipeline.select.labelled import REAL_DIR, REAL_SOURCES

    rows = [r for s in REAL_SOURCES for r in read_labelled(REAL_DIR / f"{s}_train.jsonl", catalog)]
    seen, harmful = Counter(), Counter()
    kind = defaultdict(str)
    for r in rows:
        for p in catalog:
            if p.kind != "toxicity":
                continue
            for words, what in ((p.find_keywords(r.prompt), "keyword"), (p.find_cues(r.prompt), "cue")):
                for w in words:
                    seen[(p.id, w)] += 1
                    harmful[(p.id, w)] += is_toxic(r.label, catalog)
                    kind[(p.id, w)] = what
    print(f"toxicity keywords and cue words in {len(rows)} real training rows (a keyword found in >= 4 rows of "
          f"which < half are harmful should be a cue word)")
    for key, n in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0])):
        flag = "  <- cue?" if kind[key] == "keyword" and n >= 4 and harmful[key] / n < 0.5 else ""
        print(f"  {key[0]:22} {kind[key]:7} {key[1]:24} {harmful[key]:4}/{n:<4} harmful{flag}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--head", default=None, help="selector head file (default: the shipped one)")
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    ap.add_argument("--errors", action="store_true")
    ap.add_argument("--no-templates", action="store_true", help="skip the template plan")
    ap.add_argument("--keywords", action="store_true", help="only list each keyword's precision on the train rows")
    args = ap.parse_args()
    if args.keywords:
        keyword_precision(load_catalog())
        return

    from pipeline.select.classifier import ClassifierSelector
    from pipeline.select.embed import load_model

    catalog = load_catalog()
    selector = ClassifierSelector(catalog, args.head, model=load_model())
    print(f"selector head: {args.head or 'shipped'} (toxic_threshold {selector.toxic_threshold})\n")
    print("selection (dev splits, never trained on)")
    dev = {src: read_labelled(path, catalog) for src, path in REAL_DEV_FILES.items()}
    dev["in-house"] = read_labelled(DEV_PATH, catalog)
    for src, rows in dev.items():
        labels = [s.principle_id or NONE_LABEL for s in selector.select([r.prompt for r in rows])]
        selection_report(src, rows, labels, catalog, args.errors)
    caption_corpus_rate(selector, Path(args.corpus), catalog)
    print("\nplanning, I2P dev prompts as an imported file")
    planning_report(dev["i2p"], selector, catalog, args.errors)
    if not args.no_templates:
        print()
        template_report(selector, catalog)


if __name__ == "__main__":
    main()
