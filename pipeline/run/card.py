"""The dataset card (README.md) written into every run folder, in the Hugging Face dataset-card
format: a YAML header the Hub and `datasets.load_dataset(folder)` read (configs, features, license),
then what a researcher needs before training on the data. Paths are relative to the run folder,
so the card stays true when the folder moves or is pushed. The header is `huggingface_hub`'s
`DatasetCardData`, the body the Jinja2 template ``templates/dataset_card.md.j2`` (package data)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import datasets
import jinja2
import pyarrow.parquet as pq
import yaml
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

from pipeline.config import RunConfig, config_dict
from pipeline.run.counts import RunCounts, count_run
from pipeline.run.facts import (
    count_tables,
    import_problems,
    model_table,
    notes,
    rel_path,
    threshold_table,
    uses_tiny_models,
)
from pipeline.run.layout import CONFIG_FILE, REJECTED_DIR, SHARDS_DIR, STATS_FILE, RunPaths, parquet_files
from pipeline.run.schema import IMAGE_COLUMNS, SHARD_SCHEMA
from pipeline.run.score_columns import SCORE_MEANINGS, SCORER_SWITCHES

# Column meanings; a column without one (e.g. a score no longer declared, in an older run) is described
# by its dtype.
_MEANINGS: dict[str, str] = {
    "id": "stable pair id (hash of prompt, principle, pair type, both prompts, seed)",
    "prompt": "the input prompt",
    "principle": "the value principle statement (the value encoder's text)",
    "principle_id": "catalog id of the principle",
    "category": "category of the principle",
    "kind": "toxicity or bias",
    "pair_type": "toxicity, bias, benign (harmless prompt vs an injected violation) or implicit (the user's prompt "
                 "vs itself rendered away from the harm its first image showed)",
    "alignment_method": "how the aligned side was made: text_twin (toxicity), attribute (bias), benign_injection "
                      "(benign) or negative_prompt (implicit: the category's negative prompt, same prompt and seed)",
    "aligned": "image aligned with the principle; struct<bytes, path>, HF `Image` feature",
    "violating": "image violating the principle, same seed",
    "aligned_prompt": "what the aligned image was rendered from",
    "violating_prompt": "what the violating image was rendered from",
    "aligned_negative_prompt": "negative prompt of the aligned image",
    "attribute": "bias: the attribute value asked for in the aligned prompt",
    "violating_attribute": "bias: the attribute value read on the violating (neutral) image (face classifier, "
                           "else CLIP)",
    "attribute_judge": "bias: the judge that confirmed the aligned image's attribute (face or clip)",
    "seed": "shared by both images of the pair",
    "sample": "which of the planning.samples_per_pair samples of its (prompt, principle) the pair is (0 = the first)",
    "model": "the renderer (hub id, local path or builtin name)",
    "source": "prompt provenance",
    "selection_method": "how the principle was chosen",
    **SCORE_MEANINGS,  # declared with the scorers' columns
    "config_hash": "run hash (config minus performance-only fields, plus input files)",
}
_MAX_PROBLEMS = 20
_HEAD_ORDER = ["pretty_name", "license", "license_name"]  # first in the header, as cards of this project always had


def _judges(cfg: RunConfig) -> str:
    """The image judges of the run, in words (`score_columns.SCORER_SWITCHES`)."""
    on = [sw.judge.format(score=cfg.score) for sw in SCORER_SWITCHES if sw.enabled(cfg.score)]
    return ", ".join(on[:-1]) + f" and {on[-1]}" if len(on) > 1 else on[0]


def _meaning(name: str) -> str:
    return _MEANINGS.get(name, "")


def license_info(cfg: RunConfig) -> tuple[dict, str]:
    """(header fields, the card's license paragraph)."""
    if uses_tiny_models(cfg):
        return ({"license": "mit"}, ("MIT, as the project: the images come from randomly initialised built-in "
                "models and the prompts from the project's template packs."))
    return ({"license": "other", "license_name": "model-output-terms"},
            (f"`other`: the images are outputs of `{cfg.render.model}`, so that model's license (e.g. CreativeML "
            "OpenRAIL-M for Stable Diffusion 1.5) governs their use; template prompts are the project's (MIT); "
            "imported prompt files keep their own licenses."))


def features_of(paths: RunPaths) -> datasets.Features:
    """The features of the folder's own shards (a run built before a column was added keeps its
    schema), the current contract when it has none yet."""
    files = parquet_files(paths.shards)
    return datasets.Features.from_arrow_schema(pq.read_schema(files[0]) if files else SHARD_SCHEMA)


def card_data(cfg: RunConfig, counts: RunCounts, features: datasets.Features) -> DatasetCardData:
    """The card's YAML header: what the Hub and `datasets.load_dataset(folder)` read."""
    lic, _ = license_info(cfg)
    data = DatasetCardData(
        pretty_name=cfg.name, **lic, task_categories=["text-to-image"],
        tags=["preference", "value-alignment", "livo", "safety", "debiasing", "not-for-all-audiences"],
        configs=[{"config_name": "default", "default": True,
                  "data_files": [{"split": "train", "path": f"{SHARDS_DIR}/*.parquet"}]}])
    # the features as `datasets` writes them into its own cards (it reads them back exactly)
    DatasetInfosDict({"default": datasets.DatasetInfo(features=features)}).to_dataset_card_data(data)
    data["dataset_info"]["splits"] = [{"name": "train", "num_examples": counts.kept_total}]
    return data


def _schema(features: datasets.Features) -> list[list[str]]:
    return [[f"`{name}`", "image" if name in IMAGE_COLUMNS else getattr(feat, "dtype", type(feat).__name__),
             _meaning(name)] for name, feat in features.items()]


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pipeline.run", "templates"), autoescape=False,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template("dataset_card.md.j2")


def render_card(cfg: RunConfig, stats: dict, root: Path | str) -> str:
    """The card of the run folder `root` (its counts are read from the folder's shards)."""
    root = Path(root)
    counts = count_run(RunPaths(root))
    features = features_of(RunPaths(root))
    resolved = config_dict(cfg)
    if resolved.get("models_cache"):
        resolved["models_cache"] = rel_path(resolved["models_cache"], root)
    text = _template().render(
        card_data=card_data(cfg, counts, features).to_yaml(original_order=_HEAD_ORDER), name=cfg.name, model=cfg.render.model,
        judges=_judges(cfg), notes=notes(cfg, stats, counts), kept=stats.get("kept", counts.kept_total),
        planned=stats.get("planned", "?"), run_hash=stats.get("run_hash", "?"), rejected_dir=REJECTED_DIR,
        stats_file=STATS_FILE, config_file=CONFIG_FILE, count_tables=count_tables(stats, counts),
        threshold_table=threshold_table(cfg), model_table=model_table(cfg, stats, root),
        problems=import_problems(stats), max_problems=_MAX_PROBLEMS, license_text=license_info(cfg)[1],
        schema=_schema(features), resolved_yaml=yaml.safe_dump(resolved, sort_keys=False))
    return str(DatasetCard(text))  # parsed back: a header the Hub cannot read is an error here
