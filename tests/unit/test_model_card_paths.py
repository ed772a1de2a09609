"""The model card names the data run and base model by paths relative to the output folder."""

from __future__ import annotations


def test_model_card_paths_are_relative(tmp_path):
    from conftest import ROOT
    from livo_train.config import load_train_config
    from livo_train.outputs import render_model_card

    (tmp_path / "run" / "models" / "tiny-sd").mkdir(parents=True)
    out = tmp_path / "train"
    cfg = load_train_config(ROOT / "configs" / "train_tiny.yaml",
                            [f"data_run={tmp_path / 'run'}", f"output_dir={out}"])
    summary = {"base_model": "builtin:tiny-sd", "base_model_path": str(tmp_path / "run" / "models" / "tiny-sd"),
               "data_run": str(tmp_path / "run"), "data_run_hash": "abc", "pairs": 3, "num_processes": 1,
               "global_step": 1, "final_metrics": {}}
    card = render_model_card(cfg, summary)
    assert "`../run/models/tiny-sd`" in card and "| data run | `../run` " in card
    assert str(tmp_path) not in card
