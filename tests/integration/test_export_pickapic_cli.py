"""`livo export --format pickapic` as a real subprocess: it refuses an output folder that holds files.
The layout itself, read back as the diffusers Diffusion-DPO example reads it:
tests/unit/test_export_pickapic.py."""

from __future__ import annotations

import pytest

from fake_run import make_run
from livo_cli import run_livo


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    from pipeline.export.layouts import export_pickapic

    root = tmp_path_factory.mktemp("pickapic")
    out, pairs = export_pickapic(make_run(root / "run", kept=7), root / "out")
    assert pairs == 7
    return out


def test_cli_refuses_a_folder_that_holds_files(export):
    done = run_livo("export", str(export.parent / "run"), str(export), "--format", "pickapic")
    assert done.returncode == 1 and done.stderr.strip().startswith("livo: ") and "not an empty folder" in done.stderr
