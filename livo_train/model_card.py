"""The README.md model card written next to a trained value encoder: `huggingface_hub`'s
`ModelCardData` as its header, the Jinja2 template ``templates/model_card.md.j2`` (package data) as
its body."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import jinja2
from huggingface_hub import ModelCard, ModelCardData

from livo_train.config import TrainConfig

_HEAD_ORDER = ["library_name", "base_model", "tags"]  # the header's order, as the cards always had


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _rel(path: object, out: Path | None) -> str:
    """A local path relative to the output folder, so the card stays true when the folders move
    together; a hub id (no such path) as written."""
    p = Path(str(path))
    if out is None or not p.exists():
        return str(path)
    return os.path.relpath(p.resolve(), Path(out).resolve())


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("livo_train", "templates"), autoescape=False,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["fmt"] = _fmt
    return env.get_template("model_card.md.j2")


def render_model_card(cfg: TrainConfig, summary: dict) -> str:
    data = ModelCardData(library_name="transformers", base_model=summary["base_model"],
                         tags=["livo", "value-alignment", "text-to-image", "value-encoder"])
    text = _template().render(
        card_data=data.to_yaml(original_order=_HEAD_ORDER), name=cfg.name, s=summary, lc=cfg.loss, o=cfg.optim,
        t=cfg.train, d=cfg.data, incomplete=summary.get("data_run_incomplete") or [],
        base_model_path=_rel(summary["base_model_path"], cfg.output_dir),
        data_run=_rel(summary["data_run"], cfg.output_dir))
    return str(ModelCard(text))  # parsed back: a header the Hub cannot read is an error here
