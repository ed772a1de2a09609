"""`livo report` in a real headless browser (Debian's chromium over the DevTools protocol): the page
loads from disk without console errors, shows the expected pairs, pages and filters them, and the
blur switch uncovers the violating images. A screenshot is kept under the test's temp dir."""

from __future__ import annotations

import pytest

from cdp import Browser, find_browser, in_ci
from fake_run import make_run


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_browser()
    if binary is None:
        message = "no chromium binary on PATH: `make install-browser` (apt-get install chromium) installs it"
        if in_ci():
            pytest.fail(message + "; CI installs it in .ci/run, so this is a broken CI setup")
        pytest.skip(message)
    b = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def test_report_in_a_browser(browser, tmp_path):
    from pipeline.report.run_report import ReportOptions, write_report

    run = make_run(tmp_path / "run", kept=30, rejected=5)
    page = write_report(run, options=ReportOptions(boxes=False, page_size=24))
    browser.open(page.as_uri())

    visible = "document.querySelectorAll('.pair:not([hidden])').length"
    assert browser.eval("document.querySelectorAll('.pair').length") == 35
    assert browser.eval(visible) == 24  # first page
    assert "of 35 matching" in browser.eval("document.getElementById('page-info').textContent")
    browser.eval("document.getElementById('next').click()")
    assert browser.eval(visible) == 11

    select = ("(() => { const s = document.getElementById('f-status'); s.value = 'rejected';"
              " s.dispatchEvent(new Event('change')); })()")
    browser.eval(select)
    assert browser.eval(visible) == 5
    browser.eval(select.replace("'rejected'", "''"))

    blur = "getComputedStyle(document.querySelector('.frame.blur-full img')).filter"
    assert "blur" in browser.eval(blur)
    browser.eval("document.getElementById('show-violating').click()")
    assert browser.eval(blur) == "none"
    browser.eval("document.getElementById('show-violating').click()")
    assert "blur" in browser.eval(blur)

    assert browser.errors() == []
    shot = browser.screenshot(tmp_path / "report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
