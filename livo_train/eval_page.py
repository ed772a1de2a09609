"""What `livo eval` shows a person: the images it compared, saved next to eval.json
(``images/p000-base-0.png`` ...: prompt, arm, image i with seed + i in both arms), an HTML page of
them in the run report's style (``eval.html``: base and LiVO rows per prompt, metrics, the blur
switch for toxicity prompts; the template is ``pipeline/report/templates/eval.html.j2``), and a short
text table of the summary for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from livo_train.evaluate import ARMS, SUMMARY_KEYS
from pipeline.report import html as H
from pipeline.run.atomic import atomic_write_text

PAGE_FILE = "eval.html"
IMAGES_DIR = "images"


class EvalImages:
    """`evaluate(on_images=...)`: saves each arm's images as PNG files under <out>/images/."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = Path(out_dir) / IMAGES_DIR
        self.files: dict[tuple[int, str], list[Path]] = {}

    def __call__(self, index: int, arm: str, images: Sequence[Image.Image]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, img in enumerate(images):
            path = self.dir / f"p{index:03d}-{arm}-{i}.png"
            img.save(path, format="PNG")
            paths.append(path)
        self.files[index, arm] = paths


def _fmt(v: object) -> str:
    return "–" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)


def summary_table(result: dict) -> str:
    """metric | base | LiVO | change, for the metrics that apply to some prompt."""
    s = result["summary"]
    rows = [(k, s["base"][k], s["livo"][k]) for k in SUMMARY_KEYS if s["base"][k] is not None]
    lines = [f"{'metric':<14}{'base':>10}{'LiVO':>10}{'change':>10}"]
    lines += [f"{k:<14}{_fmt(b):>10}{_fmt(v):>10}{_fmt(None if b is None or v is None else v - b):>10}"
              for k, b, v in rows]
    c = s["counts"]
    lines.append(f"{c['prompts']} prompts ({c['bias']} bias, {c['toxicity']} toxicity, {c['none']} none), "
                 f"{result['images_per_prompt']} images each per arm")
    return "\n".join(lines)


def _prompt_card(index: int, row: dict, images: EvalImages) -> dict:
    """What the page's card of one prompt shows (``eval.html.j2``'s ``prompt_card``)."""
    arms = [{"label": "LiVO" if arm == "livo" else arm,
             "metrics": ", ".join(f"{k} {_fmt(v)}" for k, v in row[arm].items() if not isinstance(v, dict)),
             "images": [(p.name, H.thumbnail_uri(Image.open(p))) for p in images.files.get((index, arm), [])]}
            for arm in ARMS]
    return {"kind": str(row["kind"]), "principle_id": str(row["principle_id"]), "prompt": row["prompt"],
            "value": str(row["value"]), "arms": arms,
            "blur": row["kind"] == "toxicity"}  # either arm may show the harm the prompt asks for


def write_page(result: dict, images: EvalImages, out_dir: Path) -> Path:
    s, rows = result["summary"], result["prompts"]
    page = H.render(
        "eval.html.j2", title="livo eval", page_size=12, model=str(result.get("model", "")),
        base_model=str(result.get("base_model", "")), images_per_prompt=result["images_per_prompt"],
        seed=result["seed"], builtin=str(result.get("base_model", "")).startswith("builtin:"),
        summary_head=["metric", "base", "LiVO"],
        summary_rows=[[k, s["base"][k], s["livo"][k]] for k in SUMMARY_KEYS if s["base"][k] is not None],
        filters=[("kind", "kind", [str(r["kind"]) for r in rows]),
                 ("principle", "principle", [str(r["principle_id"]) for r in rows])],
        prompts=[_prompt_card(i, r, images) for i, r in enumerate(rows)])
    path = Path(out_dir) / PAGE_FILE
    atomic_write_text(path, page)
    return path
