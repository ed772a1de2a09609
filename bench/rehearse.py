"""Rehearse a full-size profile without its weights: SD 1.5 (or SDXL base) and CLIP ViT-L/14 at their
real sizes with random weights are written into local folders once (`pipeline.render.random_models`),
then the matching profile (configs/sd15.yaml, configs/sdxl.yaml) runs from those folders on CPU at a
low resolution and few steps, end to end: `livo shards --local`, `livo validate`, `livo report`.

    python bench/rehearse.py                      # SD 1.5: 4.0 GB of folders (+ 0.9 GB CLIP ViT-L/14)
    python bench/rehearse.py --model sdxl         # SDXL base: about 7 GB of fp16 files, 14 GB of memory to build

What it shows: the real loading code reads the folders as it would the released weights, the real
sizes fit in memory, and every stage runs; the images are noise, so the uncalibrated filters drop
most or all pairs (not an error). Prints the seconds of each stage and, last, one summary line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LIVO = [sys.executable, "-m", "pipeline.cli"]
PROFILES = {"sd15": "configs/sd15.yaml", "sdxl": "configs/sdxl.yaml"}


def _timed(label: str, seconds: dict[str, float], fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    seconds[label] = time.perf_counter() - t0
    print(f"{label}: {seconds[label]:.0f} s", flush=True)
    return out


def _livo(*args: str) -> None:
    done = subprocess.run([*LIVO, *args], cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"rehearsal failed: livo {' '.join(args[:2])} exited with {done.returncode}")


def main(argv: list[str] | None = None) -> int:
    from pipeline.render.random_models import write_random_clip_l14, write_random_sd15, write_random_sdxl

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(PROFILES), default="sd15")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "runs" / "rehearsal-models",
                    help="where the random full-size models are written (once) and read from")
    ap.add_argument("--out", type=Path, help="run folder (default runs/rehearse-MODEL); must be new or a rehearsal's")
    ap.add_argument("--size", type=int, default=128, help="image width and height in pixels")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--per-category", type=int, default=1, help="prompts per category")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="more profile overrides (repeatable)")
    args = ap.parse_args(argv)
    out = args.out or ROOT / "runs" / f"rehearse-{args.model}"
    seconds: dict[str, float] = {}

    write = write_random_sd15 if args.model == "sd15" else write_random_sdxl
    model = _timed(f"write random {args.model}", seconds, write, args.models_dir / args.model)
    clip = _timed("write random CLIP ViT-L/14", seconds, write_random_clip_l14, args.models_dir / "clip-vit-l-14.pt")
    sets = [f"render.model={model}", f"score.clip_model={clip}", "render.device=cpu", "score.device=cpu",
            "render.dtype=float32", f"render.width={args.size}", f"render.height={args.size}",
            f"render.steps={args.steps}", "render.batch_size=4", "render.compile=null", "score.batch_size=8",
            f"prompts.per_category={args.per_category}", *args.overrides]
    _timed("livo shards", seconds, _livo, "shards", "--config", PROFILES[args.model], "--out", str(out), "--local",
           *[a for s in sets for a in ("--set", s)])
    _timed("livo validate", seconds, _livo, "validate", str(out))
    _timed("livo report", seconds, _livo, "report", str(out))
    stats = json.loads((out / "stats.json").read_text())
    print(f"rehearsal {args.model} at {args.size} px, {args.steps} steps on CPU: {stats['planned']} planned, "
          f"{stats['kept']} kept; " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
