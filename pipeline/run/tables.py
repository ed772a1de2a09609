"""Writing and reading a run's Parquet tables: atomic writes that enforce the contract, and
whole-run reads in shard order."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import MissingFileError
from pipeline.run.atomic import atomic_open
from pipeline.run.layout import REJECTED_DIR, SHARDS_DIR, parquet_files
from pipeline.run.schema import REJECTED_SCHEMA, ROW_GROUP_SIZE, SHARD_SCHEMA, required_columns


def _check_rows(rows: list[dict], schema: pa.Schema) -> None:
    # pa.Table.from_pylist silently drops unknown keys and fills missing ones with null: a typo would
    # lose data without a sound, so the key set must match the schema exactly.
    names = set(schema.names)
    required = required_columns(schema)
    for i, row in enumerate(rows):
        keys = set(row)
        if keys != names:
            missing, extra = sorted(names - keys), sorted(keys - names)
            raise ValueError(f"row {i} (id={row.get('id')!r}) does not match the schema: missing {missing}, unknown {extra}")
        nulls = sorted(c for c in required if row[c] is None)
        if nulls:
            raise ValueError(f"row {i} (id={row.get('id')!r}) has null in required column(s) {nulls}")


def write_table_atomic(rows: list[dict], path: Path, schema: pa.Schema) -> Path:
    """Write `rows` as one Parquet file at `path`, atomically.

    The table goes to a hidden temporary sibling (`temp_path`), is flushed and fsynced, then
    `os.replace`d onto `path`: readers see either no file or the complete file, never a partial
    one, and a crash leaves only a dot-file that `validate_run` reports. An empty `rows` still writes
    a valid table with the full schema (and its HF metadata).
    """
    path = Path(path)
    _check_rows(rows, schema)
    table = pa.Table.from_pylist(rows, schema=schema)  # keeps schema metadata (the HF features)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, binary=True) as f:
        pq.write_table(table, f, row_group_size=ROW_GROUP_SIZE)
    return path


def _read_tables(files: Iterable[Path], schema: pa.Schema, columns: list[str] | None = None) -> pd.DataFrame:
    tables = [pq.read_table(p, columns=columns) for p in files]
    if not tables:
        empty = schema.empty_table()
        return (empty.select(columns) if columns else empty).to_pandas()
    try:
        # concat_tables needs identical schemas (metadata aside); a shard that breaks the contract
        # fails here, and validate_run says which and why
        table = pa.concat_tables(tables)
    except pa.ArrowInvalid as e:
        raise ValueError(f"shards do not share one schema ({e}); run `livo validate`") from e
    return table.to_pandas()


def read_run(run_dir: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """All kept pairs of a run (only ``columns`` when given: leave the images out to read fast),
    shards read in sorted name order.

    Image cells are dicts ``{"bytes": ..., "path": ...}`` (use `pipeline.run.validate.decode_image`).
    Note (pandas >= 3): null strings (``attribute`` of non-bias pairs) come back as NaN, not None.
    """
    folder = Path(run_dir) / SHARDS_DIR
    if not folder.is_dir():
        raise MissingFileError(f"no {SHARDS_DIR}/ folder in {run_dir}: run `make shards` first")
    return _read_tables(parquet_files(folder), SHARD_SCHEMA, columns)


def read_rejected(run_dir: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """All rejected pairs of a run; an empty frame with the contract columns when there are none."""
    folder = Path(run_dir) / REJECTED_DIR
    files = parquet_files(folder)
    return _read_tables(files, REJECTED_SCHEMA, columns)
