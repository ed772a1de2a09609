"""Resuming a checkpoint: one trained with another configuration is refused, naming what changed.

A one-layer CLIP text model stands in for the value encoder, so a real accelerate checkpoint
(weights, optimizer, scheduler, RNG states) costs well under a second; no data run is read.
"""

import json
from pathlib import Path

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel

from conftest import ROOT
from livo_train.checkpoints import STATE_FILE, check_output
from livo_train.config import dump_train_config, identity_hash, load_train_config
from livo_train.outputs import CONFIG_FILE
from livo_train.trainer import LiVOTrainer, TrainingError

DATA_HASH = "0123456789abcdef"


def tiny_encoder() -> CLIPTextModel:
    torch.manual_seed(0)
    return CLIPTextModel(CLIPTextConfig(vocab_size=64, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, max_position_embeddings=16, bos_token_id=0,
                                        eos_token_id=1, pad_token_id=2))


def trainer(out: Path, *overrides: str) -> LiVOTrainer:
    """A trainer of `out` with only what checkpoints need: the value encoder, optimizer and scheduler."""
    cfg = load_train_config(ROOT / "configs/train_tiny.yaml",
                            [f"data_run={out.parent / 'run'}", f"output_dir={out}", "train.device=cpu", *overrides])
    t = LiVOTrainer(cfg)
    t.data_run_hash = DATA_HASH
    t._build_optimizer(tiny_encoder())
    return t


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    t = trainer(tmp_path / "a", "optim.lr=1e-3", "loss.beta=1000")
    t.global_step = 2
    return t.save_checkpoint()


def test_a_checkpoint_of_another_configuration_is_refused_naming_the_changed_fields(tmp_path, checkpoint):
    other = trainer(tmp_path / "b", "optim.lr=5e-4", "loss.beta=250")
    with pytest.raises(TrainingError) as refused:
        other.resume(str(checkpoint))
    message = str(refused.value)
    assert "\n" not in message
    assert str(checkpoint) in message and "changed: loss.beta: 1000.0 → 250.0, optim.lr: 0.001 → 0.0005" in message
    assert "--out" in message  # what to do
    assert other.global_step == 0


def test_a_checkpoint_resumes_with_other_performance_only_settings(tmp_path, checkpoint):
    other = trainer(tmp_path / "b", "optim.lr=1e-3", "loss.beta=1000", "train.max_steps=9",
                    "train.checkpoint_every=3", "data.num_workers=1", "train.log_every=1", "name=renamed")
    assert other.resume(str(checkpoint)) == 2


def test_the_output_folder_is_checked_before_anything_is_written_to_it(tmp_path, checkpoint):
    # `--resume PATH` of another folder: refused by check_output, before setup saves the new
    # configuration into --out (which would then refuse the right one)
    cfg = trainer(tmp_path / "b", "loss.gamma1=2").cfg
    with pytest.raises(TrainingError, match="changed: loss.gamma1: 1.0 → 2.0"):
        check_output(tmp_path / "b", cfg, str(checkpoint))
    assert not (tmp_path / "b" / CONFIG_FILE).exists()
    check_output(tmp_path / "b", trainer(tmp_path / "c", "optim.lr=1e-3", "train.max_steps=9").cfg, str(checkpoint))


def test_resuming_a_folder_with_another_configuration_names_the_changed_fields(tmp_path):
    saved = trainer(tmp_path / "a", "optim.lr=1e-3").cfg
    (tmp_path / "a").mkdir()
    dump_train_config(saved, tmp_path / "a" / CONFIG_FILE)
    with pytest.raises(TrainingError, match=r"another configuration \(changed: data\.sampling: \"livo\" → \"fixed\"\)"):
        check_output(tmp_path / "a", trainer(tmp_path / "x", "optim.lr=1e-3", "data.sampling=fixed").cfg, "latest")


def test_an_older_checkpoint_that_records_only_the_identity_hash_is_checked_by_it(tmp_path, checkpoint):
    state = json.loads((checkpoint / STATE_FILE).read_text())
    state.pop("identity_fields", None)
    (checkpoint / STATE_FILE).write_text(json.dumps(state))
    same = trainer(tmp_path / "b", "optim.lr=1e-3", "loss.beta=1000", "train.max_steps=9")
    assert state["identity"] == identity_hash(same.cfg)
    assert same.resume(str(checkpoint)) == 2
    other = trainer(tmp_path / "c", "optim.lr=5e-4")
    with pytest.raises(TrainingError, match="different configuration") as refused:
        other.resume(str(checkpoint))
    assert "\n" not in str(refused.value) and "--out" in str(refused.value)
