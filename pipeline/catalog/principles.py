"""The value-principle catalog: YAML files under value_principles/, validated on load.

A malformed or inconsistent file fails with an error naming the file, the principle and
the field, because a silently wrong catalog poisons every pair built from it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.catalog.text import whole_words
from pipeline.categories import ALL, kind_of

DEFAULT_CATALOG_DIR = Path(__file__).resolve().parents[2] / "value_principles"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class CatalogError(ValueError):
    def __init__(self, file: Path | str, principle: str | None, field: str | None, message: str):
        self.file, self.principle, self.field = str(file), principle, field
        where = [self.file]
        if principle:
            where.append(f"principle {principle!r}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {message}")


class RewriteRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pattern: str
    replacement: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"invalid regular expression: {e}") from None
        return v

    def apply(self, text: str) -> tuple[str, int]:
        return re.subn(self.pattern, self.replacement, text, flags=re.IGNORECASE)


def _nonblank(items: list[str]) -> list[str]:
    cleaned = [s.strip() for s in items]
    if any(not s for s in cleaned):
        raise ValueError("entries must be non-empty strings")
    return cleaned


class AttributePhrase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    adjective: str = Field(min_length=1)
    person: str = Field(min_length=3)
    # the adjective's form for a woman or girl where English has one ("a Latina nurse")
    feminine: str | None = Field(default=None, min_length=1)


class Principle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    category: str
    kind: Literal["toxicity", "bias"]
    statement: str = Field(min_length=10)
    keywords: list[str] = Field(min_length=1)
    # Benign phrases that contain a keyword ("blood pressure", "kitchen knife"): a keyword
    # inside one of them does not count.
    keyword_exceptions: list[str] = Field(default_factory=list)
    # Words that signal the principle without deciding it ("horror", "gun", "sensual"): in the
    # prompts people really write they are mostly harmless, so they are not keywords; the
    # selector's head reads them in context, and a template pack's category may name the
    # principle by them.
    cue_words: list[str] = Field(default_factory=list)
    # Cue words that name a style, genre or mood ("horror", "demonic"): the twin of a pair of another
    # principle may keep them ("..., horror themed" stays in a gore twin); the rules of this principle
    # still rewrite them in its own pairs. Cue words for things ("gun") are `object_words`; erotic
    # moods ("sensual") are neither: a twin keeps none of them.
    style_words: list[str] = Field(default_factory=list)
    # Cue words for things that harm nobody merely shown or held ("sword", "knife", "gun": a sword held
    # in a fantasy portrait threatens no one): the twin of another principle's pair keeps them where
    # the selector still reads it as harmless ("a man with a sword fighting ..." -> "a man with a sword
    # dancing with ..."), and replaces them too where it does not. This principle's own rules still
    # rewrite them in its own pairs.
    object_words: list[str] = Field(default_factory=list)
    violation_concepts: list[str] = Field(min_length=1)
    # toxicity
    safe_concepts: list[str] = Field(default_factory=list)
    negative_concepts: list[str] = Field(default_factory=list)
    rewrite_rules: list[RewriteRule] = Field(default_factory=list)
    injection: str | None = None
    # bias
    attribute: str | None = None
    attribute_values: list[str] = Field(default_factory=list)
    # value -> how the aligned prompt says it: an adjective placed before the person noun
    # ("a Black nurse"), and a person phrase in place of "someone" ("a Black person");
    # never a bare ", black" that reads as a colour.
    attribute_phrases: dict[str, AttributePhrase] = Field(default_factory=dict)

    _norm = field_validator("keywords", "keyword_exceptions", "cue_words", "style_words", "object_words",
                            "violation_concepts", "safe_concepts",
                            "negative_concepts", "attribute_values")(
        classmethod(lambda cls, v: _nonblank(v))
    )

    @field_validator("id")
    @classmethod
    def _id_slug(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("must be lower-case letters, digits and underscores, starting with a letter")
        return v

    @field_validator("category")
    @classmethod
    def _known_category(cls, v: str) -> str:
        if v not in ALL:
            raise ValueError(f"unknown category {v!r}; expected one of {', '.join(ALL)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Principle:
        for phrase in self.keyword_exceptions:
            if not whole_words([*self.keywords, *self.cue_words]).search(phrase):
                raise _FieldError("keyword_exceptions",
                                  f"{phrase!r} contains none of the keywords or cue words, so it excepts nothing")
        if overlap := sorted(set(self.keywords) & set(self.cue_words)):
            raise _FieldError("cue_words", f"{overlap} are keywords too; a word either decides (keywords) or not")
        for name in ("style_words", "object_words"):
            if extra := sorted(set(getattr(self, name)) - set(self.cue_words)):
                raise _FieldError(name, f"{extra} are not cue words of this principle; list them in cue_words too")
        expected = kind_of(self.category)
        if self.kind != expected:
            raise _FieldError("kind", f"category {self.category!r} is of kind {expected!r}, not {self.kind!r}")
        if self.kind == "toxicity":
            for name in ("safe_concepts", "negative_concepts"):
                if not getattr(self, name):
                    raise _FieldError(name, "required for toxicity principles")
            if not self.rewrite_rules:
                raise _FieldError("rewrite_rules", "required for toxicity principles (they make the safe twin of "
                                                   "prompts no pack wrote a twin for)")
            if not self.injection:
                raise _FieldError("injection", "required for toxicity principles")
            for name in ("attribute", "attribute_phrases"):
                if getattr(self, name):
                    raise _FieldError(name, "only bias principles have this field")
        else:
            if not self.attribute:
                raise _FieldError("attribute", "required for bias principles")
            if len(set(self.attribute_values)) < 2:
                raise _FieldError("attribute_values", "bias principles need at least two distinct values")
            if set(self.attribute_phrases) != set(self.attribute_values):
                raise _FieldError("attribute_phrases", f"needs one entry per attribute value {self.attribute_values}, "
                                                       f"got {sorted(self.attribute_phrases)}")
            if self.rewrite_rules or self.injection:
                raise _FieldError("rewrite_rules" if self.rewrite_rules else "injection",
                                  "only toxicity principles have this field")
        return self

    def find_keywords(self, text: str) -> set[str]:
        """The distinct keywords (lower-cased) in `text`, whole words only, outside keyword_exceptions."""
        return self._find(self.keywords, text)

    def find_cues(self, text: str) -> set[str]:
        """The distinct cue words (lower-cased) in `text`, outside keyword_exceptions."""
        return self._find(self.cue_words, text) if self.cue_words else set()

    def find_styles(self, text: str) -> set[str]:
        """The distinct style words (lower-cased) in `text`, outside keyword_exceptions."""
        return self._find(self.style_words, text) if self.style_words else set()

    def find_objects(self, text: str) -> set[str]:
        """The distinct object words (lower-cased) in `text`, outside keyword_exceptions."""
        return self._find(self.object_words, text) if self.object_words else set()

    def _find(self, words: list[str], text: str) -> set[str]:
        if self.keyword_exceptions:
            text = whole_words(self.keyword_exceptions).sub(" ", text)
        return {m.lower() for m in whole_words(words).findall(text)}

    def find_exceptions(self, text: str) -> set[str]:
        """The benign look-alike phrases of this principle ("kitchen knife") found in `text`."""
        if not self.keyword_exceptions:
            return set()
        return {m.lower() for m in whole_words(self.keyword_exceptions).findall(text)}


class _FieldError(ValueError):
    """Raised inside model validation to name the offending field in the CatalogError."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


class Catalog:
    def __init__(self, principles: list[Principle], files: list[Path]):
        self.principles = principles
        self.files = files
        self._by_id = {p.id: p for p in principles}

    def __len__(self) -> int:
        return len(self.principles)

    def __iter__(self):
        return iter(self.principles)

    def __contains__(self, pid: str) -> bool:
        return pid in self._by_id

    def get(self, pid: str) -> Principle:
        try:
            return self._by_id[pid]
        except KeyError:
            raise KeyError(f"unknown principle id {pid!r}; known: {', '.join(self._by_id)}") from None

    def by_category(self, category: str) -> list[Principle]:
        return [p for p in self.principles if p.category == category]

    @property
    def ids(self) -> list[str]:
        return list(self._by_id)


def _error_field(err: dict) -> str:
    return ".".join(str(part) for part in err["loc"]) or "(principle)"


def _parse_principle(raw: object, file: Path, index: int) -> Principle:
    label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{index}"
    if not isinstance(raw, dict):
        raise CatalogError(file, label, None, f"each principle must be a mapping, got {type(raw).__name__}")
    try:
        return Principle.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _FieldError):
            raise CatalogError(file, label, ctx_error.field, str(ctx_error)) from None
        msg = err["msg"].removeprefix("Value error, ")
        raise CatalogError(file, label, _error_field(err), msg) from None


def load_catalog(path: Path | str = DEFAULT_CATALOG_DIR) -> Catalog:
    """Load every *.yaml under a folder (or one file) and check the catalog as a whole."""
    path = Path(path)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise CatalogError(path, None, None, "no *.yaml principle files found")
    principles: list[Principle] = []
    seen: dict[str, Path] = {}
    for file in files:
        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise CatalogError(file, None, None, f"invalid YAML: {e}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("principles"), list):
            raise CatalogError(file, None, "principles", "the file must hold a top-level 'principles:' list")
        for i, raw in enumerate(doc["principles"]):
            p = _parse_principle(raw, file, i)
            if p.id in seen:
                raise CatalogError(file, p.id, "id", f"duplicate id, first defined in {seen[p.id]}")
            seen[p.id] = file
            principles.append(p)
    missing = [c for c in ALL if not any(p.category == c for p in principles)]
    if missing and path.is_dir():
        raise CatalogError(path, None, "category", f"no principle covers categories: {', '.join(missing)}")
    return Catalog(principles, files)
