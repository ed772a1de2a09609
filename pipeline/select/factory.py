"""The one place a selector is built from its name (``selector:`` of the config, or
``LiVOPipeline(selector=...)``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.catalog import Catalog
from pipeline.config import RunConfig, SemanticConfig
from pipeline.select.base import Selector

NAMES = ("default", "keyword", "retrieval", "llm")


def make_selector(kind: str | RunConfig, catalog: Catalog, llm: Any = None) -> Selector:
    """The selector named by ``kind`` (a name, or a config whose ``selector`` and ``semantic``
    sections are used). ``llm`` serves ``selector: llm``; with a config it defaults to the
    configured client with the user cache. Undecided LLM rows collect in its ``failures``."""
    cfg = kind if isinstance(kind, RunConfig) else None
    name = cfg.selector if cfg is not None else kind
    semantic = cfg.semantic if cfg is not None else SemanticConfig()
    if name == "keyword":
        from pipeline.select.keyword import KeywordSelector

        return KeywordSelector(catalog)
    if name == "default":
        from pipeline.select.classifier import ClassifierSelector
        from pipeline.select.head import HEAD_FILE

        # the head beside the catalog it was trained for, unless the config names one
        head = semantic.head
        if head is None:
            folder = Path(cfg.catalog_dir) if cfg is not None else (
                Path(catalog.files[0]).parent if catalog.files else None)
            head = folder / HEAD_FILE if folder is not None else None
        return ClassifierSelector(catalog, head, semantic.model, semantic.device,
                                  toxic_threshold=semantic.toxic_threshold)
    if name == "retrieval":
        from pipeline.select.retrieval import RetrievalSelector

        kwargs = {k: v for k, v in semantic.model_dump(include={"threshold", "margin", "device"}).items()
                  if v is not None}
        return RetrievalSelector(catalog, model_path=semantic.model, **kwargs)
    if name == "llm":
        from pipeline.select.llm import LLMSelector

        if llm is None:
            if cfg is None:
                raise ValueError("selector 'llm' needs an LLM client (pass llm=...)")
            from pipeline.llm.client import make_llm

            llm = make_llm(cfg)
        return LLMSelector(catalog, llm)
    raise ValueError(f"selector must be one of {', '.join(NAMES)}, got {name!r}")
