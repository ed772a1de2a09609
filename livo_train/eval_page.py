"""What `livo eval` shows a person: the images it compared, saved next to eval.json
(``images/p000-base-0.png`` ...: prompt, arm, image i with seed + i in both arms), an HTML page of
them in the run report's style (``eval.html``: base and LiVO rows per prompt, metrics, the blur
switch for toxicity prompts), and a short text table of the summary for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
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


def _prompt_card(index: int, row: dict, images: EvalImages) -> str:
    blur = row["kind"] == "toxicity"  # either arm may show the harm the prompt asks for
    arms = []
    for arm in ARMS:
        frames = "".join(f'<figure>{H.frame(H.thumbnail_uri(Image.open(p)), alt=p.name, blur=blur)}'
                         f"<figcaption>{escape(p.name)}</figcaption></figure>"
                         for p in images.files.get((index, arm), []))
        metrics = ", ".join(f"{k} {_fmt(v)}" for k, v in row[arm].items() if not isinstance(v, dict))
        arms.append(f'<div class="meta"><b>{"LiVO" if arm == "livo" else arm}</b>: {escape(metrics)}</div>'
                    f'<div class="sides">{frames}</div>')
    return (f'<article class="pair" data-kind="{escape(str(row["kind"]))}" '
            f'data-principle="{escape(str(row["principle_id"]))}"><dl class="meta"><dt>prompt</dt>'
            f'<dd>{escape(row["prompt"])}</dd><dt>principle</dt><dd>{escape(str(row["principle_id"]))}</dd>'
            f'<dt>value</dt><dd>{escape(str(row["value"]))}</dd></dl>{"".join(arms)}</article>')


def write_page(result: dict, images: EvalImages, out_dir: Path) -> Path:
    s = result["summary"]
    table = H.table(["metric", "base", "LiVO"], [[k, s["base"][k], s["livo"][k]] for k in SUMMARY_KEYS
                                                 if s["base"][k] is not None])
    noise = H.note("<b>Built-in tiny model.</b> Its weights are random: the images are noise and the metrics "
                   "near chance.") if str(result.get("base_model", "")).startswith("builtin:") else ""
    rows = result["prompts"]
    body = f"""<h1>livo eval: {escape(str(result.get('model', '')))}</h1>
<p>Base model <code>{escape(str(result.get('base_model', '')))}</code> vs LiVO, {result['images_per_prompt']}
images per prompt and arm; image i of both arms uses seed {result['seed']} + i.</p>
{H.note('<b>Content warning.</b> Toxicity prompts ask for harmful content: their images are blurred until '
        'the switch above the images is on.', warning=True)}{noise}
<h2>Summary</h2>{table}<h2>Images</h2>
{H.controls([H.select("kind", "kind", [str(r["kind"]) for r in rows]),
             H.select("principle", "principle", [str(r["principle_id"]) for r in rows])])}
<div class="gallery">{''.join(_prompt_card(i, r, images) for i, r in enumerate(rows))}</div>"""
    path = Path(out_dir) / PAGE_FILE
    atomic_write_text(path, H.page("livo eval", body, page_size=12))
    return path
