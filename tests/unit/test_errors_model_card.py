"""`livo train --allow-incomplete` is recorded: the model card says the data run was incomplete and why."""

from __future__ import annotations

from livo_train.config import TrainConfig
from livo_train.outputs import render_model_card

SUMMARY = {"base_model": "builtin:tiny-sd", "base_model_path": "/m", "data_run": "/runs/tiny", "data_run_hash": "abc",
           "pairs": 3, "num_processes": 1, "global_step": 1, "final_metrics": {"loss": 0.5}}


def test_card_records_an_incomplete_data_run():
    problems = ["3 of 6 shards not complete (no marker in _done/): 3, 4, 5", "missing stats.json: the build never finished"]
    card = render_model_card(TrainConfig(), {**SUMMARY, "data_run_incomplete": problems})
    assert ("**Trained on an incomplete data run** (`--allow-incomplete`): 3 of 6 shards not complete (no marker in "
            "_done/): 3, 4, 5; missing stats.json: the build never finished.") in card


def test_card_of_a_complete_data_run_says_nothing_about_it():
    assert "incomplete" not in render_model_card(TrainConfig(), {**SUMMARY, "data_run_incomplete": []})


def test_card_header_is_model_card_data_the_hub_reads():
    from huggingface_hub import ModelCard

    card = ModelCard(render_model_card(TrainConfig(), SUMMARY))
    assert card.data.to_dict() == {"library_name": "transformers", "base_model": "builtin:tiny-sd",
                                   "tags": ["livo", "value-alignment", "text-to-image", "value-encoder"]}
    assert "| loss | 0.5 |" in card.text
