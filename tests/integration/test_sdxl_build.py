"""A tiny SDXL, saved as a diffusers folder, renders a whole build as users run it (`--set
render.model=PATH` on the tiny profile): shards, validate, report, the Pick-a-Pic export, and
`livo train`, which refuses SDXL as LiVO's base and trains an SD 1.5-family base on SDXL's images."""

from __future__ import annotations

import subprocess

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from conftest import ROOT
from factories import pixels, sdxl_renderer
from livo_cli import livo_shards_cmd, run_livo
from pipeline.run.validate import decode_image, validate_run

pytestmark = pytest.mark.slow

STEPS = 2


@pytest.fixture(scope="module")
def sdxl_run(tmp_path_factory, tiny_sdxl_path, tiny_clip_path):
    out = tmp_path_factory.mktemp("sdxl") / "run"
    sets = ["selector=keyword", "prompts.per_category=2", "shards.shard_size=8", f"render.steps={STEPS}",
            "torch_threads=1", f"render.model={tiny_sdxl_path}", f"models_cache={tiny_clip_path.parent}"]
    done = subprocess.run(livo_shards_cmd(out, sets, "--local"), check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_the_sdxl_run_is_valid_and_its_images_are_sdxls_own(sdxl_run, tiny_sdxl_path):
    assert validate_run(sdxl_run) == []
    assert run_livo("validate", str(sdxl_run)).returncode == 0
    df = pd.read_parquet(sdxl_run / "shards")
    assert len(df) > 0 and set(df["model"]) == {str(tiny_sdxl_path)}
    # A violating side, rendered in a batch with aligned sides that have a negative prompt, is what SDXL
    # draws for its prompt alone (negative_prompt=None); an aligned side is its prompt with its negative.
    row = df[df.aligned_negative_prompt != ""].iloc[0]
    renderer = sdxl_renderer(tiny_sdxl_path, steps=STEPS)
    pipe = renderer.pipeline
    for side, prompt, negative in (("violating", row.violating_prompt, None),
                                   ("aligned", row.aligned_prompt, [row.aligned_negative_prompt])):
        alone = pipe(prompt=[prompt], negative_prompt=negative, num_inference_steps=STEPS, guidance_scale=7.5,
                     width=64, height=64, generator=[torch.Generator("cpu").manual_seed(int(row.seed))]).images[0]
        diff = np.abs(pixels(decode_image(row[side])) - pixels(alone))
        assert diff.max() <= 4 and diff.mean() < 0.5, (side, diff.max(), diff.mean())


def test_the_sdxl_run_reports_and_exports_to_pickapic(sdxl_run, tmp_path):
    report = run_livo("report", str(sdxl_run))
    assert report.returncode == 0, report.stderr
    assert (sdxl_run / "report.html").stat().st_size > 0
    out = tmp_path / "pickapic"
    export = run_livo("export", str(sdxl_run), str(out), "--format", "pickapic")
    assert export.returncode == 0, export.stderr
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf-cache"))
    kept = pd.read_parquet(sdxl_run / "shards")
    assert len(ds) == len(kept) and set(ds["caption"]) <= set(kept["prompt"])
    import io

    assert Image.open(io.BytesIO(ds[0]["jpg_0"])).size == (64, 64)


def test_livo_train_refuses_sdxl_and_trains_an_sd15_base_on_its_images(sdxl_run, tiny_sd_path, tmp_path):
    refused = run_livo("train", "--data", str(sdxl_run), "--out", str(tmp_path / "refused"))
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("livo: ") and "StableDiffusionXLPipeline" in last and "model.base" in last
    assert not (tmp_path / "refused").exists()  # refused before anything was written

    out = tmp_path / "trained"
    trained = run_livo("train", "--data", str(sdxl_run), "--out", str(out), "--set", f"model.base={tiny_sd_path}",
                       "--set", "data.resolution=32", "--set", "train.batch_size=4", "--set", "train.max_steps=2",
                       "--set", "train.checkpoint_every=2")
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    notes = [line for line in trained.stdout.splitlines() if line.startswith("livo train: ")]
    assert len(notes) == 1 and "(StableDiffusionXLPipeline)" in notes[0] and str(tiny_sd_path) in notes[0]
    assert (out / "training.json").exists()
