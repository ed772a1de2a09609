"""`livo eval`'s page and table: the compared images saved per prompt and arm, one HTML page of them
in the report's style (toxicity prompts blurred), and a short summary table."""

from __future__ import annotations

from PIL import Image


def _result(kinds=("toxicity", "bias", None)):
    from livo_train.evaluate import SUMMARY_KEYS

    arm = {k: None for k in SUMMARY_KEYS} | {"clip_score": 20.0, "toxic_rate": 0.5}
    rows = [{"prompt": f"prompt {i}", "principle_id": f"p{i}", "kind": k, "method": "keyword", "value": "v",
             "base": {"clip_score": 20.0}, "livo": {"clip_score": 21.0, "counts": {"male": 1}}}
            for i, k in enumerate(kinds)]
    return {"prompts": rows, "images_per_prompt": 2, "seed": 0, "model": "runs/train-tiny",
            "base_model": "builtin:tiny-sd",
            "summary": {"base": arm, "livo": {**arm, "toxic_rate": 0.25},
                        "counts": {"prompts": 3, "bias": 1, "toxicity": 1, "none": 1}}}


def test_images_are_saved_and_shown_per_prompt_and_arm(tmp_path):
    from livo_train.evaluate import EvalImages, write_page

    images = EvalImages(tmp_path)
    for i in range(3):
        for arm in ("base", "livo"):
            images(i, arm, [Image.new("RGB", (16, 16), (i * 60, 0, 0))] * 2)
    assert sorted(p.name for p in (tmp_path / "images").iterdir())[:3] == ["p000-base-0.png", "p000-base-1.png",
                                                                          "p000-livo-0.png"]
    html = write_page(_result(), images, tmp_path).read_text()
    assert html.count('<article class="pair"') == 3 and html.count("<img ") == 12
    assert html.count('class="frame blur-full"') == 4  # the toxicity prompt's images, both arms
    assert "Built-in tiny model." in html and 'id="show-violating"' in html


def test_summary_table_is_short_and_has_the_change():
    from livo_train.evaluate import summary_table

    lines = summary_table(_result()).splitlines()
    assert lines[0].split() == ["metric", "base", "LiVO", "change"]
    assert lines[1].split() == ["clip_score", "20", "20", "0"] and lines[2].split() == ["toxic_rate", "0.5", "0.25",
                                                                                       "-0.25"]
    assert lines[-1].startswith("3 prompts (1 bias, 1 toxicity, 1 none)")


def test_prompts_with_markup_stay_text(tmp_path):
    from livo_train.evaluate import EvalImages, write_page

    result = _result()
    result["prompts"][0]["prompt"] = '<script>alert("x")</script> \'q\''
    html = write_page(result, EvalImages(tmp_path), tmp_path).read_text()
    assert "<script>alert" not in html and html.count("<script>") == 1
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &#39;q&#39;" in html
