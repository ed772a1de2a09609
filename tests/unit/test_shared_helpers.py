"""Helpers shared across packages: one "missing score" test, thresholds declared once, file digests,
torch settings and the plan cache that leave no process-wide state behind, one model loader."""

from __future__ import annotations

import hashlib
import math
import os

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.config import CategoryThresholds, FilterConfig, Thresholds
from pipeline.errors import ModelUnavailableError
from pipeline.records import is_missing
from pipeline.render.base import load_pretrained
from pipeline.render.speed import torch_settings
from pipeline.run.layout import RunPaths
from pipeline.run.plan_io import load_plan, read_shard_plans, shard_plans, write_plan
from pipeline.run.reports import file_digest


def test_is_missing_is_none_or_nan_of_any_float():
    assert is_missing(None) and is_missing(math.nan) and is_missing(np.float64("nan")) and is_missing(np.float32("nan"))
    assert is_missing(pd.DataFrame({"x": [None, 1.0]}).to_dict("records")[0]["x"])  # a Parquet null via pandas
    assert not any(is_missing(v) for v in (0.0, 0, 1, np.float32(0.5), "nan", "", False))


def test_category_thresholds_are_the_thresholds_all_optional():
    assert list(CategoryThresholds.model_fields) == list(Thresholds.model_fields)
    assert all(f.default is None and not f.is_required() for f in CategoryThresholds.model_fields.values())
    assert CategoryThresholds.__name__ == "CategoryThresholds" and "unset fields keep" in CategoryThresholds.__doc__
    with pytest.raises(ValueError):
        CategoryThresholds(min_margin="high")
    with pytest.raises(ValueError):
        CategoryThresholds(no_such_threshold=1.0)  # extra keys forbidden, as in every section
    cfg = FilterConfig(min_margin=0.2, by_category={"nudity": {"max_aligned_violation": 0.3}})
    assert cfg.for_category("nudity") == Thresholds(min_margin=0.2, max_aligned_violation=0.3)
    assert cfg.for_category("gore") == Thresholds(min_margin=0.2)


def test_file_digest_is_the_sha256_of_the_bytes(tmp_path):
    f = tmp_path / "x.bin"
    data = os.urandom(3 * (1 << 20) + 17)  # over several of the old 1 MiB chunks
    f.write_bytes(data)
    assert file_digest(f) == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_torch_settings_are_restored_after_the_block():
    threads, tf32 = torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32
    with torch_settings(1, allow_tf32=True):
        assert torch.get_num_threads() == 1
        assert torch.backends.cuda.matmul.allow_tf32 == (tf32 or torch.cuda.is_available())
    assert (torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32) == (threads, tf32)
    with pytest.raises(RuntimeError), torch_settings(1, allow_tf32=False):
        raise RuntimeError
    assert torch.get_num_threads() == threads
    with torch_settings(None, allow_tf32=False):  # None: the thread count is left as it is
        assert torch.get_num_threads() == threads


def test_a_shard_reads_its_part_of_the_plan_as_the_runner_slices_it(tmp_path):
    from factories import make_plan

    paths = RunPaths(tmp_path / "a")
    paths.root.mkdir()
    write_plan(paths, [make_plan(id=f"pair-{i}", seed=i) for i in range(5)])
    plans = load_plan(paths)
    assert [p.id for p in plans] == [f"pair-{i}" for i in range(5)]
    for index in range(4):  # the last shard short, one past the end empty
        assert read_shard_plans(paths, index, 2) == shard_plans(plans, index, 2)


def test_one_loader_for_renderer_and_trainer(tmp_path):
    from livo_train.model import load_base

    # (an unavailable hub id is ModelUnavailableError: test_render checks it through the renderer; through
    # the trainer's loader it costs the hub client's network retries, ~20 s offline)
    broken = tmp_path / "broken"
    (broken / "scheduler").mkdir(parents=True)
    (broken / "scheduler" / "scheduler_config.json").write_text("{not json")
    with pytest.raises(Exception) as info:  # a local dir that fails to load is broken: its real error goes through
        load_base(str(broken), parts=("scheduler",))
    assert not isinstance(info.value, ModelUnavailableError)

    class Loads:
        @staticmethod
        def from_pretrained(name, **kwargs):
            return name, kwargs

    assert load_pretrained(Loads, "any/id", subfolder="unet") == ("any/id", {"subfolder": "unet"})
