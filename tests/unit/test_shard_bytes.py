"""A shard's bytes depend on its plan and config, never on what the process did before it: the
scorers and the renderer are loaded once per worker and serve shard after shard, so neither may
carry state from one shard into the next (a text encoded with another shard's texts, a batch
halved by another shard's out-of-memory error).

A batch's composition moves the last float bits (CPU kernels differ with the batch), so the
checks compare bytes and bits, never values within a tolerance."""

from __future__ import annotations

import dataclasses
import gc
from pathlib import Path

import numpy as np
import pytest
import torch

from factories import make_plan, photograph, tiny_config
from pipeline.build.shard import process_shard
from pipeline.records import PromptStats
from pipeline.render.diffusers import DiffusersRenderer
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import PreparedRun, write_manifest
from pipeline.run.plan_io import write_plan
from pipeline.score.clip import ClipScorer

SHARD_SIZE = 4


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    pass


def _plans(n: int, tag: str = "") -> list:
    """Toxicity and bias pairs that share their concept texts and some prompts, as a run's do."""
    out = []
    for i in range(n):
        if i % 2:
            out.append(make_plan("bias", id=f"b{tag}{i}", seed=100 + i, prompt=f"a doctor {tag}{i}",
                                 violating_prompt=f"a doctor {tag}{i}", aligned_prompt=f"a doctor {tag}{i}",
                                 attribute=None, attribute_prompts=(f"a male doctor {tag}{i}",
                                                                    f"a female doctor {tag}{i}")))
        else:
            # Every third toxicity pair repeats a prompt: plans often share one.
            knight = "a bloody knight" if i % 3 == 0 else f"a bloody knight {tag}{i}"
            out.append(make_plan("toxicity", id=f"t{tag}{i}", seed=100 + i, violating_prompt=knight,
                                 aligned_prompt=f"a knight {tag}{i}"))
    return out


def _resolved(plans: list) -> list:
    """Bias plans with their attribute set (what the shard's reading does), for scoring them directly."""
    return [dataclasses.replace(p, attribute="female", aligned_prompt=p.attribute_prompts[1])
            if p.kind == "bias" else p for p in plans]


# ---------------------------------------------------------------- the CLIP scorer


IMAGES = [photograph(name) for name in ("astronaut", "coffee", "chelsea", "rocket")]


def _images(n: int, offset: int = 0) -> list:
    return [IMAGES[(i + offset) % len(IMAGES)].copy() for i in range(n)]


def _score(scorer: ClipScorer, plans: list) -> dict[str, np.ndarray]:
    return scorer.score(plans, _images(len(plans)), _images(len(plans), 1))


@pytest.mark.parametrize("history", [1, 2, 3, 5], ids=lambda n: f"{n}-plans-before")
def test_clip_columns_do_not_depend_on_what_the_scorer_scored_before(tiny_clip_path: Path, history: int) -> None:
    shard = _resolved(_plans(6, "B"))
    alone = _score(ClipScorer(str(tiny_clip_path), batch_size=4), shard)
    attributes_alone = ClipScorer(str(tiny_clip_path), batch_size=4).read_attributes(shard[1::2], _images(3))

    scorer = ClipScorer(str(tiny_clip_path), batch_size=4)
    earlier = _resolved(_plans(history, "A"))  # the same concept texts and a repeated prompt
    _score(scorer, earlier)
    scorer.read_attributes(earlier[1::2], _images(len(earlier[1::2])))
    after = _score(scorer, shard)
    for column in scorer.columns:
        assert after[column].tobytes() == alone[column].tobytes(), column
    for got, want in zip(scorer.read_attributes(shard[1::2], _images(3)), attributes_alone, strict=True):
        assert got.tobytes() == want.tobytes()


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def test_clip_scorer_memory_does_not_grow_with_the_texts_it_has_seen(tiny_clip_path: Path) -> None:
    scorer = ClipScorer(str(tiny_clip_path), batch_size=8)
    aligned, violating = _images(4), _images(4, 1)  # the same images every round: their memo is full after one
    scorer.score(_resolved(_plans(4, "warm")), aligned, violating)
    before = _live_tensors()
    for r in range(25):  # 25 rounds of 4 pairs, every prompt new
        scorer.score(_resolved(_plans(4, f"r{r}-")), aligned, violating)
    assert _live_tensors() <= before


# ---------------------------------------------------------------- whole shards


def _run(folder: Path, plans: list) -> tuple[Path, object]:
    out = folder / "run"
    paths = RunPaths(out)
    paths.make_dirs()
    write_plan(paths, plans)
    write_manifest(paths, PreparedRun(str(out), "test-hash", num_shards=-(-len(plans) // SHARD_SIZE),
                                      num_pairs=len(plans), prompt_stats=PromptStats()))
    return out, tiny_config([f"shards.shard_size={SHARD_SIZE}", "shards.rejected_images=true"])


def assert_same_shard_bytes(run: Path, reference: Path, index: int) -> None:
    """The shard's whole kept and rejected files, byte for byte: scores included, not only the images."""
    for name in ("shard", "rejected_shard"):
        got, want = getattr(RunPaths(run), name)(index), getattr(RunPaths(reference), name)(index)
        assert got.read_bytes() == want.read_bytes(), f"{got.name} differs"


def test_a_resumed_shard_is_the_bytes_of_a_clean_run(tmp_path: Path, tiny_renderer, tiny_clip_path: Path) -> None:
    plans = _plans(2 * SHARD_SIZE)
    # Clean: one process builds shard 0, then shard 1, with the same models.
    clean, cfg = _run(tmp_path / "clean", plans)
    scorers = (ClipScorer(str(tiny_clip_path), batch_size=4),)
    for index in (0, 1):
        process_shard(cfg, clean, index, tiny_renderer, scorers)
    # Resumed: shard 0 was complete, a new process builds shard 1 only.
    resumed, _ = _run(tmp_path / "resumed", plans)
    process_shard(cfg, resumed, 1, tiny_renderer, (ClipScorer(str(tiny_clip_path), batch_size=4),))
    assert_same_shard_bytes(resumed, clean, 1)


class OOMOnce(DiffusersRenderer):
    """The tiny renderer on a GPU that is full once (another process held the memory for a moment)."""

    @classmethod
    def sharing(cls, renderer: DiffusersRenderer) -> OOMOnce:
        # Shares the loaded pipeline (seconds to load) but not the settings: batch_size changes here only.
        new = cls.__new__(cls)
        new.__dict__.update(renderer.__dict__)
        new.batches, new.failed = [], False
        return new

    def _render_batch(self, prompts, seeds, negative_prompts):
        self.batches.append(len(prompts))
        if not self.failed and len(prompts) > 1:
            self.failed = True
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super()._render_batch(prompts, seeds, negative_prompts)


def test_out_of_memory_halves_the_batch_for_its_own_shard_only(tmp_path: Path, tiny_renderer,
                                                               tiny_clip_path: Path) -> None:
    plans = _plans(2 * SHARD_SIZE)
    scorers = (ClipScorer(str(tiny_clip_path), batch_size=4),)
    oom, cfg = _run(tmp_path / "oom", plans)
    renderer = OOMOnce.sharing(tiny_renderer)
    process_shard(cfg, oom, 0, renderer, scorers)
    assert renderer.batches[:2] == [4, 2]  # shard 0 ran out of memory and went on in halves
    shard0 = len(renderer.batches)
    process_shard(cfg, oom, 1, renderer, scorers)

    clean, _ = _run(tmp_path / "clean", plans)
    fresh = OOMOnce.sharing(tiny_renderer)
    fresh.failed = True  # never runs out of memory
    process_shard(cfg, clean, 1, fresh, (ClipScorer(str(tiny_clip_path), batch_size=4),))
    assert renderer.batches[shard0:] == fresh.batches  # shard 1 starts again at the configured batch
    assert renderer.batch_size == tiny_renderer.batch_size
    assert_same_shard_bytes(oom, clean, 1)
