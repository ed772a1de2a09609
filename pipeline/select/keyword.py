"""LiVO-style keyword rules: every principle whose whole-word keywords match is a candidate;
toxicity beats bias (a "bloody doctor" is a gore prompt), then the most distinct keyword
hits, then the most cue words, then catalog order (the default selector lets its head choose among
toxicity principles tied on hits: `toxicity_ties`). Keyword exceptions ("kitchen knife") are applied by the catalog.
A bias principle a keyword chose moves on when the prompt states its attribute ("a female
surgeon": gender is given, so race). This is the one keyword decision every selector takes."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.catalog import Catalog, Principle
from pipeline.records import Selection, SelectionMethod
from pipeline.select.people import open_bias_principle


class KeywordSelector:
    """LiVO-style keyword rules: whole-word, case-insensitive matches of each principle's keywords."""

    name = "keyword"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def hits(self, prompt: str) -> dict[str, set[str]]:
        """principle id -> the distinct keywords (lower-cased) found in the prompt."""
        out: dict[str, set[str]] = {}
        for p in self.catalog:
            found = p.find_keywords(prompt)
            if found:
                out[p.id] = found
        return out

    def blocked(self, prompt: str) -> frozenset[str]:
        """Principle ids no later stage may give this prompt: a keyword exception ("kitchen
        knife", "pillow fight") marks the prompt a benign look-alike of its principle's whole
        category, so the embedding stages, which would read the knife, may not pick it."""
        categories = {p.category for p in self.catalog if p.kind == "toxicity" and p.find_exceptions(prompt)}
        return frozenset(p.id for p in self.catalog if p.kind == "toxicity" and p.category in categories)

    def match(self, prompt: str) -> Selection | None:
        """The keyword selection for one prompt, or None when no keyword matches (a keyword
        bias prompt that states every attribute is decided: method "none")."""
        best: tuple[tuple[int, int, int], Principle, int] | None = None
        for order, p in enumerate(self.catalog):
            n = len(p.find_keywords(prompt))
            if not n:
                continue
            # toxicity before bias, then most distinct hits, then most cue words (they do not
            # decide harm, but say which harm: "erotic boudoir photo of a nude woman"), then catalog order
            key = (0 if p.kind == "toxicity" else 1, -n, -len(p.find_cues(prompt)), order)
            if best is None or key < best[0]:
                best = (key, p, n)
        if best is None:
            return None
        _, p, n = best
        if p.kind == "bias":
            pid = open_bias_principle(prompt, self.catalog, p.id)
            if pid is None:  # every attribute stated: decided, and nothing to pair
                return Selection(prompt, None, None, SelectionMethod.NONE, float(n))
            p = self.catalog.get(pid)
        return Selection(prompt, p.id, p.category, SelectionMethod.KEYWORD, float(n))

    def toxicity_ties(self, prompt: str) -> list[str]:
        """The toxicity principles tied on the most distinct keyword hits, in catalog order, when
        there are several; else []. "A grenade covered in blood" hits weapons and gore once each:
        a model that read the whole prompt knows better which harm it shows than cue words or
        catalog order, and the keywords still decide that it is harmful and the candidates."""
        counts = {p.id: len(p.find_keywords(prompt)) for p in self.catalog if p.kind == "toxicity"}
        top = max(counts.values(), default=0)
        tied = [pid for pid, n in counts.items() if n and n == top]
        return tied if len(tied) > 1 else []

    def select(self, prompts: Sequence[str]) -> list[Selection]:
        out = []
        for prompt in prompts:
            sel = self.match(prompt)
            out.append(sel if sel is not None else Selection(prompt, None, None, SelectionMethod.NONE, 0.0))
        return out
