"""A run as a pandas DataFrame for people who look at data before training on it.

`load_pairs(run)` reads the kept (or rejected) pairs, or a deterministic sample of them, with the
image cells wrapped as `LazyImage`: bytes stay encoded until `.open()` (or a notebook) asks for the
picture, so a frame of thousands of pairs costs its bytes, not its pixels.
"""

from __future__ import annotations

import bisect
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipeline.run.layout import RunPaths, parquet_files
from pipeline.run.schema import IMAGE_COLUMNS


@dataclass(frozen=True)
class LazyImage:
    """An encoded image of a shard; `open()` decodes it (a fresh PIL image each call)."""

    data: bytes
    name: str = ""

    def open(self) -> Image.Image:
        img = Image.open(io.BytesIO(self.data))
        img.load()
        return img

    def _repr_png_(self) -> bytes:  # Jupyter shows the picture
        buf = io.BytesIO()
        self.open().save(buf, format="PNG")
        return buf.getvalue()

    def __repr__(self) -> str:
        return f"LazyImage({self.name or 'image'}, {len(self.data)} bytes)"


def sample_positions(total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """Row positions of a deterministic sample of `n` of `total` rows, in file order (all when n is
    None or not smaller): the same run, n and seed always show the same pairs."""
    if n is None or n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def _files(paths: RunPaths, rejected: bool) -> list[Path]:
    if rejected:
        return parquet_files(paths.rejected)
    return paths.shard_files()


def _wrap(cell: dict | None) -> LazyImage | None:
    if cell is None or cell.get("bytes") is None:
        return None
    return LazyImage(cell["bytes"], cell.get("path") or "")


def _matching_rows(path: Path, where: dict[str, str]) -> list[int]:
    """Positions of the rows of one file whose columns equal ``where``'s values (only those columns read)."""
    if not where:
        return list(range(pq.ParquetFile(path).metadata.num_rows))
    keys = sorted(where)
    meta = pq.read_table(path, columns=keys).to_pylist()
    return [r for r, row in enumerate(meta) if all(row[k] == where[k] for k in keys)]


def take_rows(path: Path, rows: list[int]) -> pa.Table:
    """Rows ``rows`` (ascending positions) of one Parquet file, every column, reading only the row
    groups that hold them: a sample of a large shard costs its rows' bytes, not the file's."""
    pf = pq.ParquetFile(path)
    starts = [0]
    for g in range(pf.metadata.num_row_groups):
        starts.append(starts[-1] + pf.metadata.row_group(g).num_rows)
    groups = sorted({bisect.bisect_right(starts, r) - 1 for r in rows})
    offset = {}  # first row of each read group within the table read
    at = 0
    for g in groups:
        offset[g] = at
        at += starts[g + 1] - starts[g]
    local = [offset[g] + r - starts[g] for r in rows for g in [bisect.bisect_right(starts, r) - 1]]
    return pf.read_row_groups(groups).take(local)


def read_sample(run: str | Path, n: int | None = None, seed: int = 0, *, rejected: bool = False,
                where: dict[str, str] | None = None) -> pa.Table:
    """The rows of a run (`rejected/` with `rejected=True`) whose columns equal `where`'s values,
    sampled as `sample_positions`; the filter reads only `where`'s columns, and images are read only
    for the row groups of the sampled rows."""
    files = _files(RunPaths(Path(run)), rejected)
    index: list[tuple[int, int]] = []  # (file, row) of every matching row, in file order
    for i, f in enumerate(files):
        index += [(i, r) for r in _matching_rows(f, where or {})]
    by_file: dict[int, list[int]] = {}  # file -> its sampled rows, in file order
    for p in sample_positions(len(index), n, seed):
        fi, r = index[p]
        by_file.setdefault(fi, []).append(r)
    tables = [take_rows(files[fi], rows) for fi, rows in by_file.items()]
    if not tables:
        return pq.read_schema(files[0]).empty_table() if files else pa.table({})
    return pa.concat_tables(tables)


def load_pairs(run: str | Path, n: int | None = None, seed: int = 0, *, rejected: bool = False,
               **where: str) -> pd.DataFrame:
    """Kept pairs of a run as a DataFrame (`rejected=True`: the dropped pairs with their reason),
    or a deterministic sample of `n`; keyword filters select by column, e.g. ``category="gore"``.
    ``aligned`` / ``violating`` hold `LazyImage`s (None where a rejected row kept no image)."""
    df = read_sample(run, n, seed, rejected=rejected, where=where).to_pandas()
    for col in IMAGE_COLUMNS:
        if col in df:
            df[col] = [_wrap(c) for c in df[col]]
    return df


def summary_lines(run: str | Path, df: pd.DataFrame) -> list[str]:
    """What `livo browse` prints about a loaded frame: size, counts by category and pair type."""
    lines = [f"{run}: {len(df)} pairs"]
    for col in ("pair_type", "category"):
        if col in df and len(df):
            counts = df[col].value_counts().sort_index()
            lines.append(f"  by {col}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return lines
