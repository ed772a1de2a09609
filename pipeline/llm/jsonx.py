"""JSON answers: the schema spelled out for the model, and the first JSON object pulled out of its text."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.llm.types import Messages


def extract_json(text: str) -> Any:
    """The first JSON object in ``text``: the whole text, a fenced block, or one embedded in prose."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ValueError("no JSON object found in the answer")


def describe_error(e: Exception) -> str:
    """A short, model-readable description of why an answer was rejected."""
    if isinstance(e, ValidationError):
        parts = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(answer)"
            parts.append(f"{loc}: {err['msg']}")
        return "; ".join(parts)
    return str(e)


def schema_instruction(schema: type[BaseModel]) -> str:
    return ("Answer with a single JSON object and nothing else, matching this JSON schema: "
            + json.dumps(schema.model_json_schema(), separators=(",", ":")))


def with_schema_instruction(messages: Messages, schema: type[BaseModel]) -> Messages:
    """The messages with the schema spelled out in the system message, so servers without
    structured output (the text fallback) are told the same thing."""
    note = schema_instruction(schema)
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": f"{messages[0]['content']}\n\n{note}"}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def response_format(schema: type[BaseModel]) -> dict:
    return {"type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": True}}

