"""One way to add a `livo` command (each package's `cli.py` registers it; pipeline/cli.py only builds the
parser) and one place where its errors become the user's `livo:` line (pipeline/console.py)."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pipeline.cli
from pipeline.cli import build_parser
from pipeline.console import run_command
from pipeline.errors import ShardsFailedError, UserError
from pipeline.export.layouts import ExportError

COMMANDS = ["principles", "prompts", "select", "train-selector", "shards", "plan", "audit", "validate", "train",
            "eval", "calibrate", "report", "export", "push", "browse"]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_command_is_registered_from_its_package_in_help_order():
    commands = _subparsers(build_parser())
    assert list(commands) == COMMANDS
    for name, sub in commands.items():
        func = sub.get_default("func")
        assert func.__module__.endswith(".cli") and func.__module__ != "pipeline.cli", name
    assert not [n for n in vars(pipeline.cli) if n.startswith("cmd_")]


def _args() -> argparse.Namespace:
    return argparse.Namespace(debug=False, command="shards")


def test_export_error_is_a_user_error_of_one_line(capsys, monkeypatch):
    monkeypatch.delenv("LIVO_DEBUG", raising=False)

    def command(args) -> int:
        raise ExportError("out exists and is not an empty folder: choose a new folder or remove it")

    assert issubclass(ExportError, UserError)
    assert run_command(command, _args()) == 1
    assert capsys.readouterr().err.splitlines() == [
        "livo: out exists and is not an empty folder: choose a new folder or remove it"]


def test_failed_shards_are_listed_before_the_line_that_says_what_to_do(capsys, monkeypatch):
    monkeypatch.delenv("LIVO_DEBUG", raising=False)
    failed = [SimpleNamespace(index=1, pairs=4, attempts=2, error="IsADirectoryError: x")]

    def command(args) -> int:
        raise ShardsFailedError(failed, "runs/x")

    assert run_command(command, _args()) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "livo: shard 1 (4 pairs) failed after 2 attempt(s): IsADirectoryError: x"
    assert err[1:] == [f"livo: {ShardsFailedError(failed, 'runs/x')}"]
    assert "Re-run the same command" in err[1]
