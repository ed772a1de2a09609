"""`livo train` on a data run rendered by another model: LiVO's value encoder is one token in front of an
SD 1.5-family text encoder's states, so an SDXL base is refused in one line that says what to set, and
an SD 1.5 base trained on SDXL's images says so in one line. The whole command on a tiny SDXL build:
tests/integration/test_sdxl_build.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from livo_train.config import TrainingError
from livo_train.model import describe_base


def test_an_sdxl_base_is_refused_in_one_line_that_says_what_to_set(tiny_sdxl_path: Path, tmp_path: Path) -> None:
    sdxl = str(tiny_sdxl_path)
    # model.base null: the base is the run's renderer, the tiny SDXL.
    with pytest.raises(TrainingError) as info:
        describe_base(sdxl, sdxl, sdxl, tmp_path)
    message = str(info.value)
    assert "\n" not in message and "StableDiffusionXLPipeline" in message and sdxl in message
    assert message.endswith("to train it on this run's images") and "--set model.base=" in message


def test_an_sd15_base_on_sdxl_images_says_so_in_one_line(tiny_sdxl_path: Path, tiny_sd_path: Path,
                                                          tmp_path: Path) -> None:
    note = describe_base(str(tiny_sd_path), str(tiny_sd_path), str(tiny_sdxl_path), tmp_path)
    assert note is not None and "\n" not in note
    assert f"against {tiny_sd_path} (StableDiffusionPipeline)" in note
    assert f"{tiny_sdxl_path} (StableDiffusionXLPipeline)" in note  # read from its model_index.json


def test_the_renderer_as_base_says_nothing_and_an_unreachable_renderer_costs_no_network(
        tiny_sd_path: Path, tmp_path: Path) -> None:
    sd = str(tiny_sd_path)
    assert describe_base(sd, sd, sd, tmp_path) is None
    # A hub id that is neither local nor cached: named without its class, never downloaded.
    note = describe_base(sd, sd, "livo-data-tests/no-such-sdxl-7f3a", tmp_path)
    assert note is not None and "another model, livo-data-tests/no-such-sdxl-7f3a, and" in note
