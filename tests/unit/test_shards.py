"""Data contract: shard schema, atomic writes, pandas / datasets round trips and run validation."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from factories import make_plan
from pipeline.records import PairPlan
from pipeline.run.atomic import temp_path
from pipeline.run.layout import shard_name
from pipeline.run.schema import REJECTED_SCHEMA, SHARD_SCHEMA, encode_image, pair_row, rejected_row
from pipeline.run.score_columns import NUMERIC_COLUMNS, TEXT_COLUMNS
from pipeline.run.tables import read_rejected, read_run, write_table_atomic
from pipeline.run.validate import decode_image, validate_run

SIZES = {"png": (48, 32), "jpeg": (40, 24)}


def _draw(size: tuple[int, int], color: str) -> Image.Image:
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.rectangle([4, 4, size[0] - 5, size[1] - 5], outline=color, width=3)
    d.ellipse([10, 8, 20, 18], fill=color)
    return img


def _plan(i: int, *, kind: str = "toxicity", attribute: str | None = None) -> PairPlan:
    return make_plan(
        kind,
        id=f"pair-{i:04d}",
        prompt=f"a portrait of person {i}",
        principle_id="no-violence",
        principle="Images should not depict graphic violence.",
        category="violence",
        aligned_prompt=f"a calm portrait of person {i}",
        violating_prompt=f"a bloody portrait of person {i}",
        aligned_negative_prompt="blood, gore",
        seed=1000 + i,
        concepts=("blood",),
        safe_concepts=("paint",),
        attribute=attribute,
        source="template:test",
        selection_method="keyword",
    )


def _scores(i: int) -> dict[str, float]:
    return {c: 0.25 * k + i for k, c in enumerate(NUMERIC_COLUMNS)}


def _rows(start: int, n: int, fmt: str) -> list[dict]:
    ext = "jpg" if fmt == "jpeg" else "png"
    rows = []
    for i in range(start, start + n):
        bias = i % 2 == 1
        plan = _plan(i, kind="bias" if bias else "toxicity", attribute="female" if bias else None)
        a = encode_image(_draw(SIZES[fmt], "green"), fmt)
        v = encode_image(_draw(SIZES[fmt], "red"), fmt)
        rows.append(pair_row(plan, a, v, _scores(i), model="tiny-sd", config_hash="abc123", image_ext=ext))
    return rows


def _make_run(root: Path) -> Path:
    """A valid run: two shards (PNG and JPEG images), one rejected file, config and stats."""
    run = root / "run"
    write_table_atomic(_rows(0, 3, "png"), run / "shards" / shard_name(0), SHARD_SCHEMA)
    write_table_atomic(_rows(3, 2, "jpeg"), run / "shards" / shard_name(1), SHARD_SCHEMA)
    rej = rejected_row(_plan(99), None, None, {"aligned_clip": 0.1}, reason="fidelity_too_low",
                       model="tiny-sd", config_hash="abc123", image_ext="png")
    write_table_atomic([rej], run / "rejected" / "rejected-00000.parquet", REJECTED_SCHEMA)
    (run / "config.yaml").write_text("model: tiny-sd\n")
    (run / "stats.json").write_text(json.dumps({"kept": 5, "rejected": 1}))
    return run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return _make_run(tmp_path)


def test_schema_and_hf_metadata():
    assert SHARD_SCHEMA.names[:2] == ["id", "prompt"] and SHARD_SCHEMA.names[-1] == "config_hash"
    img_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    assert SHARD_SCHEMA.field("aligned").type == img_type
    assert SHARD_SCHEMA.field("seed").type == pa.int64()
    assert all(SHARD_SCHEMA.field(c).type == pa.float32() for c in NUMERIC_COLUMNS)
    assert all(SHARD_SCHEMA.field(c).type == pa.string() for c in TEXT_COLUMNS)  # a judge's words (VLM)
    assert REJECTED_SCHEMA.names == SHARD_SCHEMA.names + ["reason"]
    meta = json.loads(SHARD_SCHEMA.metadata[b"huggingface"])
    feats = meta["info"]["features"]
    assert list(feats) == SHARD_SCHEMA.names
    assert feats["aligned"] == {"_type": "Image"} and feats["violating"] == {"_type": "Image"}
    assert feats["prompt"] == {"dtype": "string", "_type": "Value"}
    assert feats["aligned_clip"] == {"dtype": "float32", "_type": "Value"}


def test_encode_image_deterministic_and_formats():
    img = _draw((30, 20), "blue")
    assert encode_image(img) == encode_image(img.copy())
    assert encode_image(img, "jpeg") == encode_image(img, "jpeg")
    assert decode_image(encode_image(img)).format == "PNG"
    rgba = img.convert("RGBA")
    jpg = decode_image(encode_image(rgba, "jpg", quality=80))
    assert jpg.format == "JPEG" and jpg.mode == "RGB" and jpg.size == (30, 20)
    assert decode_image(encode_image(img)).tobytes() == img.tobytes()  # PNG is lossless
    with pytest.raises(ValueError):
        encode_image(img, "gif")


def test_pair_row_rejects_unknown_score():
    with pytest.raises(ValueError, match="unknown score"):
        pair_row(_plan(0), b"x", b"y", {"clip": 1.0}, model="m", config_hash="h", image_ext="png")


def test_pandas_round_trip(run_dir: Path):
    expected = _rows(0, 3, "png") + _rows(3, 2, "jpeg")
    df = read_run(run_dir)
    assert list(df.columns) == SHARD_SCHEMA.names
    assert df["id"].tolist() == [r["id"] for r in expected]  # sorted shard order, row order kept
    assert df["seed"].tolist() == [r["seed"] for r in expected]
    assert str(df["aligned_clip"].dtype) == "float32"
    assert df["aligned_concept"].tolist() == pytest.approx([r["aligned_concept"] for r in expected])
    for got, want in zip(df.to_dict("records"), expected):
        for col in ("aligned", "violating"):
            assert got[col] == want[col]  # bytes and path identical
        assert got["aligned_prompt"] == want["aligned_prompt"]
        assert got["principle"] == want["principle"]
        # pandas >= 3 turns null strings into NaN
        assert (pd.isna(got["attribute"]) and want["attribute"] is None) or got["attribute"] == want["attribute"]
    assert df.loc[0, "aligned"]["path"] == "pair-0000-aligned.png"
    assert df.loc[3, "violating"]["path"] == "pair-0003-violating.jpg"
    assert decode_image(df.loc[3, "aligned"]).size == SIZES["jpeg"]
    # plain pandas on the folder works too (hidden temp files would be skipped)
    assert len(pd.read_parquet(run_dir / "shards")) == 5

    rej = read_rejected(run_dir)
    assert list(rej.columns) == REJECTED_SCHEMA.names
    assert rej["reason"].tolist() == ["fidelity_too_low"]
    assert rej.loc[0, "aligned"] is None and pd.isna(rej.loc[0, "violating_clip"])
    assert read_rejected(run_dir.parent / "nothing").empty


def test_datasets_round_trip(run_dir: Path, tmp_path: Path):
    import datasets

    files = sorted(str(p) for p in (run_dir / "shards").glob("*.parquet"))
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf-cache"))["train"]
    assert isinstance(ds.features["aligned"], datasets.Image)
    assert isinstance(ds.features["violating"], datasets.Image)
    assert ds.features["seed"] == datasets.Value("int64")
    assert ds.features["aligned_clip"] == datasets.Value("float32")
    assert ds.column_names == SHARD_SCHEMA.names
    assert len(ds) == 5
    first, last = ds[0], ds[4]
    assert isinstance(first["aligned"], Image.Image) and first["aligned"].size == SIZES["png"]
    assert isinstance(last["violating"], Image.Image) and last["violating"].size == SIZES["jpeg"]
    assert first["attribute"] is None and ds[1]["attribute"] == "female"


def test_atomic_write_no_temp_and_empty_table(tmp_path: Path):
    path = tmp_path / "shards" / shard_name(0)
    write_table_atomic(_rows(0, 1, "png"), path, SHARD_SCHEMA)
    assert sorted(os.listdir(path.parent)) == [path.name]
    assert temp_path(path).name.startswith(f".{path.name}.tmp-")

    empty = write_table_atomic([], tmp_path / "shards" / shard_name(1), SHARD_SCHEMA)
    t = pq.read_table(empty)
    assert t.num_rows == 0 and t.schema.names == SHARD_SCHEMA.names
    assert t.schema.metadata[b"huggingface"] == SHARD_SCHEMA.metadata[b"huggingface"]
    assert sorted(os.listdir(path.parent)) == [path.name, empty.name]


def test_atomic_write_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "shards" / shard_name(0)
    write_table_atomic(_rows(0, 1, "png"), path, SHARD_SCHEMA)
    before = path.read_bytes()

    def broken_write(table, where, **kwargs):  # dies halfway through the file
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr("pipeline.run.tables.pq.write_table", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_table_atomic(_rows(0, 2, "png"), path, SHARD_SCHEMA)
    assert os.listdir(path.parent) == [path.name]  # temp file removed
    assert path.read_bytes() == before  # the old complete file is untouched

    row = _rows(0, 1, "png")[0]
    row["seed"] = "not-an-int"
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        write_table_atomic([row], tmp_path / "other.parquet", SHARD_SCHEMA)
    assert not (tmp_path / "other.parquet").exists()


def test_write_checks_keys_and_required(tmp_path: Path):
    row = _rows(0, 1, "png")[0]
    with pytest.raises(ValueError, match="unknown"):
        write_table_atomic([{**row, "typo": 1}], tmp_path / "a.parquet", SHARD_SCHEMA)
    with pytest.raises(ValueError, match="required"):
        write_table_atomic([{**row, "aligned": None}], tmp_path / "b.parquet", SHARD_SCHEMA)
    assert not list(tmp_path.iterdir())


def test_validate_good_run(run_dir: Path):
    assert validate_run(run_dir) == []


def _rewrite(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path)


def test_validate_corrupt_image(run_dir: Path):
    path = run_dir / "shards" / shard_name(1)
    rows = pq.read_table(path).to_pylist()
    rows[1]["violating"] = {"bytes": b"\x89PNG not really", "path": rows[1]["violating"]["path"]}
    _rewrite(path, pa.Table.from_pylist(rows, schema=SHARD_SCHEMA))
    problems = validate_run(run_dir)
    assert len(problems) == 1, problems
    assert "shards/shard-00001.parquet" in problems[0]
    assert "pair-0004" in problems[0] and "'violating'" in problems[0] and "does not decode" in problems[0]


def test_validate_duplicate_id(run_dir: Path):
    write_table_atomic(_rows(2, 1, "png"), run_dir / "shards" / shard_name(2), SHARD_SCHEMA)
    problems = validate_run(run_dir)
    assert problems == ["duplicate id 'pair-0002' in shards/shard-00000.parquet, shards/shard-00002.parquet"]


def test_validate_missing_column_and_wrong_type(run_dir: Path):
    path = run_dir / "shards" / shard_name(0)
    table = pq.read_table(path)
    table = table.drop_columns(["config_hash"])
    table = table.set_column(table.schema.get_field_index("seed"), "seed", table["seed"].cast(pa.int32()))
    _rewrite(path, table)
    problems = validate_run(run_dir)
    assert any("shard-00000.parquet: missing column 'config_hash'" in p for p in problems), problems
    assert any("column 'seed' has type int32, expected int64" in p for p in problems), problems


def test_validate_missing_files_and_leftovers(run_dir: Path):
    (run_dir / "config.yaml").unlink()
    (run_dir / "shards" / ".shard-00002.parquet.tmp-123-abcd").write_bytes(b"partial")
    problems = validate_run(run_dir)
    assert any(p.startswith("missing config.yaml") for p in problems), problems
    assert any("leftover temporary file" in p and ".tmp-123" in p for p in problems), problems
    assert len(problems) == 2, problems


def test_validate_same_prompts_and_missing_metadata(run_dir: Path):
    path = run_dir / "shards" / shard_name(0)
    rows = pq.read_table(path).to_pylist()
    rows[0]["violating_prompt"] = rows[0]["aligned_prompt"]
    _rewrite(path, pa.Table.from_pylist(rows, schema=SHARD_SCHEMA))
    problems = validate_run(run_dir)
    assert len(problems) == 1 and "pair-0000" in problems[0] and "aligned_prompt == violating_prompt" in problems[0]

    _rewrite(path, pa.Table.from_pylist(rows, schema=SHARD_SCHEMA.remove_metadata()))
    assert any("lacks 'huggingface'" in p for p in validate_run(run_dir))


def test_validate_no_shards(tmp_path: Path):
    run = tmp_path / "empty-run"
    (run / "shards").mkdir(parents=True)
    (run / "config.yaml").write_text("a: 1\n")
    (run / "stats.json").write_text("{}")
    assert validate_run(run) == [f"shards/ in {run} holds no .parquet file"]
    (run / "shards").rmdir()
    assert validate_run(run) == [f"missing shards/ folder in {run}"]
    assert validate_run(tmp_path / "nope") == [f"run folder {tmp_path / 'nope'} does not exist"]


# ---------------------------------------------------------------- completion markers: the query and the repair


def _damaged_run(tmp_path: Path):
    """A finished two-shard run whose shard 1 was truncated after its marker was written."""
    from fake_run import make_run
    from pipeline.run.layout import RunPaths

    paths = RunPaths(make_run(tmp_path / "run"))
    whole = paths.shard(1).read_bytes()
    paths.shard(1).write_bytes(whole[:100])
    return paths, f"shards/{shard_name(1)} has 100 bytes, its marker says {len(whole)}"


def _markers(paths) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(paths.markers.iterdir())}


def test_asking_which_shards_are_complete_changes_nothing(tmp_path: Path):
    from pipeline.build.executor import completed_shards

    paths, damage = _damaged_run(tmp_path)
    before = _markers(paths)
    reports, damaged = completed_shards(paths, 2)
    assert sorted(reports) == [0] and damaged == {1: damage}
    assert _markers(paths) == before
    assert completed_shards(paths, 2) == (reports, damaged)  # asked again: the same answer


def test_the_repair_drops_the_damaged_markers_only(tmp_path: Path):
    from pipeline.build.executor import completed_shards
    from pipeline.run.reports import drop_damaged_markers

    paths, _damage = _damaged_run(tmp_path)
    reports, damaged = completed_shards(paths, 2)
    drop_damaged_markers(paths, damaged)
    assert list(_markers(paths)) == ["shard-00000.json"]
    assert completed_shards(paths, 2) == (reports, {})  # shard 1 is now plainly pending


def test_a_resumed_build_redoes_the_shard_whose_marker_is_stale(tmp_path: Path):
    from factories import tiny_config
    from fake_run import make_run
    from pipeline.build.executor import completed_shards, run_build
    from pipeline.run.layout import RunPaths
    from pipeline.run.manifest import read_manifest
    from pipeline.run.reports import ShardReport, write_marker

    clean = RunPaths(make_run(tmp_path / "clean"))
    paths, damage = _damaged_run(tmp_path)
    marker_seen = {}

    def redo(prepared, pending):
        """A runner that redoes a shard as a clean build writes it."""
        for index in pending:
            marker_seen[index] = paths.marker(index).exists()
            for f in (clean.shard(index), clean.rejected_shard(index)):
                shutil.copyfile(f, paths.root / f.relative_to(clean.root))
            report = ShardReport(**json.loads(clean.marker(index).read_text()))
            write_marker(paths, report)
            yield index, report, None

    stats = run_build(tiny_config(["shards.shard_size=5"]), paths.root, redo,
                      prepare=lambda cfg, out: read_manifest(RunPaths(Path(out))))
    assert marker_seen == {1: False}  # redone, and the stale marker was gone before the redo began
    assert stats["repaired_shards"] == [{"index": 1, "damage": damage}]
    reports, damaged = completed_shards(paths, 2)
    assert sorted(reports) == [0, 1] and damaged == {}
    assert paths.shard(1).read_bytes() == clean.shard(1).read_bytes()
