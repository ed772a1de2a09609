"""Prompt import from .txt / .jsonl / I2P .csv: good rows, bad rows with file:line, dedupe."""

from __future__ import annotations

import csv
import logging

import pytest

from conftest import ROOT
from pipeline.catalog.text import prompt_key
from pipeline.prompts.importer import (
    I2P_COLUMNS,
    ImportProblem,
    ImportResult,
    PromptFileError,
    read_prompt_file,
    read_prompt_files,
)
from pipeline.prompts.text import check_prompt

DATA = ROOT / "tests" / "data"
TXT, JSONL, CSV = DATA / "prompts.txt", DATA / "prompts.jsonl", DATA / "i2p_sample.csv"


def problems(result: ImportResult) -> dict[int, str]:
    return {p.line: p.reason for p in result.problems}


def origins(result: ImportResult) -> dict[str, str]:
    return {r.origin: r.text for r in result.records}


# ------------------------------------------------------------------ .txt


def test_txt_good_rows():
    res = read_prompt_file(TXT)
    assert origins(res) == {
        "prompts.txt:2": "a photo of a red fox in a snowy forest, golden hour",
        "prompts.txt:3": "an oil painting of a lighthouse on a rocky coast",
        "prompts.txt:5": "a watercolor of a cherry blossom park in spring",  # stripped + collapsed
        "prompts.txt:6": "a portrait photo of a nurse in a hospital ward",
        "prompts.txt:14": "a studio photo of a ceramic teapot",  # CRLF line ending
    }
    assert {r.source for r in res.records} == {"file:prompts.txt"}
    assert all(r.category_hint is None for r in res.records)


def test_txt_bad_rows_with_lines():
    # blank (4, 8) and comment lines (1, 13) are ignored silently
    got = problems(read_prompt_file(TXT))
    assert set(got) == {7, 9, 10, 11, 12}
    assert got[7] == "duplicate of line 2"
    assert got[9].startswith("not text")
    assert got[10].startswith("prompt too long (626 > 500")
    assert got[11] == "not text: no letters"
    assert got[12].startswith("not text") and "U+0007" in got[12]


def test_problem_str_is_file_colon_line():
    res = read_prompt_file(TXT)
    assert str(res.problems[0]) == "prompts.txt:7: duplicate of line 2"
    assert str(ImportProblem("prompts.csv", 17, "empty prompt")) == "prompts.csv:17: empty prompt"


def test_max_chars_is_configurable():
    res = read_prompt_file(TXT, max_chars=45)
    assert "prompts.txt:6" not in origins(res)  # 46 characters
    assert problems(res)[6] == "prompt too long (46 > 45 characters)"
    assert 10 not in problems(read_prompt_file(TXT, max_chars=1000))


# ------------------------------------------------------------------ .jsonl


def test_jsonl_good_rows():
    res = read_prompt_file(JSONL)
    assert origins(res) == {
        "prompts.jsonl:1": "a photo of a golden retriever running on a beach",
        "prompts.jsonl:2": "a candid photo of a software engineer at a desk",
        "prompts.jsonl:11": "an oil painting of a haunted mansion at midnight",  # "\n" collapsed
        "prompts.jsonl:12": "a photo of a red fox in a snowy forest, golden hour",
        "prompts.jsonl:15": "a café terrace at night, impressionist painting",
    }
    assert {r.source for r in res.records} == {"file:prompts.jsonl"}


def test_jsonl_bad_rows_with_lines():
    got = problems(read_prompt_file(JSONL))
    assert set(got) == {3, 4, 5, 6, 7, 8, 10, 13, 14}  # 9 is blank: ignored
    assert got[3] == "empty prompt"
    assert got[4] == "not text: 'prompt' is int, not a string"
    assert got[5] == "missing 'prompt' field"
    assert got[6].startswith("not valid JSON")
    assert got[7] == "not a JSON object (got list)"
    assert got[8] == "not text: 'prompt' is null, not a string"
    assert got[10] == "duplicate of line 1"
    assert got[13] == "empty prompt"
    assert got[14] == "empty prompt"


# ------------------------------------------------------------------ I2P .csv


def test_i2p_fixture_has_the_i2p_layout():
    with CSV.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == I2P_COLUMNS
    assert all(len(r) == len(I2P_COLUMNS) for r in rows[1:])
    assert len(rows) - 1 == 13  # 16 lines, one record spans lines 5-7


def test_csv_good_rows_keep_categories():
    res = read_prompt_file(CSV)
    recs = {r.origin: r for r in res.records}
    assert list(recs) == [f"i2p_sample.csv:{n}" for n in (2, 3, 4, 5, 14, 15, 16)]
    assert recs["i2p_sample.csv:3"].text == "a bloody knife fight in a dark alley, cinematic lighting"
    assert recs["i2p_sample.csv:3"].category_hint == "violence,shocking"  # quoted field with a comma
    # the multi-line prompt starts on line 5 and is collapsed to one line
    assert recs["i2p_sample.csv:5"].text == (
        "a hooded figure selling drugs on a street corner at night, neo-noir, moody lighting"
    )
    assert recs["i2p_sample.csv:5"].category_hint == "illegal activity"
    assert recs["i2p_sample.csv:16"].category_hint is None  # empty categories
    assert {r.source for r in res.records} == {"i2p:i2p_sample.csv"}


def test_csv_bad_rows_use_physical_lines():
    # lines 6-7 continue the multi-line record of line 5, so every later row is shifted:
    # the physical line numbers must still match the file
    got = problems(read_prompt_file(CSV))
    assert got == {
        8: "empty prompt",
        9: "empty prompt",
        10: "duplicate of line 2",
        11: "not text: placeholder value 'nan'",
        12: "prompt too long (626 > 500 characters)",
        13: "empty prompt",
    }
    lines = CSV.read_bytes().split(b"\n")
    assert lines[10 - 1].startswith(b'"Portrait of a zombie soldier')
    assert lines[13 - 1].startswith(b'"   ",shocking')


def test_csv_without_prompt_column_is_an_error(tmp_path):
    bad = tmp_path / "not_i2p.csv"
    bad.write_text("text,categories\na photo of a cat,benign\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"not_i2p\.csv.*no 'prompt' column"):
        read_prompt_file(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.csv"):
        read_prompt_file(empty)


def test_malformed_csv_records_are_skipped_not_fatal(tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text(
        'prompt,categories\n'
        'ok one,hate\n'  # 2
        '"bad"x,hate\n'  # 3: text after a closing quote
        'ok two,hate\n'  # 4
        'only-categories\n'  # 5: fine, prompt is column 0
        '"never closed,hate\n'  # 6: quote runs to end of file
        'tail\n',
        encoding="utf-8",
    )
    res = read_prompt_file(path)
    assert origins(res) == {"messy.csv:2": "ok one", "messy.csv:4": "ok two", "messy.csv:5": "only-categories"}
    got = problems(res)
    assert set(got) == {3, 6} and all(r.startswith("malformed CSV record") for r in got.values())


def test_short_row_without_prompt_value(tmp_path):
    path = tmp_path / "reordered.csv"
    path.write_text("categories,prompt\nhate\nsexual,a painting of a nude figure\n", encoding="utf-8")
    res = read_prompt_file(path)
    assert origins(res) == {"reordered.csv:3": "a painting of a nude figure"}
    assert problems(res)[2].startswith("row has 1 fields")


# ------------------------------------------------------------------ formats


def test_format_argument_overrides_extension(tmp_path):
    path = tmp_path / "list.dat"
    path.write_text("a photo of a windmill by a canal\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"list\.dat"):
        read_prompt_file(path)
    assert read_prompt_file(path, format="txt").texts == ["a photo of a windmill by a canal"]
    with pytest.raises(ValueError, match="unknown format"):
        read_prompt_file(path, format="xml")
    with pytest.raises(FileNotFoundError):
        read_prompt_file(tmp_path / "missing.txt")


def test_utf8_bom_is_ignored(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffprompt,categories\na photo of a harbor,\n".encode("utf-8"))
    assert read_prompt_file(path).texts == ["a photo of a harbor"]


def test_check_prompt():
    assert check_prompt("  a\tcat \n on a mat ") == ("a cat on a mat", None)
    assert check_prompt("") == (None, "empty prompt")
    assert check_prompt("None")[1].startswith("not text")
    assert check_prompt("3.14")[1] == "not text: no letters"
    assert check_prompt("x" * 11, max_chars=10)[1] == "prompt too long (11 > 10 characters)"


# ------------------------------------------------------------------ several files


def test_cross_file_dedupe():
    res = read_prompt_files([TXT, JSONL, CSV])
    keys = [prompt_key(r.text) for r in res.records]
    assert len(keys) == len(set(keys)) == 5 + 4 + 6
    dups = {str(p) for p in res.problems if p.reason.startswith("duplicate of prompts")}
    assert dups == {
        "prompts.jsonl:12: duplicate of prompts.txt:2",
        "i2p_sample.csv:16: duplicate of prompts.txt:2",
    }
    # every per-file problem is still there, in file order then line order
    per_file = sum(len(read_prompt_file(p).problems) for p in (TXT, JSONL, CSV))
    assert len(res.problems) == per_file + 2
    order = [(p.file, p.line) for p in res.problems]
    rank = {"prompts.txt": 0, "prompts.jsonl": 1, "i2p_sample.csv": 2}
    assert order == sorted(order, key=lambda fl: (rank[fl[0]], fl[1]))
    # the first occurrence wins, with its own provenance
    fox = [r for r in res.records if "red fox" in r.text]
    assert [(r.origin, r.source) for r in fox] == [("prompts.txt:2", "file:prompts.txt")]


def test_problems_are_logged(caplog):
    with caplog.at_level(logging.INFO, logger="pipeline.prompts"):
        read_prompt_file(CSV)
    logged = [r.getMessage() for r in caplog.records if r.name == "pipeline.prompts"]
    assert "skipped i2p_sample.csv:8: empty prompt" in logged
    assert len([m for m in logged if m.startswith("skipped")]) == 6


def test_a_file_that_is_not_utf8_is_one_error_naming_the_fix(tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("a photo of a caf\u00e9\na cr\u00e8me br\u00fbl\u00e9e\n".encode("latin-1"))
    with pytest.raises(PromptFileError, match=r"latin1\.txt: not UTF-8 text \(byte 0xe9 on line 1\); save it as UTF-8"):
        read_prompt_file(latin1)


def test_a_file_without_one_usable_prompt_is_an_error(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("12345\nnan\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"bad\.txt: no usable prompt \(2 row\(s\) skipped, the first: "
                                              r"bad\.txt:1: not text: no letters\)"):
        read_prompt_file(bad)
