"""One real build of the tiny profile through the Prefect flow, then what a user does with it."""

import json

import datasets
import pandas as pd
import pytest
import yaml
from PIL import Image

from factories import tiny_config
from livo_cli import run_livo
from pipeline.config import FilterConfig, load_config
from pipeline.run.layout import RunPaths
from pipeline.run.schema import SCORE_COLUMNS
from pipeline.run.validate import decode_image, validate_run

pytestmark = pytest.mark.slow


def overrides(models_dir):
    # The tiny profile, fewer prompts: the full profile is what `make shards` runs.
    return ["prompts.per_category=3", "shards.shard_size=8", f"models_cache={models_dir}"]


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory, tiny_sd_path, tiny_clip_path):
    from flows.build_dataset import build_dataset_flow

    out = tmp_path_factory.mktemp("runs") / "tiny"
    sets = overrides(tiny_sd_path.parent)
    stats = build_dataset_flow(config="configs/tiny.yaml", out=str(out), overrides=sets)
    return out, stats, sets


def test_flow_writes_a_valid_run(flow_run):
    out, stats, _ = flow_run
    assert validate_run(out) == []
    for name in ("config.yaml", "stats.json", "README.md", "run.json", "plan.jsonl", "plan_dropped.jsonl"):
        assert (out / name).exists(), name
    # 33 (prompt, principle) pairs: planned, or refused by the prompt checks before rendering
    assert stats["planned"] + stats["refused_at_planning"] == 33
    assert stats["kept"] + stats["dropped"] == stats["planned"]
    dropped = sum(v for k, v in stats.items() if k.startswith("dropped_"))
    assert dropped == stats["dropped"] + stats["refused_at_planning"]
    refused = [json.loads(line) for line in (out / "plan_dropped.jsonl").read_text().splitlines()]
    assert len(refused) == stats["refused_at_planning"]
    assert stats["kept"] > 0
    saved = load_config(out / "config.yaml")
    assert saved.prompts.per_category == 3 and saved.render.model == "builtin:tiny-sd"


def test_shards_read_with_pandas_and_datasets(flow_run):
    out, stats, _ = flow_run
    df = pd.read_parquet(out / "shards")
    assert len(df) == stats["kept"] and df["id"].is_unique
    for col in ("id", "prompt", "principle", "principle_id", "category", "aligned", "violating",
                "aligned_prompt", "violating_prompt", "seed", "model", "config_hash", *SCORE_COLUMNS):
        assert col in df.columns
    assert (df.aligned_prompt != df.violating_prompt).all()
    img = decode_image(df.iloc[0].aligned)
    assert img.size == (64, 64)
    ds = datasets.load_dataset("parquet", data_files=str(out / "shards" / "*.parquet"),
                               cache_dir=str(out.parent / "hf-cache"))["train"]
    assert isinstance(ds[0]["violating"], Image.Image) and len(ds) == stats["kept"]
    rejected = pd.read_parquet(out / "rejected")
    assert len(rejected) == stats["dropped"]
    assert set(rejected["reason"]) <= {k.removeprefix("dropped_") for k in stats if k.startswith("dropped_")}


def test_judges_columns_and_calibration_of_a_tiny_run(flow_run, tmp_path):
    out, stats, _ = flow_run
    df = pd.concat([pd.read_parquet(out / "shards"), pd.read_parquet(out / "rejected")])
    assert df["aligned_nsfw"].between(0, 1).all() and df["violating_nsfw"].notna().all()  # OpenNSFW on every pair
    bias, toxicity = df[df.kind == "bias"], df[df.kind == "toxicity"]
    assert len(bias) and (bias["aligned_faces"] == 0).all()  # the real face classifier finds no face in noise
    assert set(bias["attribute_judge"]) == {"clip"} and toxicity["attribute_judge"].isna().all()
    assert toxicity["aligned_faces"].isna().all() and df["aligned_q16"].isna().all()  # faces: bias only; Q16 off
    proc = run_livo("calibrate", str(out), "--out", str(tmp_path / "cal"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert result["pairs"] == stats["planned"]  # every judged pair, kept and rejected
    assert (tmp_path / "cal" / "calibration.png").stat().st_size > 0
    snippet = yaml.safe_load((tmp_path / "cal" / "filters.yaml").read_text())
    assert set(snippet) == {"filters"} and FilterConfig(**snippet["filters"])  # pastes into a profile


def test_rerun_resumes_without_rendering(flow_run):
    from pipeline.build.executor import build_dataset

    out, stats, sets = flow_run
    before = {p.name: p.read_bytes() for p in (out / "shards").glob("*.parquet")}
    marker = RunPaths(out).marker(0)
    again = build_dataset(tiny_config(sets + ["render.batch_size=2"]), out)
    assert again["kept"] == stats["kept"]
    assert {p.name: p.read_bytes() for p in (out / "shards").glob("*.parquet")} == before
    assert json.loads(marker.read_text())["planned"] == 8


def test_other_config_into_same_folder_is_refused(flow_run):
    from pipeline.build.prepare import prepare_run

    out, _, sets = flow_run
    with pytest.raises(RuntimeError, match="different configuration"):
        prepare_run(tiny_config(sets + ["render.steps=5"]), out)


livo = run_livo


def test_cli_validate_reports_a_broken_run(flow_run, tmp_path):
    import shutil

    out, _, _ = flow_run
    assert livo("validate", str(out)).returncode == 0
    broken = tmp_path / "broken"
    shutil.copytree(out, broken, ignore=shutil.ignore_patterns("models"))
    (broken / "stats.json").unlink()
    result = livo("validate", str(broken))
    assert result.returncode == 1 and "stats.json" in result.stderr


def test_cli_principles_and_select():
    result = livo("principles", "list")
    assert result.returncode == 0 and "no_gore" in result.stdout and "gender_equality" in result.stdout
    result = livo("select", "--set", "selector=keyword", "a bloody knight", "a misty lake at dawn")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["principle_id"] == "no_gore" and rows[0]["category"] == "gore"
    assert rows[1]["principle_id"] is None and rows[1]["category"] is None


def test_missing_real_model_is_a_clear_error(tmp_path):
    result = livo("shards", "--local", "--out", str(tmp_path / "r"), "--set", "selector=keyword",
                  "--set", "prompts.per_category=1", "--set", f"render.model={tmp_path / 'no-such-model'}")
    assert result.returncode == 1
    assert "no-such-model" in result.stderr and "configs/tiny.yaml" in result.stderr
