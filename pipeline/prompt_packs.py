"""Template prompt packs: hand-written YAML files under prompts/packs/, one per category.

A pack is

    name: violence               # unique; records get source "template:<name>"
    category: violence           # one of pipeline.categories.PACK_CATEGORIES
    description: ...             # optional, free text
    max_prompts: 300             # optional cap, a deterministic sample
    templates:
      - "{style} of {attacker} {action} {place}"
    slots:
      style: ["a photo", "an oil painting"]
      ...

Expansion is deterministic: each template's cartesian product over its slots (slot
names and values sorted), deduplicated by normalised text, then shuffled with a seeded
RNG (seeded by the seed and the pack name, never by Python's hash), then capped at
max_prompts. The same files and seed always give the same list, on any machine.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.categories import PACK_CATEGORIES
from pipeline.records import PromptRecord

DEFAULT_PACK_DIR = Path(__file__).resolve().parent.parent / "prompts" / "packs"

MAX_COMBINATIONS = 5_000_000  # per pack; the shuffled index list is materialised
_SLOT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_ARTICLE = re.compile(r"\b([Aa]n?) ([A-Za-z0-9][\w'-]*)")
# vowel letters that sound like consonants, and silent-h words
_CONSONANT_SOUND = ("uni", "use", "usu", "uti", "ure", "eu", "one", "once", "ubiq", "ukr")
_VOWEL_SOUND_H = ("hour", "honest", "honor", "honour", "heir")


# --------------------------------------------------------------------------- text


def normalize_prompt(text: str) -> str:
    """Strip and collapse all whitespace runs (newlines, tabs, ...) to single spaces."""
    return " ".join(text.split())


def prompt_key(text: str) -> str:
    """The dedupe key: lower-cased (casefolded), whitespace-collapsed text."""
    return " ".join(text.casefold().split())


def dedupe(records: Iterable[PromptRecord]) -> list[PromptRecord]:
    """Keep the first record of each normalised text (see prompt_key), in order."""
    seen: set[str] = set()
    out: list[PromptRecord] = []
    for rec in records:
        key = prompt_key(rec.text)
        if key in seen:
            continue
        seen.add(key)
        out.append(rec)
    return out


# --------------------------------------------------------------------------- model


class PackError(ValueError):
    """A pack file is malformed. The message names the file and the field(s).

    `file` and `field` (the first offending field, None for file-level problems) are
    kept as attributes; `errors` holds every (field, message) pair found.
    """

    def __init__(self, file: Path | str, field: str | None, message: str, *,
                 errors: list[tuple[str | None, str]] | None = None):
        self.file = str(file)
        self.field = field
        self.errors = errors or [(field, message)]
        parts = [f"field {f!r}: {m}" if f else m for f, m in self.errors]
        super().__init__(f"{self.file}: " + "; ".join(parts))


def template_slots(template: str) -> list[str]:
    """The slot names a template uses, in order of appearance (ValueError if malformed)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:  # unbalanced braces
        raise ValueError(f"malformed template {template!r}: {e}") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _SLOT_NAME.match(name):
            raise ValueError(
                f"template {template!r} has placeholder {{{name}}}: placeholders must be "
                f"named slots of lower-case letters, digits and underscores"
            )
        if spec or conversion:
            raise ValueError(f"template {template!r}: placeholder {{{name}}} must not have a format spec")
        names.append(name)
    return names


class PromptPack(BaseModel):
    """One validated pack. Field order matters: slots are validated before templates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    category: str
    description: str = ""
    max_prompts: int | None = Field(default=None, gt=0)
    slots: dict[str, list[str]] = Field(default_factory=dict)
    templates: list[str] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name_slug(cls, v: str) -> str:
        if not _SLOT_NAME.match(v):
            raise ValueError("must be lower-case letters, digits and underscores, starting with a letter")
        return v

    @field_validator("category")
    @classmethod
    def _known_category(cls, v: str) -> str:
        if v not in PACK_CATEGORIES:
            raise ValueError(f"unknown category {v!r}; expected one of {', '.join(PACK_CATEGORIES)}")
        return v

    @field_validator("slots")
    @classmethod
    def _slots_ok(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, values in v.items():
            if not _SLOT_NAME.match(name):
                raise ValueError(f"slot name {name!r} must be lower-case letters, digits and underscores")
            if not values:
                raise ValueError(f"slot {name!r} has an empty value list")
            cleaned = [normalize_prompt(x) for x in values]
            if any("{" in x or "}" in x for x in cleaned):
                raise ValueError(f"slot {name!r}: values must not contain braces")
            dup = sorted({x for x in cleaned if cleaned.count(x) > 1})
            if dup:
                raise ValueError(f"slot {name!r} repeats values: {dup}")
            out[name] = cleaned
        return out

    @field_validator("templates")
    @classmethod
    def _templates_ok(cls, v: list[str], info) -> list[str]:
        slots = info.data.get("slots")
        used: set[str] = set()
        for i, tpl in enumerate(v):
            if not tpl.strip():
                raise ValueError(f"template {i} is empty")
            names = template_slots(tpl)
            if slots is not None:  # None: slots failed validation, reported on their own
                unknown = [n for n in names if n not in slots]
                if unknown:
                    raise ValueError(
                        f"template {i} ({tpl!r}) uses unknown slot(s) {', '.join(map(repr, unknown))}; "
                        f"defined slots: {', '.join(sorted(slots)) or '(none)'}"
                    )
            used.update(names)
        if slots is not None:
            unused = sorted(set(slots) - used)
            if unused:
                raise ValueError(f"slot(s) {', '.join(map(repr, unused))} defined but used by no template")
        if len({normalize_prompt(t) for t in v}) != len(v):
            raise ValueError("templates repeat")
        if slots is not None:
            size = sum(math.prod(len(slots[n]) for n in set(template_slots(t))) for t in v)
            if size > MAX_COMBINATIONS:
                raise ValueError(f"{size:,} combinations; at most {MAX_COMBINATIONS:,} (split the pack)")
        return [normalize_prompt(t) for t in v]

    def combinations(self) -> int:
        """Number of raw (pre-dedupe, pre-cap) expansions."""
        return _combination_space(self)[1]


# --------------------------------------------------------------------------- loading


def _format_loc(loc: tuple) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(pack)"


def parse_pack(data: object, file: Path | str = "<memory>") -> PromptPack:
    """Validate one parsed YAML document; PackError naming file and field on failure."""
    if not isinstance(data, dict):
        raise PackError(file, None, f"a pack must be a YAML mapping, got {type(data).__name__}")
    try:
        return PromptPack.model_validate(data)
    except ValidationError as e:
        errors = [(_format_loc(err["loc"]), err["msg"].removeprefix("Value error, ")) for err in e.errors()]
        raise PackError(file, errors[0][0], errors[0][1], errors=errors) from None


def load_pack(path: Path | str) -> PromptPack:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PackError(path, None, f"invalid YAML: {e}") from None
    except UnicodeDecodeError as e:
        raise PackError(path, None, f"not UTF-8: {e}") from None
    return parse_pack(data, path)


def load_packs(directory: Path | str = DEFAULT_PACK_DIR) -> list[PromptPack]:
    """Load every *.yaml pack in a directory, sorted by file name.

    Pack names must be unique across the directory.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"pack directory {directory} does not exist")
    files = sorted(p for p in directory.glob("*.yaml") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no *.yaml packs in {directory}")
    packs: list[PromptPack] = []
    seen: dict[str, Path] = {}
    for f in files:
        pack = load_pack(f)
        if pack.name in seen:
            raise PackError(f, "name", f"pack name {pack.name!r} is already used by {seen[pack.name].name}")
        seen[pack.name] = f
        packs.append(pack)
    return packs


# --------------------------------------------------------------------------- expansion


def _wants_an(word: str) -> bool:
    w = word.lower()
    if w.startswith(_VOWEL_SOUND_H):
        return True
    if w[0].isdigit():  # "an 8k photo", "an 18th-century painting", "a 35mm photo"
        return w.startswith("8") or re.match(r"1[18](\D|$)", w) is not None
    return w[0] in "aeiou" and not w.startswith(_CONSONANT_SOUND)


def fix_articles(text: str) -> str:
    """'a' / 'an' agreement after slot filling: 'a adult' -> 'an adult', 'an man' -> 'a man'."""

    def sub(m: re.Match) -> str:
        art, word = m.group(1), m.group(2)
        want = "an" if _wants_an(word) else "a"
        if art.lower() == want:
            return m.group(0)
        return (want.capitalize() if art[0] == "A" else want) + " " + word

    return _ARTICLE.sub(sub, text)


def _render(template: str, values: dict[str, str]) -> str:
    text = normalize_prompt(template.format(**values))
    return fix_articles(_SPACE_BEFORE_PUNCT.sub(r"\1", text))


def _rng(seed: int, label: str) -> random.Random:
    # A str seed is hashed with SHA-512 by random.seed: stable across runs and machines
    # (unlike hash(), which PYTHONHASHSEED randomises).
    return random.Random(f"{seed}:{label}")


def _combination_space(pack: PromptPack) -> tuple[list[tuple[str, list[str], list[list[str]], int]], int]:
    """Per template: (template, sorted slot names, sorted value pools, size); and the total."""
    space = []
    total = 0
    for tpl in pack.templates:
        names = sorted(set(template_slots(tpl)))
        pools = [sorted(pack.slots[n]) for n in names]
        size = math.prod(len(p) for p in pools)
        space.append((tpl, names, pools, size))
        total += size
    return space, total


def expand_pack(pack: PromptPack, seed: int = 0) -> list[PromptRecord]:
    """All distinct prompts of a pack, in a seeded shuffled order, capped at max_prompts.

    The combinations are numbered in sorted cartesian-product order (templates in file
    order; slot names and values sorted; last slot varying fastest), that numbering is
    shuffled with a seeded RNG, and prompts are rendered in the shuffled order, keeping
    the first of each normalised text, until max_prompts are found. Only what is kept
    (plus duplicates met on the way) is rendered, so large products stay cheap.
    """
    space, total = _combination_space(pack)
    starts = list(itertools.accumulate(size for *_, size in space))
    order = list(range(total))
    _rng(seed, f"pack:{pack.name}").shuffle(order)
    limit = pack.max_prompts if pack.max_prompts is not None else total

    texts: list[str] = []
    seen: set[str] = set()
    for index in order:
        if len(texts) >= limit:
            break
        t = bisect.bisect_right(starts, index)
        tpl, names, pools, size = space[t]
        rest = index - (starts[t] - size)
        values: dict[str, str] = {}
        for name, pool in zip(reversed(names), reversed(pools)):
            rest, k = divmod(rest, len(pool))
            values[name] = pool[k]
        text = _render(tpl, values)
        key = prompt_key(text)
        if text and key not in seen:
            seen.add(key)
            texts.append(text)
    source = f"template:{pack.name}"
    return [PromptRecord(text=t, source=source, category_hint=pack.category) for t in texts]


def expand_packs(
    packs: Sequence[PromptPack],
    seed: int = 0,
    per_category: int | None = None,
    categories: Sequence[str] | None = None,
) -> list[PromptRecord]:
    """Expand packs, grouped by category in PACK_CATEGORIES order, deduplicated.

    categories restricts to those ids (ValueError for an unknown id). per_category caps
    each category at a deterministic sample: the category's prompts in a seeded shuffle,
    first N taken, so a smaller cap is always a prefix of a larger one for the same seed.
    """
    if per_category is not None and per_category < 0:
        raise ValueError(f"per_category must be >= 0, got {per_category}")
    if categories is not None:
        unknown = [c for c in categories if c not in PACK_CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; expected some of {', '.join(PACK_CATEGORIES)}")
        wanted = set(categories)
    else:
        wanted = set(PACK_CATEGORIES)

    by_cat: dict[str, list[PromptRecord]] = {}
    for pack in sorted(packs, key=lambda p: p.name):
        if pack.category in wanted:
            by_cat.setdefault(pack.category, []).extend(expand_pack(pack, seed))

    out: list[PromptRecord] = []
    for cat in PACK_CATEGORIES:
        recs = dedupe(by_cat.get(cat, []))
        if per_category is not None:
            if len({r.source for r in recs}) > 1:
                # several packs in one category: mix them before taking the first N
                _rng(seed, f"category:{cat}").shuffle(recs)
            recs = recs[:per_category]
        out.extend(recs)
    return dedupe(out)
