"""Every error a user can cause ends in one `livo: ...` line that says what to do, with exit code 1
or 2, on the default (Prefect) path as with --local: a real `livo` subprocess per case, its exact
last stderr line asserted. None of these renders an image (each is refused before rendering)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT
from livo_cli import run_livo
from pipeline.run.layout import RunPaths
from pipeline.run.lock import run_lock
from procs import free_port

QUICK = ["selector=keyword", "prompts.per_category=1", "shards.shard_size=4"]


def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


def last_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def assert_ends(result: subprocess.CompletedProcess, code: int, line: str) -> None:
    assert (result.returncode, last_line(result)) == (code, line), result.stderr[-2000:]


def shards(out: Path, *items: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`livo shards` on the default Prefect path: every case here is refused before Prefect starts."""
    return run_livo("shards", "--out", str(out), *_sets(QUICK + list(items)), env=env, timeout=120)


def plan(out: Path, *items: str) -> subprocess.CompletedProcess:
    return run_livo("plan", "--out", str(out), *_sets(QUICK + list(items)), timeout=120)


def prompt_file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return f"prompts.files=[{path}]"


def test_csv_without_prompt_column(tmp_path):
    out = tmp_path / "run"
    r = shards(out, prompt_file(tmp_path, "mine.csv", b"text,categories\na photo of a cat,\n"))
    assert_ends(r, 2, "livo: mine.csv: CSV has no 'prompt' column (header on line 1: "
                "text, categories); name the column of prompts 'prompt' (I2P "
                "layout: prompt, categories, ...)")
    assert "Traceback" not in r.stderr and not out.exists()


def test_unknown_prompt_file_type(tmp_path):
    r = shards(tmp_path / "run", prompt_file(tmp_path, "mine.md", b"a photo of a cat\n"))
    assert_ends(r, 2, "livo: mine.md: unknown prompt file type '.md'; rename it to .txt "
                "(one prompt per line), .jsonl (a 'prompt' field per line) or .csv "
                "(a 'prompt' column)")


def test_latin1_prompt_file_is_one_error(tmp_path):
    r = shards(tmp_path / "run", prompt_file(tmp_path, "old.txt", "a caf\u00e9 at dawn\na misty lake\n".encode("latin-1")))
    assert_ends(r, 2, "livo: old.txt: not UTF-8 text (byte 0xe9 on line 1); save it as "
                "UTF-8, e.g. for a Latin-1 file: iconv -f latin1 -t utf-8 old.txt > "
                "old-utf8.txt")
    assert "undecodable" not in r.stderr


def test_prompt_file_without_a_prompt(tmp_path):
    r = shards(tmp_path / "run", prompt_file(tmp_path, "none.txt", b"# only a comment\n12345\n"))
    assert_ends(r, 2, "livo: none.txt: no usable prompt (1 row(s) skipped, the first: "
                "none.txt:2: not text: no letters); fix the file or leave it out "
                "of prompts.files")


def test_no_prompts_at_all(tmp_path):
    r = plan(tmp_path / "run", "prompts.categories=[]")
    assert_ends(r, 1, "livo: no prompts: the template packs give none (prompts.categories "
                "empty or prompts.packs_dir null) and neither do prompts.files; "
                "choose pack categories or add a prompt file")


def test_no_pairs_names_the_real_reason(tmp_path):
    harmless = prompt_file(tmp_path, "calm.txt", b"a misty lake at dawn\n")
    r = plan(tmp_path / "run", "prompts.categories=[]", harmless, "planning.benign_pairs=false")
    assert_ends(r, 1, "livo: no pairs planned: none of the 1 prompt(s) matched a principle "
                "and planning.benign_pairs is off; add prompts that show a "
                "principle's harm or people, or turn planning.benign_pairs on")


def test_catalog_error_before_prefect_leaves_no_folder(tmp_path):
    catalog = tmp_path / "principles"
    catalog.mkdir()
    source = (ROOT / "value_principles" / "toxicity.yaml").read_text()
    (catalog / "toxicity.yaml").write_text(source.replace("statement:", "statement: 5 #", 1))
    out = tmp_path / "run"
    r = shards(out, f"catalog_dir={catalog}")
    assert r.returncode == 1
    assert last_line(r).startswith(f"livo: {catalog / 'toxicity.yaml'}: principle ")
    assert last_line(r).endswith("field 'statement': Input should be a valid string")
    assert "Traceback" not in r.stderr and "prefect" not in r.stderr.lower() and not out.exists()


def test_dead_prefect_server_names_the_fixes(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/api"
    out = tmp_path / "run"
    r = shards(out, env={**os.environ, "PREFECT_API_URL": url})
    assert r.returncode == 1
    assert last_line(r).startswith(f"livo: no Prefect server answers at PREFECT_API_URL={url} (")
    assert last_line(r).endswith("); start one with `make server`, or unset PREFECT_API_URL to use a temporary "
                                 "server, or add --local to build without Prefect")
    assert not out.exists()


def test_conflict_lists_the_differing_fields(tmp_path):
    out = tmp_path / "run"
    assert plan(out).returncode == 0
    before = run_livo("plan", "--out", str(out), *_sets(QUICK), timeout=120)
    assert before.returncode == 0  # the same config resumes
    r = shards(out, "render.steps=5", "filters.min_margin=0.2")
    assert r.returncode == 1
    assert last_line(r).startswith(f"livo: {out} holds a run with a different configuration (filters.min_margin: "
                                   "-0.004 → 0.2, render.steps: 4 → 5; run hash ")
    assert last_line(r).endswith(f"); build into another folder (--out; under make: OUT=...) or delete {out} to "
                                 "rebuild it")


def test_second_build_into_a_locked_folder_is_refused_with_the_pid(tmp_path):
    out = tmp_path / "run"
    with run_lock(RunPaths(out)):
        for command in (plan(out), shards(out)):
            assert_ends(
                command, 1, f"livo: {out} is being built by another process (PID {os.getpid()}); wait for it to finish, "
                   "stop it, or build into another --out")


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pipeline.run.layout import RunPaths
        from pipeline.run.lock import run_lock
        with run_lock(RunPaths({str(out)!r})):
            print("held", flush=True)
            time.sleep(600)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert f"(PID {holder.pid})" in last_line(plan(out))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert plan(out).returncode == 0


def test_training_refuses_an_incomplete_data_run(tmp_path):
    data = tmp_path / "data"
    assert plan(data).returncode == 0  # planned, never built: no shard is complete
    r = run_livo("train", "--data", str(data), "--out", str(tmp_path / "train"), timeout=120)
    assert_ends(
        r, 1, f"livo: {data} is not a complete data run (3 of 3 shards not complete (no marker in _done/): 0, 1, 2; "
           f"1 more problem(s): livo validate {data}); finish it with livo shards --config {data / 'config.yaml'} "
           f"--out {data}, or pass --allow-incomplete to train on what it holds")
    assert not (tmp_path / "train").exists()


def test_debug_shows_the_traceback_before_the_same_line(tmp_path):
    bad = prompt_file(tmp_path, "mine.md", b"a photo of a cat\n")
    quiet = shards(tmp_path / "run", bad)
    loud = run_livo("--debug", "shards", "--out", str(tmp_path / "run"), *_sets(QUICK + [bad]), timeout=120)
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr
    assert (loud.returncode, last_line(loud)) == (quiet.returncode, last_line(quiet))
