"""`livo eval` as a library call: EvalConfig (typed settings) and run_eval.

Unset render settings and the CLIP checkpoint default to the data run's (its config.yaml), so
the LiVO arm is judged with the same renderer settings and CLIP model the dataset was scored
with; without prompts, the data run's prompts are used (`per_principle` of each principle).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from livo_train.errors import EvalError


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Path = Field(description="`livo train` output folder.")
    out: Path | None = Field(None, description="Where eval.json and eval.png go; null = <model>/eval.")
    prompts: list[str] = Field(default_factory=list, description="Prompts to evaluate.")
    prompts_file: Path | None = Field(None, description="More prompts: a .txt, .jsonl or I2P .csv file.")
    data: Path | None = Field(
        None, description="Data run for default prompts and settings; null = the run the model was trained on.")
    per_principle: int = Field(
        2, ge=1, description="Without prompts: this many prompts per principle from the data run.")
    value: str = Field("auto", description="'auto' (selector), a principle id, a value text, or 'none'.")
    n: int = Field(4, ge=1, description="Images per prompt and arm.")
    seed: int = Field(0, description="Image i of every prompt uses seed + i.")
    steps: int | None = Field(None, ge=1, description="Denoising steps; null = the data run's.")
    guidance: float | None = Field(None, description="Guidance scale; null = the data run's.")
    width: int | None = Field(None, ge=8, multiple_of=8, description="Image width; null = the data run's.")
    height: int | None = Field(None, ge=8, multiple_of=8, description="Image height; null = the data run's.")
    scheduler: str | None = Field(
        None, description="diffusers scheduler class, e.g. DPMSolverMultistepScheduler; null = the model's.")
    clip_model: str | None = Field(None, description="clip-anytorch name or checkpoint; null = the data run's.")
    nudenet: bool = Field(True, description="Run the NudeNet detector on toxicity prompts.")
    nsfw: bool = Field(True, description="Run OpenNSFW on every image (nsfw_rate).")
    faces: bool = Field(True, description="Run the face classifier on bias prompts (face_d1, face_d2).")
    q16_prompts: Path | None = Field(
        None, description="Q16 prompts file (q16_rate, I2P inappropriate probability); null = the data run's "
                          "score.q16_prompts (none: Q16 off).")
    selector: Literal["default", "keyword"] = Field("default", description="Selector of value='auto'.")
    bias_fraction: float = Field(0.5, ge=0, le=1, description="Share of a bias prompt's images given the value.")
    device: str = Field("cpu", description="torch device of the renderer and the judges.")
    dtype: Literal["float32", "float16", "bfloat16"] = Field("float32", description="Renderer dtype.")

    @field_validator("out", "prompts_file", "data", "q16_prompts", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if v == "" else v  # `--out ""` means the default, not the current directory


def data_run_settings(run_dir: Path | None) -> tuple[dict, str | None, Path | None]:
    """Render settings, the CLIP checkpoint and the Q16 prompts file of a data run ({}, None and
    None without its config)."""
    from pipeline.config import load_config
    from pipeline.render.tiny_models import resolve_model
    from pipeline.run.layout import RunPaths

    paths = RunPaths(run_dir) if run_dir is not None else None
    if paths is None or not paths.config.exists():
        return {}, None, None
    cfg = load_config(paths.config)
    r = cfg.render
    render = {"num_inference_steps": r.steps, "guidance_scale": r.guidance_scale, "width": r.width,
              "height": r.height}
    return render, resolve_model(cfg.score.clip_model, paths.models(cfg.models_cache)), cfg.score.q16_prompts


def run_eval(cfg: EvalConfig, on_skipped: Callable[[str], None] | None = None) -> tuple[dict, Path, Path]:
    """Render, judge and write eval.json + eval.png; returns (result, json path, png path).

    `on_skipped` receives each problem of the prompt file (a line that is not a prompt).
    EvalError: what to pass instead (no CLIP model, no prompts).
    """
    from livo_train.eval_page import EvalImages, write_page
    from livo_train.evaluate import ImageJudge, evaluate, prompts_from_run, write_results
    from livo_train.outputs import read_training_record
    from livo_train.pipeline import LiVOPipeline
    from pipeline.prompts.importer import read_prompt_file

    record = read_training_record(cfg.model)
    data_run = Path(cfg.data or record["data_run"])
    render, clip_model, q16_prompts = data_run_settings(data_run if data_run.exists() else None)
    for key, value in (("num_inference_steps", cfg.steps), ("guidance_scale", cfg.guidance),
                       ("width", cfg.width), ("height", cfg.height)):
        if value is not None:
            render[key] = value
    clip_model = cfg.clip_model or clip_model
    if clip_model is None:
        raise EvalError("the data run is not available to take the CLIP model from: pass --clip-model")

    prompts = list(cfg.prompts)
    if cfg.prompts_file:
        found = read_prompt_file(cfg.prompts_file)
        for problem in found.problems:
            if on_skipped is not None:
                on_skipped(problem)
        prompts += [r.text for r in found.records]
    if not prompts:
        if not data_run.exists():
            raise EvalError(f"no prompts given and the data run {data_run} is gone: pass --prompts FILE")
        prompts = prompts_from_run(data_run, cfg.per_principle)

    pipe = LiVOPipeline.from_pretrained(cfg.model, device=cfg.device, dtype=cfg.dtype, scheduler=cfg.scheduler,
                                        selector=cfg.selector, bias_fraction=cfg.bias_fraction)
    q16_prompts = cfg.q16_prompts or q16_prompts
    judge = ImageJudge(clip_model, device=cfg.device, nudenet=cfg.nudenet, nsfw=cfg.nsfw, faces=cfg.faces,
                       q16_prompts=q16_prompts)
    out = cfg.out or cfg.model / "eval"
    images = EvalImages(out)  # the compared images and their page go beside eval.json
    result = evaluate(pipe, prompts, judge, value=cfg.value, n=cfg.n, seed=cfg.seed, render=render,
                      on_images=images)
    result.update(model=str(cfg.model), base_model=record["base_model"], clip_model=clip_model, render=render,
                  q16_prompts=None if q16_prompts is None else str(q16_prompts),
                  selector=cfg.selector, bias_fraction=cfg.bias_fraction)
    json_path, png_path = write_results(result, out)
    write_page(result, images, out)
    return result, json_path, png_path
