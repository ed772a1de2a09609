"""How `livo` ends an error (pipeline/console.py): a missing path the user named is one `livo:` line
saying what to do; a file the code itself expected and did not find is a bug, shown as one, with the
--debug hint (and the traceback under --debug)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.cli import main
from pipeline.console import run_command

DEBUG_HINT = "; run again with --debug (or LIVO_DEBUG=1) for the traceback"


def _args(debug: bool = False) -> argparse.Namespace:
    return argparse.Namespace(debug=debug, command="report")


def _reads(path: Path):
    def command(args) -> int:
        path.read_text()  # an internal file nobody checked for: the OS raises FileNotFoundError
        return 0
    return command


def test_a_file_missing_inside_the_code_is_an_unexpected_error_with_the_debug_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LIVO_DEBUG", raising=False)
    missing = tmp_path / "internal.json"
    assert run_command(_reads(missing), _args()) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (f"livo: unexpected error (FileNotFoundError: [Errno 2] No such file or "
                                            f"directory: '{missing}'){DEBUG_HINT}")
    assert "Traceback" not in err


def test_a_library_s_own_missing_file_message_is_not_taken_for_ours(capsys, monkeypatch):
    monkeypatch.delenv("LIVO_DEBUG", raising=False)
    # raised, message and all, by code outside our packages (as a library raises one of its own)
    library = compile("raise FileNotFoundError('no dataset script found')", "/opt/somelib/load.py", "exec")

    def command(args) -> int:
        exec(library)  # noqa: S102 - deliberate: raise from a frame whose file lies outside our packages
        return 0

    assert run_command(command, _args()) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"livo: unexpected error (FileNotFoundError: no dataset script found){DEBUG_HINT}")


def test_debug_shows_the_traceback_of_an_internal_missing_file(tmp_path, capsys):
    assert run_command(_reads(tmp_path / "internal.json"), _args(debug=True)) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "path.read_text()" in err
    assert err.strip().splitlines()[-1].endswith(DEBUG_HINT)


def test_a_run_folder_the_user_named_that_does_not_exist_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LIVO_DEBUG", raising=False)
    run = tmp_path / "no-such-run"
    assert main(["audit", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [(f"livo: {run / 'plan.jsonl'} does not exist; plan the run first: livo plan "
                                         f"--config CONFIG --out {run}")]


def test_a_missing_prompt_file_the_user_named_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LIVO_DEBUG", raising=False)
    missing = tmp_path / "mine.txt"
    assert main(["select", "--input", str(missing), "--set", "selector=keyword"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"livo: prompt file {missing} does not exist; fix the path in prompts.files (or --input)"]


# A command whose main thread sits in code that swallows what is raised in it, as Python code called
# back from native code or a __del__ does: a KeyboardInterrupt raised there never reaches run_command.
SWALLOWING_COMMAND = """\
import argparse, sys, time
from pathlib import Path
from pipeline.console import run_command

def command(args):
    Path(sys.argv[1]).write_text("ready")
    while True:
        try:
            time.sleep(0.01)
        except BaseException:
            pass

sys.exit(run_command(command, argparse.Namespace(debug=False, command="shards")))
"""


def _start_swallowing_command(tmp_path: Path, **popen) -> subprocess.Popen:
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", SWALLOWING_COMMAND, str(ready)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **popen)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the command did not start"
        time.sleep(0.02)
    return proc


def test_ctrl_c_leaves_with_130_wherever_the_main_thread_is(tmp_path):
    # SIGINT at its default in the child, as in a terminal, even when the suite runs as a background job
    proc = _start_swallowing_command(tmp_path, start_new_session=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        "livo: interrupted; run the same command again to resume (completed work is kept)")


def test_an_ignored_ctrl_c_stays_ignored(tmp_path):
    # a shell starts a background job (`livo shards ... &`) with SIGINT ignored: Ctrl-C at the terminal is not for it
    proc = _start_swallowing_command(tmp_path, start_new_session=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_the_callers_ctrl_c_handler_is_back_after_the_command():
    seen = []

    def command(args) -> int:
        seen.append(signal.getsignal(signal.SIGINT))
        return 0

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, also under `make test &`
    try:
        assert run_command(command, _args()) == 0
        assert seen[0] is not signal.default_int_handler
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
