"""Typed configs from YAML, shared by the dataset config (pipeline.config) and the training config
(livo_train.config): `--set key.sub=value` overrides, validation errors naming the field, and
the identity hash that leaves out fields marked performance-only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

# Marks on fields, collected by `marked_fields`, so what an identity hash leaves out is stated on the
# fields themselves. PERFORMANCE_ONLY_MARK: changes speed, not data (the dataset's run hash, as
# distilabel's signatures); RESUMABLE_MARK: may change between a run and its resume (training; a dataset's
# planning.samples_per_pair, which grows its run).
PERFORMANCE_ONLY_MARK = {"performance_only": True}
RESUMABLE_MARK = {"resumable": True}


def marked_fields(model: type[BaseModel], mark: dict, prefix: str = "") -> tuple[str, ...]:
    """Dotted names of ``model``'s fields that carry ``mark``, sections searched recursively."""
    (key, value), = mark.items()
    found: list[str] = []
    for name, info in model.model_fields.items():
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get(key) == value:
            found.append(prefix + name)
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            found += marked_fields(info.annotation, mark, f"{prefix}{name}.")
    return tuple(found)


class ConfigError(ValueError):
    pass


def parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    # YAML parsing gives numbers, booleans, null and [lists] their natural types.
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = nxt
        node[path[-1]] = value
    return data


def load_yaml_model(model: type[M], path: Path | str | None, overrides: list[str] | None, what: str = "config") -> M:
    """YAML file + `key.sub=value` overrides → a validated pydantic model, errors naming the field."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
    data = apply_overrides(data, overrides or [])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"invalid {what}{f' {path}' if path else ''}:\n  " + "\n  ".join(field_errors(e))) from None


def field_errors(e: ValidationError) -> list[str]:
    """One 'field.path: message' line per validation error."""
    return [f"{'.'.join(map(str, err['loc'])) or '(config)'}: {err['msg']}" for err in e.errors()]


def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    """A nested dict as one level of dotted keys (an empty dict stays a value)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def changed_fields(old: dict, new: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """'render.steps: 4 → 5' per dotted field whose value differs (fields under ``ignore`` left out)."""
    before, after = flatten(old), flatten(new)
    skipped = tuple(ignore)
    lines = []
    for key in sorted(set(before) | set(after)):
        if key in skipped or key.startswith(tuple(f"{i}." for i in skipped)):
            continue
        if before.get(key) != after.get(key):
            lines.append(f"{key}: {json.dumps(before.get(key))} → {json.dumps(after.get(key))}")
    return lines


def hash_without(data: dict, dotted_fields: tuple[str, ...]) -> str:
    """Short sha256 of a config dict minus the named fields (the identity of what it computes)."""
    for dotted in dotted_fields:
        *parents, leaf = dotted.split(".")
        node = data
        for p in parents:
            node = node.get(p, {})  # a section already left out (e.g. llm when unused)
        node.pop(leaf, None)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

