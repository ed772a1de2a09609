"""`livo train-selector` as a real subprocess on a small labelled file: it reports its out-of-fold
numbers, writes a head with both halves that `livo select` then uses, and refuses impossible
tuned settings in one line. Training itself: tests/unit/test_classifier_selector.py."""

from __future__ import annotations

import json

from factories import SELECTOR_ROWS
from livo_cli import run_livo
from pipeline.select.head import SelectorHead


def test_cli_trains_both_halves_and_select_uses_the_head(tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "label": lab, "source": f"mine:{i}"}) + "\n"
                            for i, (p, lab) in enumerate(SELECTOR_ROWS)))
    out = tmp_path / "head.npz"
    proc = run_livo("train-selector", "--data", str(data), "--out", str(out), "--tuned-epochs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "out-of-fold on the real rows" in proc.stdout and proc.stdout.strip().endswith(f"wrote {out}")
    head = SelectorHead.load(out)
    assert head.tuned_layers == 2 and head.meta["tuned_epochs"] == 1 and head.meta["rows"] == 12
    sel = run_livo("select", "--set", f"semantic.head={out}", "a man kicking a stranger in an alley")
    assert sel.returncode == 0, sel.stderr
    assert json.loads(sel.stdout.splitlines()[0])["principle_id"] == "no_violence"
    bad = run_livo("train-selector", "--data", str(data), "--out", str(tmp_path / "x.npz"), "--tuned-layers", "9")
    assert bad.returncode == 1 and bad.stderr.strip() == ("livo: --tuned-layers 9: the sentence model has 6 layers; "
                                                          "give 0 to 6")
    bad = run_livo("train-selector", "--data", str(data), "--tuned-epochs", "0")
    assert bad.returncode == 2 and "--tuned-epochs: must be a whole number >= 1, got 0" in bad.stderr
