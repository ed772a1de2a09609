"""The readers of a finished run read what they need, not whole runs: `read_sample` only the row groups of
its sampled rows, the report's charts every kept pair's score columns (no images). A Parquet file
whose unread row group is damaged shows what was not read."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fake_run import make_run
from pipeline.run.schema import IMAGE_COLUMNS, ROW_GROUP_SIZE


def _big_shard_run(root):
    """One shard of 2.5 row groups (250 rows at 100 per group)."""
    return make_run(root / "run", kept=250, rejected=0, shard_size=250)


def _damage_images(path, group: int) -> None:
    """Overwrite the image bytes of row group ``group`` with garbage: a read of that group fails."""
    meta = pq.ParquetFile(path).metadata.row_group(group)
    data = bytearray(path.read_bytes())
    for j in range(meta.num_columns):
        col = meta.column(j)
        if col.path_in_schema.split(".")[0] in IMAGE_COLUMNS:
            start = col.dictionary_page_offset or col.data_page_offset
            data[start:start + col.total_compressed_size] = b"\xff" * col.total_compressed_size
    path.write_bytes(bytes(data))


def test_read_sample_equals_a_whole_file_read_on_a_shard_of_several_row_groups(tmp_path):
    from pipeline.run.browse import read_sample, sample_positions

    run = _big_shard_run(tmp_path)
    shard = run / "shards" / "shard-00000.parquet"
    assert pq.ParquetFile(shard).metadata.num_row_groups == 3 and ROW_GROUP_SIZE == 100
    whole = pq.read_table(shard)
    for n, seed in ((7, 0), (40, 3), (None, 0)):
        got = read_sample(run, n, seed)
        assert got.equals(whole.take(sample_positions(250, n, seed)))
        assert got.schema.metadata == whole.schema.metadata  # the HF features travel with the rows
    gore = read_sample(run, 5, where={"category": "gore"})
    all_gore = [r for r, c in enumerate(whole.column("category").to_pylist()) if c == "gore"]
    assert gore.equals(whole.take([all_gore[p] for p in sample_positions(len(all_gore), 5, 0)]))


def test_take_rows_reads_only_the_row_groups_of_its_rows(tmp_path):
    from pipeline.run.browse import take_rows

    run = _big_shard_run(tmp_path)
    shard = run / "shards" / "shard-00000.parquet"
    wanted = [0, 42, 99, 100, 187]
    expected = pq.read_table(shard).take(wanted)
    _damage_images(shard, 2)
    with pytest.raises((OSError, pa.ArrowException)):
        pq.read_table(shard)  # the whole file no longer reads ...
    assert take_rows(shard, wanted).equals(expected)  # ... rows 0-199 still do
    with pytest.raises((OSError, pa.ArrowException)):
        take_rows(shard, [0, 205])


def test_report_charts_draw_every_kept_pair_from_score_columns_alone(tmp_path):
    from pipeline.report.run_report import ReportOptions, render_report, score_frame
    from pipeline.run.layout import RunPaths
    from pipeline.run.tables import read_run

    run = make_run(tmp_path / "run", kept=11, rejected=2, shard_size=4)
    frame = score_frame(RunPaths(run))
    assert len(frame) == 11 and "category" in frame
    assert not set(frame.columns) & {*IMAGE_COLUMNS, "prompt", "aligned_prompt", "violating_prompt"}
    whole = read_run(run, columns=list(frame.columns))
    assert frame["violating_concept"].tolist() == whole["violating_concept"].tolist()
    html = render_report(run, ReportOptions(boxes=False, max_pairs=3))
    assert "Showing 3 of 11 kept" in html
    assert re.search(r'alt="score histograms of all 11 kept pairs"', html)


def test_report_charts_do_not_read_images(tmp_path):
    from pipeline.report.run_report import score_frame
    from pipeline.run.layout import RunPaths

    run = _big_shard_run(tmp_path)
    _damage_images(run / "shards" / "shard-00000.parquet", 1)
    assert len(score_frame(RunPaths(run))) == 250
