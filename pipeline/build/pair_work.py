"""The CPU side of a shard, off the render thread: reading bias attributes and the harm of implicit-harm
pairs' first images, scoring, judging and encoding the pairs a batch completed while the next batch denoises.

One scoring thread runs the scorers' calls in the order they were handed over (their memo caches
see each image once, and the attribute reading comes before the scoring of the pairs it resolves);
a small pool encodes the images (PIL and zlib release the GIL). On CUDA the scoring thread has its
own stream, so a scorer's kernels need not queue behind the next batch's UNet.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image

from pipeline.config import RunConfig
from pipeline.filters import attribute_judge, judge
from pipeline.filters.implicit import resolve_implicit_plans
from pipeline.records import PairPlan
from pipeline.run.schema import encode_image, pair_row, rejected_row
from pipeline.run.score_columns import stored
from pipeline.score.attributes import AttributeReaders, resolve_bias_plans
from pipeline.score.base import combine_scores

_ENCODERS = 2


@dataclass(frozen=True)
class RenderedPair:
    """A pair with both images rendered; `index`: its place in the shard's plans (rows keep that order)."""

    index: int
    plan: PairPlan
    aligned: Image.Image
    violating: Image.Image


@dataclass
class _Judged:
    plan: PairPlan
    scores: dict[str, float | None]
    reason: str | None
    images: Future | None  # (aligned bytes, violating bytes), or None when the images are not kept


def _own_stream(device: str) -> Callable[[], None]:
    """A thread initializer giving the thread its own CUDA stream (PyTorch's current stream is per thread)."""
    def init() -> None:
        import torch

        if device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.set_stream(torch.cuda.Stream(torch.device(device)))
    return init


class PairWork:
    """Hands a shard's completed pairs to the worker threads; `rows` collects them in plan order."""

    def __init__(self, cfg: RunConfig, scorers: Sequence, run_hash: str, seconds: dict[str, float]) -> None:
        self.cfg, self.scorers, self.run_hash, self.seconds = cfg, scorers, run_hash, seconds
        self._lock = threading.Lock()
        self._scoring = ThreadPoolExecutor(1, "livo-score", initializer=_own_stream(cfg.score.device))
        self._encoding = ThreadPoolExecutor(_ENCODERS, "livo-encode")
        self._chunks: list[tuple[list[int], Future]] = []
        # Implicit-harm pairs (by place in the shard's plans) dropped on their first image: no aligned side
        # to render. Written on the scoring thread before the reading's future completes.
        self.unrendered: set[int] = set()

    def read_attributes(self, plans: Sequence[PairPlan], neutral_images: Sequence[Image.Image | None],
                        reader: AttributeReaders | None) -> Future[list[PairPlan]]:
        """The shard's plans with their bias attributes read (`resolve_bias_plans`) and their implicit-harm
        principles chosen (`filters.implicit`), on the scoring thread in turn with the scoring: the scorers'
        memos keep what the readers computed for the first images."""
        # A copy of the images: the render thread goes on filling the shard's list.
        return self._call("read_attributes", self._resolve, plans, list(neutral_images), reader)

    def judge(self, pairs: Sequence[RenderedPair]) -> None:
        """Score, judge and encode these pairs (their images the same objects the attribute reading
        saw, so the scorers' memos hit)."""
        self._chunks.append(([p.index for p in pairs],
                             self._call("score", self._judge, [p.plan for p in pairs], [p.aligned for p in pairs],
                                        [p.violating for p in pairs])))

    def raise_if_failed(self) -> None:
        """Raise a finished chunk's error now, instead of after the shard's last batch."""
        for _, f in self._chunks:
            if f.done() and f.exception() is not None:
                raise f.exception()

    def rows(self) -> tuple[list[dict], list[dict], Counter]:
        """(kept rows, rejected rows, drops per reason), each in the shard's plan order."""
        kept, rejected, dropped = [], [], Counter()
        sh = self.cfg.shards
        ext = "jpg" if sh.image_format == "jpeg" else "png"
        judged = sorted(((i, j) for pairs, chunk in self._chunks for i, j in zip(pairs, chunk.result(), strict=True)),
                        key=lambda item: item[0])
        for _, j in judged:
            a, v = j.images.result() if j.images is not None else (None, None)
            meta = {"model": self.cfg.render.model, "config_hash": self.run_hash, "image_ext": ext,
                    "attribute_judge": attribute_judge(j.plan, j.scores)}
            if j.reason is None:
                kept.append(pair_row(j.plan, a, v, j.scores, **meta))
            else:
                dropped[j.reason] += 1
                rejected.append(rejected_row(j.plan, a, v, j.scores, reason=j.reason, **meta))
        return kept, rejected, dropped

    def close(self) -> None:
        """Stop the threads; work not started is dropped (an error or an interrupt ends the shard)."""
        self._scoring.shutdown(wait=True, cancel_futures=True)
        self._encoding.shutdown(wait=True, cancel_futures=True)

    def _call(self, key: str, fn: Callable, *args: Any) -> Future:
        """fn(*args) on the scoring thread, in turn with the scoring; its time is added to seconds[key]."""
        return self._scoring.submit(self._timed, key, fn, *args)

    def _timed(self, key: str, fn: Callable, *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self._add(key, time.perf_counter() - t0)

    def _add(self, key: str, seconds: float) -> None:
        with self._lock:  # the encoders add concurrently
            self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    def _resolve(self, plans: Sequence[PairPlan], images: list[Image.Image | None],
                 reader: AttributeReaders | None) -> list[PairPlan]:
        plans = resolve_bias_plans(plans, images, reader)
        if not any(p.unresolved for p in plans):
            return plans
        from pipeline.catalog import load_catalog  # the run hash covers the catalog: the one planning read

        principles = [p for p in load_catalog(self.cfg.catalog_dir) if p.kind == "toxicity"]
        resolved = resolve_implicit_plans(plans, images, self.scorers, principles, self.cfg.filters)
        out, dropped = list(plans), []
        for i, r in enumerate(resolved):
            if r is None:
                continue
            out[i] = r.plan
            if r.reason is not None:
                keep = self.cfg.shards.rejected_images
                encoded = self._encoding.submit(self._encode, None, images[i]) if keep else None
                dropped.append((i, _Judged(r.plan, r.scores, r.reason, encoded)))
        if dropped:
            self.unrendered.update(i for i, _ in dropped)
            done: Future = Future()
            done.set_result([j for _, j in dropped])
            self._chunks.append(([i for i, _ in dropped], done))
        return out

    def _judge(self, plans: list[PairPlan], aligned: list[Image.Image], violating: list[Image.Image]) -> list[_Judged]:
        columns = combine_scores(self.scorers, plans, aligned, violating)
        out = []
        for i, plan in enumerate(plans):
            # NaN is a judge's "not read" (no face, a toxicity pair's faces): stored as null.
            scores = {name: stored(name, values[i]) for name, values in columns.items()}
            reason = judge(plan, scores, self.cfg.filters)
            keep_images = reason is None or self.cfg.shards.rejected_images
            images = self._encoding.submit(self._encode, aligned[i], violating[i]) if keep_images else None
            out.append(_Judged(plan, scores, reason, images))
        return out

    def _encode(self, aligned: Image.Image | None, violating: Image.Image) -> tuple[bytes | None, bytes]:
        t0 = time.perf_counter()
        sh = self.cfg.shards
        # aligned None: an implicit-harm pair dropped before its aligned side was rendered
        pair = (None if aligned is None else encode_image(aligned, sh.image_format, sh.jpeg_quality),
                encode_image(violating, sh.image_format, sh.jpeg_quality))
        self._add("write", time.perf_counter() - t0)
        return pair
