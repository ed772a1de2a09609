"""Per-image cost of each image judge of a build, measured side by side in one run on real
photographs (scikit-image's sample data, resized to the render size), batch as a shard scores.

    python bench/judges.py                      # 512 px, 64 images, CPU
    python bench/judges.py --size 64 --images 32 --clip-model builtin:tiny-clip

CLIP is the tiny offline model unless --clip-model names a real checkpoint (its cost then
dominates); Q16 is measured on top of CLIP's image embeddings (what a build pays for it) with a
random (2, D) prompts array, since the real file is the user's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image
from skimage import data

from pipeline.config import TINY_CLIP
from pipeline.render.tiny_models import resolve_model

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def _images(size: int, n: int) -> list[Image.Image]:
    base = [Image.fromarray(getattr(data, name)()).convert("RGB").resize((size, size)) for name in PHOTOS]
    return [base[i % len(base)].copy() for i in range(n)]  # fresh objects: no judge's memo may hit


def _time(fn, images) -> float:
    t0 = time.perf_counter()
    fn(images)
    return (time.perf_counter() - t0) / len(images) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--clip-model", default=TINY_CLIP)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from pipeline.score.clip import ClipScorer
    from pipeline.score.faces import FaceScorer
    from pipeline.score.nsfw import NudeNetScorer, OpenNsfwScorer
    from pipeline.score.q16 import Q16Scorer

    with tempfile.TemporaryDirectory() as tmp:
        clip = ClipScorer(resolve_model(args.clip_model, Path(tmp)), device=args.device)
        q16_file = Path(tmp) / "prompts.npy"
        np.save(q16_file, np.random.default_rng(0).standard_normal((2, clip.model.text_projection.shape[1])))
        judges = {
            "nudenet": (NudeNetScorer(), lambda j, ims: [j.nudity(im) for im in ims]),
            "opennsfw": (OpenNsfwScorer(device=args.device), lambda j, ims: j.nsfw(ims)),
            "faces": (FaceScorer(), lambda j, ims: [j.read(im) for im in ims]),
            f"clip ({Path(args.clip_model).name})": (clip, lambda j, ims: j.encode_images(ims)),
        }
        q16 = Q16Scorer(q16_file, clip)
        for judge, fn in judges.values():  # warm-up: first ONNX / torch calls allocate
            fn(judge, _images(args.size, 2))
        print(f"{args.images} photographs at {args.size} px, {args.device}")
        print(f"{'judge':28} {'ms/image':>9}")
        for name, (judge, fn) in judges.items():
            print(f"{name:28} {_time(partial(fn, judge), _images(args.size, args.images)):9.1f}")
        images = _images(args.size, args.images)
        clip.encode_images(images)
        print(f"{'q16 (on clip embeddings)':28} {_time(q16.inappropriate, images):9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
