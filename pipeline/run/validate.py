"""Check a finished run folder against the data contract in `pipeline.run.schema`.

`validate_run` returns human-readable problems (empty list == valid) instead of raising, so a CLI or a
test can show all of them at once; `completeness_problems` is its cheap part (is every planned shard
complete, with files matching its marker?) that training checks before it reads a run; `repair_hint`
is the command that repairs a run folder.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from PIL import Image

from pipeline.run.atomic import is_temp_name
from pipeline.run.layout import CONFIG_FILE, MANIFEST_FILE, SHARDS_DIR, STATS_FILE, RunPaths, parquet_files
from pipeline.run.manifest import read_manifest
from pipeline.run.reports import check_marker
from pipeline.run.schema import (
    IMAGE_COLUMNS,
    KINDS,
    PAIR_TYPES,
    REJECTED_REQUIRED,
    REJECTED_SCHEMA,
    SHARD_REQUIRED,
    SHARD_SCHEMA,
)

_BATCH_ROWS = 64  # rows per read batch: bounds memory when decoding images of large shards


def decode_image(cell: object) -> Image.Image:
    """A PIL image from an image cell: a ``{"bytes", "path"}`` dict (pandas), raw bytes, or an image
    (datasets already decodes). Pixels are loaded here so a corrupt file fails now, not later."""
    if isinstance(cell, Image.Image):
        return cell
    if isinstance(cell, dict):
        data = cell.get("bytes")
        if data is None:
            raise ValueError(f"image cell has no bytes (path={cell.get('path')!r})")
    elif isinstance(cell, (bytes, bytearray, memoryview)):
        data = bytes(cell)
    else:
        raise TypeError(f"not an image cell: {type(cell).__name__}")
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _schema_problems(name: str, schema: pa.Schema, expected: pa.Schema) -> list[str]:
    problems = []
    names = set(schema.names)
    for field in expected:
        if field.name not in names:
            problems.append(f"{name}: missing column {field.name!r} ({field.type})")
            continue
        got = schema.field(field.name)
        if not got.type.equals(field.type):
            problems.append(f"{name}: column {field.name!r} has type {got.type}, expected {field.type}")
        elif got.nullable != field.nullable:
            # datasets drops the metadata feature (Image -> plain struct) when nullability differs
            problems.append(f"{name}: column {field.name!r} is declared non-nullable; the contract keeps all fields nullable")
    extra = [n for n in schema.names if n not in set(expected.names)]
    if extra:
        problems.append(f"{name}: unexpected column(s) {extra}")
    if not problems and schema.names != expected.names:
        problems.append(f"{name}: columns out of order: {schema.names}, expected {expected.names}")
    meta = (schema.metadata or {}).get(b"huggingface")
    want = json.loads(expected.metadata[b"huggingface"])
    if meta is None:
        problems.append(f"{name}: schema metadata lacks 'huggingface' features (datasets would load images as plain structs)")
    else:
        try:
            ok = json.loads(meta) == want
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"{name}: 'huggingface' schema metadata differs from the contract features")
    return problems


def _file_label(path: Path) -> str:
    """How problems name a table file: its folder and name (``shards/shard-00000.parquet``)."""
    return f"{path.parent.name}/{path.name}"


def _row_problems(where: str, row: dict, required: frozenset[str]) -> list[str]:
    """Nulls in required columns, equal prompts and enum values of one row; ``where`` names the row."""
    problems = []
    nulls = sorted(c for c in required if row[c] is None)
    if nulls:
        problems.append(f"{where}: null in required column(s) {nulls}")
    same = row["aligned_prompt"] is not None and row["aligned_prompt"] == row["violating_prompt"]
    # an implicit-harm pair's sides are the user's one prompt: its aligned side differs by its negative prompt
    if same and not (row["pair_type"] == "implicit" and row.get("aligned_negative_prompt")):
        problems.append(f"{where}: aligned_prompt == violating_prompt ({row['aligned_prompt']!r})")
    if row["kind"] is not None and row["kind"] not in KINDS:
        problems.append(f"{where}: kind {row['kind']!r} not in {sorted(KINDS)}")
    if row["pair_type"] is not None and row["pair_type"] not in PAIR_TYPES:
        problems.append(f"{where}: pair_type {row['pair_type']!r} not in {sorted(PAIR_TYPES)}")
    return problems


def _image_problems(where: str, row: dict) -> list[str]:
    """The image cells of one row that do not decode (a null cell is reported as a null, if required)."""
    problems = []
    for col in IMAGE_COLUMNS:
        if row[col] is None:
            continue
        try:
            decode_image(row[col])
        except Exception as e:  # noqa: BLE001 - any decoder error is this cell's problem, reported
            problems.append(f"{where}: column {col!r}: image does not decode ({type(e).__name__}: {e})")
    return problems


def _rows(pf: pq.ParquetFile, columns: list[str]) -> Iterator[dict]:
    """The rows of a Parquet file, ``_BATCH_ROWS`` at a time (images of large shards stay bounded)."""
    for batch in pf.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
        yield from batch.to_pylist()


@dataclass
class _TableCheck:
    """What checking one table file found: its problems, and the ids of the rows read, in file order."""

    problems: list[str]
    ids: list[str]


def _check_table_file(path: Path, expected: pa.Schema, required: frozenset[str], *,
                      decode_images: bool) -> _TableCheck:
    """Schema, nulls, images, prompt equality and enum values of one Parquet file, and its ids."""
    name = _file_label(path)
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except Exception as e:  # noqa: BLE001 - not Parquet, truncated, ...: reported
        return _TableCheck([f"{name}: cannot read Parquet file ({type(e).__name__}: {e})"], [])
    found = _TableCheck(_schema_problems(name, schema, expected), [])
    if found.problems:
        return found  # rows of a file with the wrong columns are not worth checking one by one

    columns = ["id", "kind", "pair_type", "aligned_prompt", "violating_prompt", *sorted(required)]
    if decode_images:
        columns += list(IMAGE_COLUMNS)
    try:
        for row in _rows(pf, list(dict.fromkeys(columns))):
            found.ids.append(row["id"])
            where = f"{name}: row id={row['id']!r}"
            found.problems += _row_problems(where, row, required)
            if decode_images:
                found.problems += _image_problems(where, row)
    except Exception as e:  # noqa: BLE001 - corrupt pages: reported, with the rows read so far kept
        found.problems.append(f"{name}: cannot read rows ({type(e).__name__}: {e})")
    return found


def _temp_leftovers(folders: list[Path]) -> list[str]:
    problems = []
    for folder in folders:
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                if is_temp_name(p.name):
                    problems.append(f"leftover temporary file {p} (an interrupted write; delete it or re-run)")
    return problems


def completeness_problems(run_dir: str | Path) -> list[str]:
    """Why a run folder is not a complete build: no run.json, a planned shard without a marker or with
    files that do not match it, stats.json missing or saying the build did not complete."""
    paths = RunPaths(Path(run_dir))
    try:
        prepared = read_manifest(paths)
    except ValueError as e:
        return [f"{MANIFEST_FILE} does not parse ({e})"]
    if prepared is None:
        return [f"missing {MANIFEST_FILE} in {paths.root}: not a run folder written by `livo shards`"]
    problems = []
    missing = []
    for index in range(prepared.num_shards):
        report, damage = check_marker(paths, index)
        if damage is not None:
            problems.append(f"shard {index} is damaged: {damage}")
        elif report is None:
            missing.append(index)
    if missing:
        problems.append(f"{len(missing)} of {prepared.num_shards} shards not complete (no marker in _done/): "
                        f"{', '.join(map(str, missing[:10]))}{' ...' if len(missing) > 10 else ''}")
    if paths.stats.is_file():
        try:
            stats = json.loads(paths.stats.read_text(encoding="utf-8"))
        except ValueError:
            stats = {}  # reported by validate_run
        failed = [f.get("index") for f in stats.get("failed_shards", [])]
        if stats.get("complete") is False and failed:
            problems.append(f"{STATS_FILE}: the build did not complete (failed shards: {failed})")
    else:
        problems.append(f"missing {STATS_FILE}: the build never finished")
    return problems


def repair_command(run_dir: str | Path) -> str:
    """The one command that repairs a run folder: the same build again (its own resolved config), which
    removes temporary files, redoes shards missing or not matching their markers, and writes stats.json."""
    run = Path(run_dir)
    config = run / CONFIG_FILE if (run / CONFIG_FILE).is_file() else "CONFIG"
    return f"livo shards --config {config} --out {run}"


def repair_hint(run_dir: str | Path) -> str:
    return f"to repair, run the build again: {repair_command(run_dir)} (it redoes only missing or damaged shards)"


def validate_run(run_dir: str | Path, *, decode_images: bool = True) -> list[str]:
    """Problems of a run folder, empty when it honours the contract.

    Checks: config.yaml and stats.json present (and parseable); shards/ holds Parquet files; each shard
    (and each rejected/ file) has the contract columns, types and Hugging Face metadata; required
    values are not null; every image decodes with PIL (`decode_images=False` skips that, the slow
    part); ids are unique across shards; aligned and violating prompts differ; no temporary files
    are left over; every planned shard is complete and matches its marker (`completeness_problems`).
    """
    run = Path(run_dir)
    if not run.is_dir():
        return [f"run folder {run} does not exist"]
    problems: list[str] = []

    for fname, load in ((CONFIG_FILE, yaml.safe_load), (STATS_FILE, json.loads)):
        p = run / fname
        if not p.is_file():
            problems.append(f"missing {fname} in {run}")
            continue
        try:
            load(p.read_text(encoding="utf-8"))
        except Exception as e:  # noqa: BLE001 - whatever the parser raises is reported
            problems.append(f"{fname} does not parse ({type(e).__name__}: {e})")

    paths = RunPaths(run)
    shards_dir, rejected_dir = paths.shards, paths.rejected
    problems += _temp_leftovers([run, shards_dir, rejected_dir])
    if paths.manifest.exists():  # a folder of shards made by hand (an export) has no plan to check against
        problems += [p for p in completeness_problems(run) if not p.startswith(f"missing {STATS_FILE}")]

    seen_ids: dict[str, list[str]] = defaultdict(list)
    if not shards_dir.is_dir():
        problems.append(f"missing {SHARDS_DIR}/ folder in {run}")
    else:
        shard_files = parquet_files(shards_dir)
        if not shard_files:
            problems.append(f"{SHARDS_DIR}/ in {run} holds no .parquet file")
        for path in shard_files:
            found = _check_table_file(path, SHARD_SCHEMA, SHARD_REQUIRED, decode_images=decode_images)
            problems += found.problems
            for rid in found.ids:
                seen_ids[rid].append(_file_label(path))
    for rid, files in seen_ids.items():
        if len(files) > 1:
            problems.append(f"duplicate id {rid!r} in {', '.join(files)}")

    if rejected_dir.is_dir():
        # rejected ids are not checked for uniqueness: the rejected table is a log, not the dataset
        for path in parquet_files(rejected_dir):
            problems += _check_table_file(path, REJECTED_SCHEMA, REJECTED_REQUIRED,
                                          decode_images=decode_images).problems
    return problems
