"""What `livo shards` (the Prefect path) shows in the terminal, and the check that a configured
Prefect server answers before a flow run is attempted.

Prefect's console logs every engine step ("Created task run", "Finished in state Completed()")
and a traceback for every failure, while the `livo` command prints the one line that says what
to do. The quiet console keeps the run's own lines (`LIVO`-marked: one per shard, the summary)
and warnings without tracebacks; ``-v`` shows everything. Nothing is removed from what Prefect
sends to its server: the run logs in the UI keep every line and traceback.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

from pipeline.errors import UserError

LIVO = {"livo": True}  # `extra=` of the log lines the quiet console keeps


class PrefectUnavailableError(UserError):
    pass


class QuietConsole(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "livo", False):
            return True
        if record.levelno < logging.WARNING or record.exc_info is not None:
            return False
        # the engine's per-run lines ("Encountered exception", "Finished in state Failed"): the CLI says it once
        return not record.name.startswith(("prefect.flow_runs", "prefect.task_runs"))


def quiet_console(verbose: bool) -> None:
    """Filter the console handlers Prefect installed (import prefect first); no-op with ``verbose``."""
    if verbose:
        return
    for name in ("", "prefect"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, QuietConsole) for f in handler.filters):
                handler.addFilter(QuietConsole())


def check_api() -> None:
    """PrefectUnavailableError naming the fixes when PREFECT_API_URL is set and nobody answers there."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return  # a temporary server is started for the run
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=5):
            return
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise PrefectUnavailableError(
            f"no Prefect server answers at PREFECT_API_URL={url} ({reason}); start one with `make server`, or "
            "unset PREFECT_API_URL to use a temporary server, or add --local to build without Prefect") from None
