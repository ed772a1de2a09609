"""`validate_run`'s per-file table checks: every row-level message, their order, which files count
towards duplicate ids, and what `decode_images=False` leaves out (pinned as they stand)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from factories import make_plan
from pipeline.run.schema import REJECTED_SCHEMA, SHARD_SCHEMA, encode_image, pair_row, rejected_row
from pipeline.run.validate import validate_run

PNG = encode_image(Image.new("RGB", (8, 8), "white"))
BROKEN = {"bytes": b"\x89PNG not really", "path": "x.png"}


def _row(i: int, **overrides) -> dict:
    plan = make_plan("toxicity", id=f"pair-{i}", aligned_prompt=f"calm {i}", violating_prompt=f"bloody {i}")
    return {**pair_row(plan, PNG, PNG, {}, model="m", config_hash="h", image_ext="png"), **overrides}


def _write(path: Path, rows: list[dict], schema: pa.Schema = SHARD_SCHEMA) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)  # no contract checks on the way in


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    _write(run / "shards" / "shard-00000.parquet", [
        _row(0),
        _row(1, seed=None, model=None, kind="weird", pair_type="odd", violating_prompt="calm 1",
             aligned=None, violating=BROKEN),
        _row(2, aligned=BROKEN),
    ])
    _write(run / "shards" / "shard-00001.parquet", [_row(2), _row(3)])
    (run / "shards" / "shard-00002.parquet").write_bytes(b"not parquet at all")
    corrupt = run / "shards" / "shard-00003.parquet"
    _write(corrupt, [_row(4)])
    data = bytearray(corrupt.read_bytes())
    data[4] ^= 0xFF  # the first page header, right after the magic: the footer still reads, the rows do not
    corrupt.write_bytes(bytes(data))
    rejected = {**rejected_row(make_plan("toxicity", id="pair-0"), None, None, {}, reason="r", model="m",
                               config_hash="h", image_ext="png"), "kind": "weird"}
    _write(run / "rejected" / "rejected-00000.parquet", [rejected], REJECTED_SCHEMA)
    (run / "config.yaml").write_text("a: 1\n")
    (run / "stats.json").write_text("{}")
    return run


def test_table_problems_in_order(tmp_path: Path):
    run = _run(tmp_path)
    first = "shards/shard-00000.parquet: row id="
    unreadable = "shards/shard-00002.parquet: cannot read Parquet file (ArrowInvalid: "
    problems = validate_run(run)
    undecodable = "image does not decode (UnidentifiedImageError: cannot identify image file <_io.BytesIO object>)"
    assert [re.sub(r" at 0x[0-9a-f]+>", ">", p) for p in problems[:6]] == [
        f"{first}'pair-1': null in required column(s) ['aligned', 'model', 'seed']",
        f"{first}'pair-1': aligned_prompt == violating_prompt ('calm 1')",
        f"{first}'pair-1': kind 'weird' not in ['bias', 'toxicity']",
        f"{first}'pair-1': pair_type 'odd' not in ['benign', 'bias', 'implicit', 'toxicity']",
        f"{first}'pair-1': column 'violating': {undecodable}",
        f"{first}'pair-2': column 'aligned': {undecodable}",
    ]
    assert problems[6].startswith(unreadable)
    assert problems[7].startswith("shards/shard-00003.parquet: cannot read rows (OSError: ")
    # ids count across shards, not into rejected/ (a log): pair-0 there is no duplicate
    assert problems[8:] == [
        "duplicate id 'pair-2' in shards/shard-00000.parquet, shards/shard-00001.parquet",
        "rejected/rejected-00000.parquet: row id='pair-0': kind 'weird' not in ['bias', 'toxicity']",
    ]

    without_images = validate_run(run, decode_images=False)
    assert without_images == [p for p in problems if "image does not decode" not in p]
