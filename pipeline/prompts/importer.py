"""Import prompts from files: .txt (one per line), .jsonl ({"prompt": ...} per line) and
.csv in the I2P layout (a `prompt` column; `categories` kept as the category hint).

Bad rows never stop a run: each is skipped and reported as an ImportProblem with the
file name and the physical line number (for a multi-line CSV record: the line it starts
on), and logged (INFO) on the `pipeline.prompts` logger; callers report the problems. A
file that cannot be read as the format at all raises `PromptFileError` naming the fix:
missing, an unknown extension, not UTF-8 (every row of a Latin-1 file would otherwise be
lost one by one), a CSV without a `prompt` column, or no usable prompt at all.

Accepted prompts are stripped and whitespace-collapsed (a multi-line prompt becomes one
line). Duplicates (same text ignoring case and whitespace) are dropped within a file and,
with read_prompt_files, across files; the first occurrence wins.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.catalog.text import prompt_key
from pipeline.errors import MissingFileError, UserError
from pipeline.prompts.text import check_prompt, normalize_prompt
from pipeline.records import PromptRecord

log = logging.getLogger("pipeline.prompts")

FORMATS = ("txt", "jsonl", "csv")
_SUFFIX_FORMAT = {".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}

# The columns of the I2P prompt set's CSV (Schramowski et al., Safe Latent Diffusion, CVPR 2023; github
# ml-research/i2p); only `prompt` is required, `categories` is kept.
I2P_COLUMNS = (
    "prompt",
    "categories",
    "hard",
    "inappropriate_percentage",
    "nudity_percentage",
    "q16_percentage",
    "sd_safety_percentage",
    "prompt_toxicity",
    "lexica_url",
    "sd_seed",
    "sd_guidance_scale",
    "sd_image_width",
    "sd_image_height",
    "sd_model",
)


class PromptFileError(UserError, ValueError):
    """A prompt file that cannot be imported as a whole; the message says how to fix it."""


@dataclass(frozen=True)
class ImportProblem:
    """A skipped row: file name, 1-based physical line, human-readable reason."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class ImportResult:
    records: list[PromptRecord] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.records]


# --------------------------------------------------------------------------- readers
# Each reader yields (line, raw_text | None, category_hint, problem_reason | None).


def _physical_lines(text: str) -> Iterator[tuple[int, str]]:
    # split on "\n" only: str.splitlines would also split on \x0b, \x1c, U+2028, ...
    # and the line numbers would no longer be the file's physical lines
    for i, line in enumerate(text.split("\n"), start=1):
        yield i, line.removesuffix("\r")


def _read_txt(text: str) -> Iterator[tuple[int, str | None, str | None, str | None]]:
    for n, line in _physical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        yield n, line, None, None


def _read_jsonl(text: str) -> Iterator[tuple[int, str | None, str | None, str | None]]:
    for n, line in _physical_lines(text):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield n, None, None, f"not valid JSON ({e.msg} at column {e.colno})"
            continue
        if not isinstance(obj, dict):
            yield n, None, None, f"not a JSON object (got {type(obj).__name__})"
            continue
        if "prompt" not in obj:
            yield n, None, None, "missing 'prompt' field"
            continue
        prompt = obj["prompt"]
        if not isinstance(prompt, str):
            kind = "null" if prompt is None else type(prompt).__name__
            yield n, None, None, f"not text: 'prompt' is {kind}, not a string"
            continue
        yield n, prompt, None, None


def _read_csv(text: str, name: str) -> Iterator[tuple[int, str | None, str | None, str | None]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    prev_end = 0  # reader.line_num after the previous record: next record starts at +1
    header: list[str] | None = None
    prompt_col = cat_col = -1
    while True:
        start = prev_end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if reader.line_num <= prev_end:  # no progress: give up on the rest
                yield start, None, None, f"unreadable CSV from here on ({e})"
                break
            prev_end = reader.line_num
            yield start, None, None, f"malformed CSV record ({e})"
            continue
        prev_end = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue  # blank line
        if header is None:
            header = [c.strip().lstrip("\ufeff").lower() for c in row]
            if "prompt" not in header:
                raise PromptFileError(
                    f"{name}: CSV has no 'prompt' column (header on line {start}: {', '.join(row)}); name the "
                    f"column of prompts 'prompt' (I2P layout: {', '.join(I2P_COLUMNS[:2])}, ...)"
                )
            prompt_col = header.index("prompt")
            cat_col = header.index("categories") if "categories" in header else -1
            continue
        if prompt_col >= len(row):
            yield start, None, None, f"row has {len(row)} fields, header has {len(header)}: no prompt value"
            continue
        hint = None
        if 0 <= cat_col < len(row):
            cats = normalize_prompt(row[cat_col])
            hint = cats or None
        yield start, row[prompt_col], hint, None
    if header is None:
        raise PromptFileError(f"{name}: empty CSV; it needs a header with a 'prompt' column and one prompt per row")


# --------------------------------------------------------------------------- public API


def detect_format(path: Path | str) -> str:
    fmt = _SUFFIX_FORMAT.get(Path(path).suffix.lower())
    if fmt is None:
        raise PromptFileError(
            f"{Path(path).name}: unknown prompt file type {Path(path).suffix or '(no extension)'!r}; rename it to "
            ".txt (one prompt per line), .jsonl (a 'prompt' field per line) or .csv (a 'prompt' column)"
        )
    return fmt


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise PromptFileError(
            f"{path.name}: not UTF-8 text (byte 0x{data[e.start]:02x} on line {line}); save it as UTF-8, e.g. for "
            f"a Latin-1 file: iconv -f latin1 -t utf-8 {path.name} > {path.stem}-utf8{path.suffix}"
        ) from None


def read_prompt_file(
    path: Path | str,
    *,
    max_chars: int = 500,
    format: str | None = None,
) -> ImportResult:
    """Read one prompt file; bad rows become problems, never exceptions.

    Raises FileNotFoundError for a missing file and PromptFileError for an unknown format, a file
    that is not UTF-8, a CSV without a `prompt` column, or a file without one usable prompt.
    """
    path = Path(path)
    fmt = format.lower().lstrip(".") if format else detect_format(path)
    if fmt not in FORMATS:
        raise PromptFileError(f"{path.name}: unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    name = path.name
    if not path.exists():
        raise MissingFileError(f"prompt file {path} does not exist; fix the path in prompts.files (or --input)")
    text = _decode(path)

    if fmt == "txt":
        rows, source = _read_txt(text), f"file:{name}"
    elif fmt == "jsonl":
        rows, source = _read_jsonl(text), f"file:{name}"
    else:
        rows, source = _read_csv(text, name), f"i2p:{name}"

    result = ImportResult()
    first_line: dict[str, int] = {}
    for line, raw, hint, reason in rows:
        cleaned = None
        if reason is None:
            assert raw is not None
            cleaned, reason = check_prompt(raw, max_chars)
        if reason is None:
            assert cleaned is not None
            key = prompt_key(cleaned)
            if key in first_line:
                reason = f"duplicate of line {first_line[key]}"
            else:
                first_line[key] = line
                result.records.append(
                    PromptRecord(text=cleaned, source=source, category_hint=hint, origin=f"{name}:{line}")
                )
                continue
        problem = ImportProblem(name, line, reason)
        result.problems.append(problem)
        log.info("skipped %s", problem)
    log.info("%s: %d prompts, %d rows skipped", name, len(result.records), len(result.problems))
    if not result.records:
        detail = f"{len(result.problems)} row(s) skipped, the first: {result.problems[0]}" if result.problems \
            else "it holds no rows"
        raise PromptFileError(f"{name}: no usable prompt ({detail}); fix the file or leave it out of prompts.files")
    return result


def read_prompt_files(
    paths: Iterable[Path | str],
    *,
    max_chars: int = 500,
    format: str | None = None,
) -> ImportResult:
    """Read several files in order and drop prompts already seen in an earlier file
    (reported as `duplicate of <file>:<line>`)."""
    merged = ImportResult()
    seen: dict[str, str] = {}  # key -> origin of the first occurrence
    for path in paths:
        res = read_prompt_file(path, max_chars=max_chars, format=format)
        problems = list(res.problems)
        for rec in res.records:
            key = prompt_key(rec.text)
            if key in seen:
                file, _, line = (rec.origin or "").rpartition(":")
                problem = ImportProblem(file, int(line), f"duplicate of {seen[key]}")
                problems.append(problem)
                log.info("skipped %s", problem)
                continue
            seen[key] = rec.origin or ""
            merged.records.append(rec)
        merged.problems.extend(sorted(problems, key=lambda p: p.line))  # stable: file order kept
    return merged
