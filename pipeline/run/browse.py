"""A run as a pandas DataFrame for people who look at data before training on it.

`load_pairs(run)` reads the kept (or rejected) pairs, or a deterministic sample of them, with the
image cells wrapped as `LazyImage`: bytes stay encoded until `.open()` (or a notebook) asks for the
picture, so a frame of thousands of pairs costs its bytes, not its pixels.
"""

from __future__ import annotations

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


def read_sample(run: str | Path, n: int | None = None, seed: int = 0, *, rejected: bool = False,
                where: dict[str, str] | None = None) -> pa.Table:
    """The rows of a run (`rejected/` with `rejected=True`) whose columns equal `where`'s values,
    sampled as `sample_positions`; images are read only for the sampled rows."""
    files = _files(RunPaths(Path(run)), rejected)
    keys = sorted(where or {})
    index: list[tuple[int, int]] = []  # (file, row) of every matching row, in file order
    for i, f in enumerate(files):
        meta = pq.read_table(f, columns=keys).to_pylist() if keys else [{}] * pq.ParquetFile(f).metadata.num_rows
        index += [(i, r) for r, row in enumerate(meta) if all(row[k] == where[k] for k in keys)]
    picked = [index[p] for p in sample_positions(len(index), n, seed)]
    tables = []
    for i, f in enumerate(files):
        rows = [r for fi, r in picked if fi == i]
        if rows:
            tables.append(pq.read_table(f).take(rows))
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
