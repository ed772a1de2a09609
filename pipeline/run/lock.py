"""One build per run folder at a time: an OS file lock on ``<run>/.build.lock``.

The lock is an ``flock`` on an open file, so the kernel releases it when its holder exits in
any way (SIGKILL included): there is never a stale lock to delete. The holder writes its PID
into the file so a refused second build can name it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.errors import UserError
from pipeline.run.layout import RunPaths


class RunLockedError(UserError):
    """Another live process is building into the same run folder."""

    def __init__(self, root: str, pid: str) -> None:
        self.root, self.pid = root, pid
        super().__init__(f"{root} is being built by another process (PID {pid or 'unknown'}); wait for it to "
                         f"finish, stop it, or build into another --out")

    def __reduce__(self):  # Prefect pickles exceptions
        return (type(self), (self.root, self.pid))


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32).decode(errors="replace").strip()


@contextmanager
def run_lock(paths: RunPaths) -> Iterator[None]:
    """Hold the run folder's build lock (creating the folder); RunLockedError at once when another
    process holds it. A folder this call created and that holds nothing else when the body fails
    is removed again, so a refused or failed start leaves no empty run folder."""
    created = not paths.root.exists()
    paths.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(str(paths.root), _holder(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        except BaseException:
            if created and [p.name for p in paths.root.iterdir()] == [paths.lock.name]:
                paths.lock.unlink()
                paths.root.rmdir()
            raise
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def check_unlocked(paths: RunPaths) -> None:
    """RunLockedError when another process holds the lock now; takes nothing (for checks before a build)."""
    if not paths.lock.exists():
        return
    fd = os.open(paths.lock, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(str(paths.root), _holder(fd)) from None
    finally:
        os.close(fd)
