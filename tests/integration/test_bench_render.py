"""bench/render.py's table on the tiny profile, with the tiny SD and the tiny SDXL: every method
measured, ratios last. The script runs as `make bench-render` runs it, in its own process (it sets
torch's thread count)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("model,pipeline", [("tiny", "StableDiffusionPipeline"),
                                            ("tiny-sdxl", "StableDiffusionXLPipeline")])
def test_tiny_cpu_table_ends_with_the_ratio(model: str, pipeline: str):
    done = subprocess.run([sys.executable, "bench/render.py", "--device", "cpu", "--model", model, "--pairs", "3",
                           "--batch-size", "2", "--naive-images", "1", "--steps", "1", "--rounds", "1", "--threads",
                           "1"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    # The kind of model is the pipeline's (an SDXL UNet's FLOP probe needs its pooled text and size inputs).
    assert lines[0].startswith(f"bench-render: {model} model ({pipeline}) on cpu")
    rows = {line.split()[0]: line.split() for line in lines if line.split()[0] in ("naive", "bare", "ours")}
    assert set(rows) == {"naive", "bare", "ours"}
    assert all(float(r[1]) > 0 for r in rows.values())  # images/s
    assert re.fullmatch(r"UNet: \d+\.\d\d GFLOP per image and step .*", lines[1])
    assert float(lines[1].split()[1]) > 0.5  # counted on the 32 px latents the tiny VAE makes of 64 px images
    assert re.fullmatch(r"ours/naive: \d+\.\d\d", lines[-2])
    assert re.fullmatch(r"ours/bare: \d+\.\d\d", lines[-1])
