"""The dataset card of a run folder: a Hugging Face card whose header `datasets` and the Hub read,
with the facts a researcher needs (counts per pair type, thresholds, problems, noise warning)."""

from __future__ import annotations

import shutil

import datasets
import pytest
from huggingface_hub import DatasetCard
from PIL import Image

from fake_run import make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("card") / "run", import_problems=("prompts.txt:3: empty line",))


def test_header_is_a_dataset_card_the_hub_reads(run):
    card = DatasetCard.load(run / "README.md")
    assert card.data.license == "mit"  # built-in random models, project prompts
    assert card.data.task_categories == ["text-to-image"]
    assert card.data.configs[0]["data_files"] == [{"split": "train", "path": "shards/*.parquet"}]
    names = [f["name"] for f in card.data.dataset_info["features"]]
    assert names[:3] == ["id", "prompt", "principle"] and {"dtype": "image", "name": "aligned"} in \
        card.data.dataset_info["features"]


def test_load_dataset_of_the_folder_uses_the_card(run, tmp_path):
    moved = shutil.copytree(run, tmp_path / "moved")  # the card holds no path of the old place
    ds = datasets.load_dataset(str(moved), split="train")
    assert len(ds) == 9 and isinstance(ds[0]["aligned"], Image.Image)


def test_body_has_counts_per_pair_type_thresholds_problems_and_warnings(run):
    text = (run / "README.md").read_text()
    assert "| violence | 3 | 3 | 3 | 0 | 0 |" in text  # category, planned, kept, kept benign, bias, toxicity
    assert "| benign | 3 |" in text and "| toxicity | 3 |" in text and "| bias | 3 |" in text
    assert "| margin_too_small | scoring | 1 | 1 | 1 | 3 |" in text  # per pair type: benign, bias, toxicity
    assert "`filters.min_margin`" in text and "prompts.txt:3: empty line" in text
    assert "These images are noise." in text and "Content warning." in text
    assert "livo shards --config <this folder>/config.yaml" in text
    assert str(run) not in text  # relative paths only


def test_real_models_get_license_other_with_its_reason(run):
    from factories import tiny_config
    from pipeline.run.card import license_info

    fields, why = license_info(tiny_config(["render.model=stable-diffusion-v1-5/stable-diffusion-v1-5"]))
    assert fields["license"] == "other" and "stable-diffusion-v1-5" in why and "license" in why
