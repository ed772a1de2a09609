"""Resumable checkpoints of a training output folder.

    <out>/checkpoints/checkpoint-<step>/  value_encoder/ (safetensors), optimizer, scheduler,
                                          RNG states (accelerate), trainer_state.json

trainer_state.json is written last: a folder without it is an unfinished save and is never
resumed from. It records the data run's hash and the training identity (the configuration's
`identity_fields` and their hash): a checkpoint resumes only with the same data and the same
identity, whichever folder it lies in; performance-only fields may differ.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from livo_train.config import TrainConfig, TrainingError, identity_fields, identity_hash, load_train_config
from livo_train.outputs import CONFIG_FILE, VALUE_ENCODER
from pipeline.render.base import quiet_progress_bars
from pipeline.run.atomic import atomic_write_text
from pipeline.typed_config import changed_fields

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"


def checkpoint_dirs(out: str | Path) -> list[Path]:
    """The complete checkpoints of `out`, oldest first."""
    folder = Path(out) / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("checkpoint-*") if (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def check_output(out: Path, cfg: TrainConfig, resume: str | None) -> None:
    """Refuse an output folder trained with another configuration, one with checkpoints when not
    resuming (its run would be overwritten), or a `--resume CHECKPOINT` of another configuration.

    Called before setup saves `cfg` into `out`: a refused resume leaves `out` as it was, so
    the rerun with the right configuration is not refused for the folder instead.
    """
    saved = out / CONFIG_FILE
    if saved.exists():
        changed = changed_fields(identity_fields(load_train_config(saved)), identity_fields(cfg))
        if changed:
            raise TrainingError(f"{out} holds a training run with another configuration (changed: "
                                f"{', '.join(changed)}); use the configuration in {saved} or choose another --out")
    if checkpoint_dirs(out) and resume is None:
        raise TrainingError(f"{out} already has checkpoints: pass --resume latest, or choose another --out")
    if resume not in (None, "latest") and (Path(resume) / STATE_FILE).exists():
        check_identity(Path(resume), json.loads((Path(resume) / STATE_FILE).read_text()), cfg)


def check_identity(path: Path, state: dict, cfg: TrainConfig) -> None:
    """Refuse checkpoint `path` (its trainer_state.json is `state`) unless trained with `cfg`'s identity."""
    if "identity_fields" in state:
        changed = changed_fields(state["identity_fields"], identity_fields(cfg))
        if changed:
            raise TrainingError(f"checkpoint {path} was trained with a different configuration (changed: "
                                f"{', '.join(changed)}); resume with the configuration it was trained with (its "
                                f"{STATE_FILE} lists the values) or start a new --out")
    elif state.get("identity") != identity_hash(cfg):
        # written before checkpoints recorded their fields: only the hash can be compared
        raise TrainingError(f"checkpoint {path} was trained with a different configuration (identity "
                            f"{state.get('identity')}, now {identity_hash(cfg)}); resume with the configuration "
                            f"it was trained with (the {CONFIG_FILE} of its output folder) or start a new --out")


class Checkpoints:
    """Saves and restores the checkpoints of `out` through `accelerator` (call `register` once the
    value encoder is prepared: its hooks save it in the format inference loads)."""

    def __init__(self, accelerator: Any, out: Path, keep: int | None):
        self.accelerator, self.out, self.keep = accelerator, out, keep

    def register(self) -> None:
        self.accelerator.register_save_state_pre_hook(self._save_hook)
        self.accelerator.register_load_state_pre_hook(self._load_hook)

    def _save_hook(self, models: list, weights: list, output_dir: str) -> None:
        if self.accelerator.is_main_process:
            with quiet_progress_bars():
                for model in models:
                    self.accelerator.unwrap_model(model).save_pretrained(
                        os.path.join(output_dir, VALUE_ENCODER), safe_serialization=True)
        weights.clear()  # saved above, in the format inference loads

    def _load_hook(self, models: list, input_dir: str) -> None:
        from safetensors.torch import load_file

        state = load_file(os.path.join(input_dir, VALUE_ENCODER, "model.safetensors"))
        while models:
            self.accelerator.unwrap_model(models.pop()).load_state_dict(state)

    def save(self, step: int, data_run_hash: str, cfg: TrainConfig) -> Path:
        """accelerate's state of `step`, then trainer_state.json; prunes the oldest beyond `keep`."""
        acc = self.accelerator
        path = self.out / CHECKPOINTS / f"checkpoint-{step:06d}"
        acc.wait_for_everyone()
        acc.save_state(str(path), safe_serialization=True)
        if acc.is_main_process:
            atomic_write_text(path / STATE_FILE, json.dumps({
                "global_step": step, "data_run_hash": data_run_hash, "identity": identity_hash(cfg),
                "identity_fields": identity_fields(cfg), "num_processes": acc.num_processes,
            }))
            if self.keep is not None:
                for old in checkpoint_dirs(self.out)[:-self.keep]:
                    shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return path

    def load(self, which: str, data_run_hash: str, cfg: TrainConfig) -> int | None:
        """Restore `which` ('latest' or a checkpoint dir) and return its step; None when 'latest' finds none.

        Refuses a checkpoint of other data or another training identity than `cfg`'s, or one
        written by another number of processes (each process continues its own data order and noise).
        """
        acc = self.accelerator
        if which == "latest":
            found = checkpoint_dirs(self.out)
            if not found:
                acc.print(f"no checkpoint in {self.out}: starting a new run")
                return None
            path = found[-1]
        else:
            path = Path(which)
            if not (path / STATE_FILE).exists():
                raise TrainingError(f"{path} is not a checkpoint (no {STATE_FILE})")
        state = json.loads((path / STATE_FILE).read_text())
        if state["data_run_hash"] != data_run_hash:
            raise TrainingError(f"{path} was trained on data run {state['data_run_hash']}, not {data_run_hash}; "
                                "resume with the --data it was trained on, or start a new --out")
        check_identity(path, state, cfg)
        if state["num_processes"] != acc.num_processes:
            raise TrainingError(f"{path} was written by {state['num_processes']} processes; resume with as many "
                                f"(now {acc.num_processes}) so every process continues its own data and noise")
        acc.load_state(str(path))
        acc.print(f"resumed from {path} at step {state['global_step']}")
        return int(state["global_step"])
