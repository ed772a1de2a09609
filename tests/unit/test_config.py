import pytest

from pipeline.config import ConfigError, config_hash, load_config

TINY = "configs/tiny.yaml"


def test_profiles_load():
    tiny = load_config(TINY)
    assert tiny.render.model == "builtin:tiny-sd" and tiny.render.device == "cpu"
    sd15 = load_config("configs/sd15.yaml")
    assert sd15.render.device == "cuda" and sd15.render.width == 512 and sd15.score.clip_model == "ViT-L/14"


def test_overrides_are_typed():
    cfg = load_config(TINY, ["render.steps=8", "shards.image_format=jpeg", "prompts.categories=[gore, benign]",
                             "planning.max_pairs=null"])
    assert cfg.render.steps == 8 and cfg.shards.image_format == "jpeg"
    assert cfg.prompts.categories == ["gore", "benign"] and cfg.planning.max_pairs is None


@pytest.mark.parametrize("bad, needle", [
    (["render.steps=0"], "render.steps"),
    (["render.colour=red"], "render.colour"),
    (["prompts.categories=[weather]"], "unknown categories"),
    (["noequals"], "key.sub=value"),
    (["render.steps.x=1"], "not a section"),
])
def test_invalid_values_are_clear_errors(bad, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(TINY, bad)


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("configs/nope.yaml")


def test_hash_ignores_performance_only_fields():
    base = config_hash(load_config(TINY))
    assert config_hash(load_config(TINY, ["render.batch_size=3", "render.device=cuda:1", "score.batch_size=7"])) == base
    assert config_hash(load_config(TINY, ["render.steps=5"])) != base
    assert config_hash(load_config(TINY, ["filters.min_margin=0.3"])) != base
