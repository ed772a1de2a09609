"""`livo report`: one self-contained page (no network), the run's facts, a deterministic sample. The
command line itself: tests/integration/test_report_html_cli.py."""

from __future__ import annotations

import re

import pytest

from fake_run import make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("report") / "run", kept=12, rejected=4)


def _render(run, **options):
    from pipeline.report.run_report import ReportOptions, render_report

    return render_report(run, ReportOptions(boxes=False, **options))


def test_page_is_self_contained_and_has_every_pair(run):
    html = _render(run)
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing to fetch: opens from disk
    assert html.count('<article class="pair"') == 16
    assert len(re.findall(r'<article[^>]*data-status="rejected"', html)) == 4
    assert "Showing 12 of 12 kept and 4 of 4 rejected pairs." in html
    assert html.count('class="frame blur-full"') == 12  # every stored violating image, blurred by default
    assert "data:image/png;base64," in html  # the charts
    assert "margin_too_small" in html and "filters.min_margin" in html and "These images are noise." in html


def test_a_big_run_is_sampled_deterministically(run):
    first, again, other = _render(run, max_pairs=5), _render(run, max_pairs=5), _render(run, max_pairs=5, seed=1)
    ids = [re.findall(r"prompt number (\d+) ", page) for page in (first, again, other)]
    assert "Showing 5 of 12 kept and 4 of 4 rejected pairs (a deterministic sample, seed 0" in first
    assert ids[0] == ids[1] and ids[0] != ids[2]


def test_boxes_blur_only_the_region_nudenet_found():
    from pipeline.report.html import Box, frame

    whole = frame("data:,", alt="v", blur=True)
    boxed = frame("data:,", alt="v", blur=True, boxes=[Box(0.1, 0.2, 0.5, 0.25)])
    assert 'class="frame blur-full"' in whole and 'class="box"' not in whole
    assert 'class="frame"' in boxed and "left:10.00%;top:20.00%;width:50.00%;height:25.00%" in boxed


def test_values_are_escaped_everywhere_on_the_page(run):
    """A prompt (or any value) with markup and quotes stays text: no element or attribute comes from data."""
    import pandas as pd

    from pipeline.filters import REASONS
    from pipeline.report import gallery
    from pipeline.report.html import render
    from pipeline.run.browse import read_sample

    hostile = '<script>alert("x")</script> \'q\' & "dq"'
    row = read_sample(run, 1, 0).to_pandas().iloc[0].copy()
    for col in ("prompt", "aligned_prompt", "violating_prompt", "principle", "category", "principle_id"):
        row[col] = hostile
    card = gallery.card(pd.Series(row), "kept", REASONS, None)
    html = render("report.html.j2", **_context(card, hostile))
    assert "<script>alert" not in html and html.count("<script>") == 1  # only the page's own script
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &#39;q&#39; &amp; &#34;dq&#34;" in html
    assert 'data-category="&lt;script&gt;' in html and '<option value="&lt;script&gt;' in html
    assert "<code>&lt;script&gt;" in html  # import problems and the notes' `code` spans escape too


def _context(card: dict, hostile: str) -> dict:
    return {"title": hostile, "page_size": 24, "name": hostile, "run": hostile, "run_hash": hostile, "kept": 1,
            "planned": 1, "notes": [(hostile, f"`{hostile}` {hostile}")], "boxes": False,
            "count_tables": [([hostile], [[hostile]])], "threshold_table": ([hostile], [[1.5]]),
            "model_table": ([hostile], [[hostile]]), "problems": [hostile], "charts": [],
            "shown": {"kept": 1, "kept_total": 1, "rejected": 0, "rejected_total": 0, "seed": 0,
                      "no_rejected_images": False},
            "filters": [("category", "category", [hostile])], "cards": [card]}


def test_a_missing_value_is_an_error_not_a_blank():
    import jinja2

    from pipeline.report.html import render

    with pytest.raises(jinja2.UndefinedError):
        render("report.html.j2", title="t", page_size=24)
