"""What the `livo` command does around every sub-command: the process environment (Prefect home,
no telemetry, quiet third-party warnings), logging, and turning an error into the one
``livo: ...`` line a user reads (tracebacks only with ``--debug`` or ``LIVO_DEBUG=1``)."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

# The checkout the package runs from (an editable install): Prefect state goes to its .prefect/,
# as under `make`; an installed package leaves Prefect's own default.
_PROJECT = Path(__file__).resolve().parent.parent

PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",  # no "Failed to send telemetry" on machines without a network
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_UI_ENABLED": "false",  # the temporary server of a plain `livo shards` has nobody to show a UI to
    # two busy cores can need more than Prefect's 20 s to start the temporary server
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}

INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C
RESUMABLE = ("shards", "plan", "train")
SHUTDOWN_SECONDS = 30.0  # what the atexit hooks get after Ctrl-C before the process leaves without them


def prepare_environment() -> None:
    """Defaults for what Prefect and libraries read from the environment; set before Prefect is
    imported, and never over a value the user set."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if (_PROJECT / "pyproject.toml").is_file():
        os.environ.setdefault("PREFECT_HOME", str(_PROJECT / ".prefect"))
    # clip-anytorch imports pkg_resources; the warning is about clip's code, not the user's
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


def debug_requested(flag: bool) -> bool:
    return flag or os.environ.get("LIVO_DEBUG", "") not in ("", "0")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _user_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(exit code 2: invalid input, exit code 1: anything else a user can fix)."""
    from livo_train.config import EvalError, TrainingError
    from pipeline.catalog import CatalogError
    from pipeline.errors import ModelUnavailableError, ShardsFailedError, UserError
    from pipeline.llm.types import LLMUnavailableError
    from pipeline.prompts.importer import PromptFileError
    from pipeline.select.head import HeadError
    from pipeline.select.labelled import LabelledDataError
    from pipeline.typed_config import ConfigError

    return ((ConfigError, PromptFileError, EvalError),
            (UserError, ModelUnavailableError, CatalogError, LLMUnavailableError, HeadError, LabelledDataError,
             TrainingError, ShardsFailedError))


def _interrupted_line(command: str | None) -> str:
    again = "; run the same command again to resume (completed work is kept)" if command in RESUMABLE else ""
    return f"livo: interrupted{again}"


def report_error(e: BaseException, command: str | None = None) -> int:
    """Print the last line a user sees for ``e`` and return the exit code."""
    if isinstance(e, KeyboardInterrupt):
        print(_interrupted_line(command), file=sys.stderr)
        return INTERRUPTED
    from pipeline.errors import ShardsFailedError

    if isinstance(e, ShardsFailedError):  # which shards failed, one line each, before the line that says what to do
        for f in e.failed:
            print(f"livo: shard {f.index} ({f.pairs} pairs) failed after {f.attempts} attempt(s): {f.error}",
                  file=sys.stderr)
    invalid, fixable = _user_errors()
    if isinstance(e, invalid + fixable):
        print(f"livo: {e}", file=sys.stderr)
        return 2 if isinstance(e, invalid) else 1
    print(f"livo: unexpected error ({type(e).__name__}: {e}); run again with --debug (or LIVO_DEBUG=1) for the "
          "traceback", file=sys.stderr)
    return 1


def leave_interrupted(e: KeyboardInterrupt, command: str | None) -> NoReturn:
    """Run the atexit hooks (a temporary Prefect server, Ray, logging shut down cleanly), print the
    interrupted line and leave with exit code 130.

    The interpreter's own teardown is skipped (``os._exit``): stopped mid-computation, the thread
    pools of torch, onnxruntime and the shard's workers can abort (SIGABRT) or die of the SIGINT while
    it tears them down, which would override the exit code; every file a run writes is already
    atomic, and a re-run removes what an interrupted write left. Hooks that hang, or a second
    Ctrl-C, end the process at once with the same code."""
    printed = threading.Lock()

    def leave(*_signal) -> NoReturn:
        try:
            if printed.acquire(blocking=False):  # the timer and a second Ctrl-C can race to here
                report_error(e, command)
                sys.stdout.flush()
                sys.stderr.flush()
        except BaseException:  # noqa: BLE001 - Ctrl-C came inside a write to stderr ("reentrant call"): write past it
            os.write(2, f"\n{_interrupted_line(command)}\n".encode())
        finally:
            os._exit(INTERRUPTED)

    timer = threading.Timer(SHUTDOWN_SECONDS, leave)
    timer.daemon = True
    timer.start()
    try:
        signal.signal(signal.SIGINT, leave)
    except ValueError:  # not the main thread: only the timer bounds the hooks
        pass
    _close_progress_bars()
    atexit._run_exitfuncs()  # each hook's own error is printed and the next one still runs
    leave()


def _close_progress_bars() -> None:
    """End the progress bars still open, so the lines that follow start on a line of their own
    (the stack that would have closed them is not unwound)."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        try:
            bar.close()
        except Exception:  # noqa: BLE001, S112 - a bar that cannot close must not keep the process from leaving
            continue


@contextmanager
def ctrl_c_leaves(command: str | None, debug: bool) -> Iterator[None]:
    """While the body runs, Ctrl-C calls `leave_interrupted` where the main thread is, instead of
    raising KeyboardInterrupt there. Raised, the exception can land in Python code that native code
    called (torch, onnxruntime): a C++ frame that cannot pass it on aborts the process ("terminate
    called after throwing an instance of 'pybind11::error_already_set'", exit -6, not 130), and
    code that swallows exceptions (an import lock's callback, ``__del__``) lets the command run on.
    An ignored SIGINT (a background job) or a handler of the caller's own is left as it is."""
    def on_ctrl_c(_signum, frame) -> NoReturn:
        if debug:
            traceback.print_stack(frame)
        leave_interrupted(KeyboardInterrupt(), command)

    try:
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, on_ctrl_c)
    except ValueError:  # not the main thread: no handler can be set, KeyboardInterrupt never comes here
        previous = None
    try:
        yield
    finally:
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous)


def run_command(func, args) -> int:
    """``func(args)``, every error ending in one line; with --debug the traceback comes first."""
    debug = debug_requested(args.debug)
    try:
        with ctrl_c_leaves(args.command, debug):
            return func(args)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - the one place errors become a user's line
        if debug:
            traceback.print_exc()
        if isinstance(e, KeyboardInterrupt):  # raised by the code itself, or before the handler was set
            leave_interrupted(e, args.command)
        return report_error(e, args.command)
