"""Errors shared by the pipeline stages."""

from __future__ import annotations

OFFLINE_PROFILE = "configs/tiny.yaml"


class UserError(RuntimeError):
    """An error the user caused and can fix: the CLI prints its message as one `livo: ...` line (no
    traceback), so the message must say what to do."""


class MissingFileError(UserError, FileNotFoundError):
    """A path the user named, or a file they must make first (a run's plan), does not exist. Still a
    FileNotFoundError for code that catches one; unlike one an OS call raises inside the code (a bug,
    shown with its traceback hint), the CLI prints its message as the user's one line."""


class ModelUnavailableError(RuntimeError):
    """A model (hub id or local path) could not be loaded: hub unreachable or path missing.

    Raised instead of silently substituting a tiny model, so a production run never
    produces a dataset from random weights by accident.
    """

    def __init__(self, model: str, reason: str = "") -> None:
        self.model = model
        detail = f" ({reason.strip().rstrip('.')})" if reason.strip() else ""
        super().__init__(
            f"model {model!r} is unavailable{detail}. The model hub cannot be reached or the "
            f"path does not exist; pass a local path to the weights, or use the offline "
            f"profile {OFFLINE_PROFILE} (tiny models built from configs)."
        )


class RunConflictError(UserError):
    """The run folder holds a run of another configuration (its run hash differs)."""


class PlanningError(UserError):
    """Preparing a run found nothing to build: no prompts, or no pair survived planning."""


class ShardsFailedError(RuntimeError):
    """Some shards kept failing after their retries; the others completed and stats.json lists the failures.

    Re-running the same command retries only the failed shards (completed ones have markers).
    """

    def __init__(self, failed: list, out: str) -> None:
        self.failed = failed  # pipeline.run.reports.ShardFailure, in shard order
        self.out = out
        first = failed[0]
        super().__init__(
            f"{len(failed)} shard(s) failed in {out} (first: shard {first.index}: {first.error}); "
            f"the others are complete and {out}/stats.json lists the failures. "
            "Re-run the same command to retry only the failed shards."
        )

    def __reduce__(self):
        # Prefect and Ray pickle exceptions; the default reduce would call __init__(message).
        return (type(self), (self.failed, self.out))
