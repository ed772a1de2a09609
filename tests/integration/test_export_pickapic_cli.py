"""`livo export --format pickapic` as a real subprocess: it refuses an output folder that holds files.
The layout itself, read back as the diffusers Diffusion-DPO example reads it:
tests/unit/test_export_pickapic.py."""

from __future__ import annotations

from livo_cli import run_livo


def test_cli_refuses_a_folder_that_holds_files(pickapic_export):
    done = run_livo("export", str(pickapic_export.parent / "run"), str(pickapic_export), "--format", "pickapic")
    assert done.returncode == 1 and done.stderr.strip().startswith("livo: ") and "not an empty folder" in done.stderr
