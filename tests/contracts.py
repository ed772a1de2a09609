"""What each external boundary promises its callers, checked by behaviour.

``isinstance(x, SomeProtocol)`` only compares attribute names, so it passes for any object
that spells them; these checks call the object and hold it to what the pipeline relies on.
Each raises AssertionError naming the broken promise. `tests/unit/test_contracts.py` shows
every check rejecting a look-alike that the isinstance test accepts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from pydantic import BaseModel

from pipeline.records import PairPlan, Selection, SelectionMethod


def check_selector(selector, prompts: Sequence[str], catalog) -> list[Selection]:
    """One Selection per prompt, in order; a catalog principle with its own category, or none;
    the same answer twice; nothing for nothing."""
    prompts = list(prompts)
    got = selector.select(prompts)
    assert [s.prompt for s in got] == prompts, f"{selector.name}: selections do not follow the prompts"
    for s in got:
        assert SelectionMethod(s.method), s
        if s.principle_id is None:
            assert s.category is None, f"{selector.name}: no principle but category {s.category!r}"
        else:
            assert s.category == catalog.get(s.principle_id).category, f"{selector.name}: {s}"
    assert selector.select(prompts) == got, f"{selector.name}: two calls disagree"
    assert selector.select([]) == [], f"{selector.name}: selections for no prompts"
    return got


def check_scorer(scorer, plans: Sequence[PairPlan], aligned: Sequence[Image.Image],
                 violating: Sequence[Image.Image]) -> dict[str, np.ndarray]:
    """Exactly the declared columns, each an array of one value per plan: floats, or for a text
    column (a judge's words) text or None; a mismatched batch is refused."""
    from pipeline.run.score_columns import TEXT_COLUMNS

    out = scorer.score(plans, aligned, violating)
    assert set(out) == set(scorer.columns), f"returned {sorted(out)}, declared {sorted(scorer.columns)}"
    for col, values in out.items():
        values = np.asarray(values)
        assert values.shape == (len(plans),), f"{col}: shape {values.shape} for {len(plans)} plans"
        if col in TEXT_COLUMNS:
            assert all(v is None or isinstance(v, str) for v in values), f"{col}: not text or None"
        else:
            assert values.dtype.kind == "f", f"{col}: dtype {values.dtype}, not float"
    if len(plans) > 1:
        try:
            scorer.score(plans, aligned[:-1], violating)
        except ValueError:
            pass
        else:
            raise AssertionError("a batch with one aligned image missing was scored")
    return out


def check_renderer(renderer, prompts: Sequence[str], seeds: Sequence[int], size: int) -> list[Image.Image]:
    """One RGB image of the configured size per prompt; the same batch draws the same images;
    `model` names what drew them."""
    assert isinstance(renderer.model, str) and renderer.model, "model must name what drew the images"
    images = renderer.render(list(prompts), list(seeds))
    assert len(images) == len(prompts), f"{len(images)} images for {len(prompts)} prompts"
    for im in images:
        assert isinstance(im, Image.Image) and im.mode == "RGB" and im.size == (size, size), im
    # the same batch again: bit-equal (across batch sizes only within a tolerance, see test_render)
    again = renderer.render(list(prompts), list(seeds))
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, again)), \
        "the same prompts and seeds drew other images"
    return images


class _Word(BaseModel):
    word: str


def check_llm(llm, messages) -> None:
    """An answer validated against the schema asked for, and usage counted for it. `messages`
    must make the model answer {"word": ...}."""
    assert isinstance(llm.model, str) and llm.max_concurrency >= 1
    before = llm.usage()["requests"]
    answer = llm.complete_json(messages, _Word)
    assert answer.ok and isinstance(answer.value, _Word), answer
    assert answer.attempts >= 1
    usage = llm.usage()
    assert {"requests", "prompt_tokens", "completion_tokens", "failures"} <= set(usage), usage
    assert usage["requests"] > before, "the request was not counted"
