"""Template prompt packs: hand-written YAML files under prompts/packs/, one per category.

A pack is

    name: violence               # unique; records get source "template:<name>"
    category: violence           # one of pipeline.categories.PACK_CATEGORIES
    description: ...             # optional, free text
    max_prompts: 300             # optional cap, a deterministic sample
    templates:
      - "{style} of {attacker} {attack} {victim} {place}"
    slots:
      style: ["a photo", "an oil painting"]                # plain: the same on both sides
      attack:                                              # paired: prompt side / twin side
        - {harm: "punching", safe: "shaking hands with"}

A slot value is a plain string (the same in the prompt and in its safe twin) or a pair
`{harm: ..., safe: ...}` (both non-empty, different after normalisation). A slot is *paired*
when all its values are pairs (a slot may mix both kinds). Expansion renders each combination
twice: the prompt from the harm sides and its aligned twin (`PromptRecord.aligned_text`) from
the safe sides of the same values. Every template of a toxicity pack (not `benign`, not
`*_bias`) must use at least one paired slot, so every prompt gets a hand-written twin; benign
and bias packs must not use pairs. Harm sides must not repeat within a slot; safe sides may.

Expansion (deterministic, seeded) is in `pipeline.prompts.expand`.
"""

from __future__ import annotations

import math
import re
import string
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.catalog.text import prompt_key
from pipeline.categories import PACK_CATEGORIES, kind_of
from pipeline.errors import MissingFileError
from pipeline.prompts.text import normalize_prompt

DEFAULT_PACK_DIR = Path(__file__).resolve().parents[2] / "prompts" / "packs"

MAX_COMBINATIONS = 5_000_000  # per pack; the shuffled index list is materialised
_SLOT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


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


class SlotPair(BaseModel):
    """A paired slot value: `harm` goes into the prompt, `safe` into its aligned twin."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    harm: str
    safe: str


SlotValue = str | SlotPair


def harm_side(value: SlotValue) -> str:  # the text in the prompt
    return value.harm if isinstance(value, SlotPair) else value


def safe_side(value: SlotValue) -> str:  # the text in the aligned twin
    return value.safe if isinstance(value, SlotPair) else value


def _clean_value(slot: str, i: int, raw: object) -> SlotValue:
    """One raw YAML slot value → a normalised str or SlotPair (ValueError naming slot and index)."""
    where = f"slot {slot!r} value {i}"
    if isinstance(raw, str):
        if not normalize_prompt(raw):
            raise ValueError(f"{where} is empty")
        return normalize_prompt(raw)
    if not isinstance(raw, dict):
        raise ValueError(  # noqa: TRY004 - pydantic turns a ValueError, not a TypeError, into a ValidationError
            f"{where} must be a string or a {{harm: ..., safe: ...}} mapping, got {type(raw).__name__}")
    if set(raw) != {"harm", "safe"}:
        raise ValueError(f"{where}: a pair has exactly the keys 'harm' and 'safe', got {sorted(map(str, raw))}")
    for side in ("harm", "safe"):
        if not isinstance(raw[side], str) or not normalize_prompt(raw[side]):
            raise ValueError(f"{where}: {side!r} must be a non-empty string")
    sides = {side: normalize_prompt(raw[side]) for side in ("harm", "safe")}
    if prompt_key(sides["harm"]) == prompt_key(sides["safe"]):
        raise ValueError(f"{where}: harm and safe are the same text ({sides['harm']!r}); "
                         f"write a plain string, or a safe side without the harm")
    return SlotPair(**sides)


def is_paired_slot(values: list[SlotValue]) -> bool:
    """A slot whose every value is a {harm, safe} pair: it changes every prompt it lands in."""
    return bool(values) and all(isinstance(v, SlotPair) for v in values)


class PromptPack(BaseModel):
    """One validated pack. Field order matters: slots are validated before templates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    category: str
    description: str = ""
    max_prompts: int | None = Field(default=None, gt=0)
    slots: dict[str, list[SlotValue]] = Field(default_factory=dict)
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

    @field_validator("slots", mode="before")
    @classmethod
    def _slots_ok(cls, v: object, info) -> dict[str, list[SlotValue]]:
        if not isinstance(v, dict):
            raise ValueError(  # noqa: TRY004 - pydantic turns a ValueError, not a TypeError, into a ValidationError
                f"must be a mapping of slot names to value lists, got {type(v).__name__}")
        category = info.data.get("category")  # None: the category failed, reported on its own
        out: dict[str, list[SlotValue]] = {}
        for name, values in v.items():
            if not isinstance(name, str) or not _SLOT_NAME.match(name):
                raise ValueError(f"slot name {name!r} must be lower-case letters, digits and underscores")
            if not isinstance(values, list):
                raise ValueError(  # noqa: TRY004 - pydantic turns a ValueError, not a TypeError, into a ValidationError
                    f"slot {name!r} must be a list of values, got {type(values).__name__}")
            if not values:
                raise ValueError(f"slot {name!r} has an empty value list")
            cleaned = [_clean_value(name, i, x) for i, x in enumerate(values)]
            if any("{" in t or "}" in t for x in cleaned for t in (harm_side(x), safe_side(x))):
                raise ValueError(f"slot {name!r}: values must not contain braces")
            harms = [harm_side(x) for x in cleaned]
            dup = sorted({x for x in harms if harms.count(x) > 1})
            if dup:
                raise ValueError(f"slot {name!r} repeats values: {dup}")
            pairs = [x for x in cleaned if isinstance(x, SlotPair)]
            if pairs and category is not None and kind_of(category) != "toxicity":
                raise ValueError(
                    f"slot {name!r} has {{harm, safe}} pairs, but a {category!r} pack writes no safe twin "
                    f"(only toxicity packs do): write plain strings, e.g. {pairs[0].harm!r}"
                )
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
            category = info.data.get("category")
            if slots is not None and category is not None and kind_of(category) == "toxicity" \
                    and not any(is_paired_slot(slots[n]) for n in names):
                raise ValueError(
                    f"template {i} ({tpl!r}) uses no paired slot: every template of a toxicity pack needs "
                    f"at least one slot whose values are all {{harm: ..., safe: ...}} pairs, so each prompt "
                    f"has a hand-written safe twin; fix: move the harmful words into a slot and pair them"
                )
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
        return combination_space(self)[1]


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
    """Load every *.yaml pack in a directory, sorted by file name; pack names must be unique."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MissingFileError(f"pack directory {directory} does not exist; fix prompts.packs_dir (or create it)")
    files = sorted(p for p in directory.glob("*.yaml") if p.is_file())
    if not files:
        raise MissingFileError(f"no *.yaml packs in {directory}; add one or point prompts.packs_dir at a folder of packs")
    packs: list[PromptPack] = []
    seen: dict[str, Path] = {}
    for f in files:
        pack = load_pack(f)
        if pack.name in seen:
            raise PackError(f, "name", f"pack name {pack.name!r} is already used by {seen[pack.name].name}")
        seen[pack.name] = f
        packs.append(pack)
    return packs


def _value_order(value: SlotValue) -> tuple[str, str]:
    return harm_side(value), safe_side(value)


def combination_space(pack: PromptPack) -> tuple[list[tuple[str, list[str], list[list[SlotValue]], int]], int]:
    """Per template: (template, sorted slot names, value pools sorted by harm side, size); and the total."""
    space = []
    total = 0
    for tpl in pack.templates:
        names = sorted(set(template_slots(tpl)))
        pools = [sorted(pack.slots[n], key=_value_order) for n in names]
        size = math.prod(len(p) for p in pools)
        space.append((tpl, names, pools, size))
        total += size
    return space, total
