"""Crash-safe file writes: a hidden temporary sibling, fsynced, then renamed into place.

A reader (or a resumed run) sees either the old file or the complete new one, never a
partial one; leftovers of a killed write are recognisable by name (`is_temp_name`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def temp_path(path: Path) -> Path:
    """Temporary sibling of `path`. Leading dot: pyarrow/pandas directory reads skip dot files and
    ``*.parquet`` globs do not match it, so an unfinished file is invisible to readers. pid + random
    suffix: two writers (processes or threads) never share a temporary file."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def is_temp_name(name: str) -> bool:
    """True for names made by `temp_path` (leftovers of an interrupted write)."""
    return name.startswith(".") and ".tmp-" in name


@contextmanager
def atomic_open(path: Path, binary: bool = False) -> Iterator[IO]:
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "xb" if binary else "x", encoding=None if binary else "utf-8") as f:
            yield f
            f.flush()
            # fsync before the rename: a marker must never reach the disk before its content
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)
