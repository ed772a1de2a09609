"""Crash-safe file writes: a hidden temporary sibling, fsynced, then renamed into place.

A reader (or a resumed run) sees either the old file or the complete new one, never a
partial one; leftovers of a killed write are recognisable by name (`is_temp_name`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
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
def atomic_open(path: Path, binary: bool = False, *, fsync: bool = True) -> Iterator[IO]:
    """``fsync=False``: the rename still never shows a torn file to a reader, but the content may reach
    the disk after it; for many small files whose writer syncs once before the file that refers to
    them (`livo export --format livo`: the images, `os.sync`, then each scene's metadata)."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "xb" if binary else "x", encoding=None if binary else "utf-8") as f:
            yield f
            f.flush()
            if fsync:
                # fsync before the rename: a marker must never reach the disk before its content
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, binary=True) as f:
        f.write(data)


@contextmanager
def atomic_dir(dest: Path, marker: str) -> Iterator[Path]:
    """Yield a temp dir next to `dest`; on clean exit rename it to `dest` (a folder is published
    whole or not at all).

    `marker` is the file whose presence means `dest` is complete: if another process
    published first we keep theirs and drop ours instead of failing.
    """
    dest = Path(dest)

    def refuse() -> FileExistsError:
        return FileExistsError(f"{dest} exists but holds no {marker}; delete it or choose another folder")

    # Fail before the (slow) build, not after it.
    if dest.exists() and not (dest / marker).exists() and any(dest.iterdir()):
        raise refuse()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        yield tmp
        try:
            # rename() onto an existing empty dir succeeds on POSIX, onto a non-empty one fails.
            os.rename(tmp, dest)
        except OSError:
            if not (dest / marker).exists():
                raise refuse() from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_leftovers(folder: Path, prefix: str = "") -> None:
    """Delete temp files an earlier, killed attempt left behind (names from `temp_path`). Only the
    caller's own files are named by `prefix`: a shard never touches another shard's in-flight writes."""
    if folder.is_dir():
        for p in folder.glob(f".{prefix}*.tmp-*"):
            if p.is_file():
                p.unlink(missing_ok=True)
