"""Training config: official defaults, YAML + --set overrides, validation, resume identity."""


import pytest
import yaml

from conftest import ROOT
from livo_train.config import TrainConfig, dump_train_config, identity_hash, load_train_config
from pipeline.config import ConfigError


def test_defaults_are_livo_official_hyper_parameters():
    cfg = TrainConfig()
    assert (cfg.loss.type, cfg.loss.beta, cfg.loss.alpha, cfg.loss.gamma1, cfg.loss.gamma2) == ("livo", 1000, 500, 1, 0.5)
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.max_grad_norm, cfg.optim.lr_scheduler) == \
        (1e-6, 1e-2, 1.0, "constant")
    assert cfg.train.batch_size == 8 and cfg.train.max_steps == 15000


def test_profiles_load_and_overrides_apply():
    for profile in ("configs/train_tiny.yaml", "configs/train_sd15.yaml"):
        load_train_config(ROOT / profile)
    cfg = load_train_config(ROOT / "configs/train_tiny.yaml",
                            ["loss.type=dpo", "train.max_steps=7", "train.mixed_precision=no", "data.max_pairs=3"])
    assert (cfg.loss.type, cfg.train.max_steps, cfg.train.mixed_precision, cfg.data.max_pairs) == ("dpo", 7, "no", 3)


@pytest.mark.parametrize("override, field", [
    ("loss.beta=0", "loss.beta"),
    ("loss.alpha=-5", "loss.alpha"),
    ("loss.gamma2=-0.1", "loss.gamma2"),
    ("loss.type=ppo", "loss.type"),
    ("optim.lr=0", "optim.lr"),
    ("optim.weight_decay=-1", "optim.weight_decay"),
    ("optim.max_grad_norm=0", "optim.max_grad_norm"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.mixed_precision=fp8", "train.mixed_precision"),
    ("train.compile=max", "train.compile"),
    ("data.sampling=random", "data.sampling"),
    ("data.group_by=[colour]", "data.group_by"),
    ("data.resolution=30", "data.resolution"),
    ("optimizer.lr=1", "optimizer"),
])
def test_nonsense_values_are_rejected_naming_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_train_config(None, [override])


def test_warmup_longer_than_training_is_rejected():
    with pytest.raises(ConfigError, match="warmup"):
        load_train_config(None, ["optim.lr_scheduler=linear", "optim.warmup_steps=10", "train.max_steps=10"])


def test_identity_ignores_speed_and_length_but_not_the_objective(tmp_path):
    cfg = load_train_config(ROOT / "configs/train_tiny.yaml")
    dump_train_config(cfg, tmp_path / "c.yaml")
    assert identity_hash(load_train_config(tmp_path / "c.yaml")) == identity_hash(cfg)
    same = load_train_config(ROOT / "configs/train_tiny.yaml",
                             ["train.max_steps=999", "train.log_every=3", "data.num_workers=2", "output_dir=/x",
                              "train.compile=blocks"])
    assert identity_hash(same) == identity_hash(cfg)
    other = load_train_config(ROOT / "configs/train_tiny.yaml", ["loss.alpha=100"])
    assert identity_hash(other) != identity_hash(cfg)
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["loss"]["beta"] == 1000.0
