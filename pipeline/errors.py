"""Errors shared by the pipeline stages."""

from __future__ import annotations

OFFLINE_PROFILE = "configs/tiny.yaml"


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
