"""planning.samples_per_pair: N pairs per (prompt, principle), each with its own seed; the plan of N is a
prefix of the plan of N + 1, in the same shards, so a run grows in place (`build.prepare`)."""

import itertools
import json
from collections import Counter, defaultdict

import pyarrow.parquet as pq
import pytest
from PIL import Image

from factories import make_plan, tiny_config
from pipeline.build.prepare import prepare_run
from pipeline.catalog import load_catalog
from pipeline.config import ConfigError, config_hash, dump_config
from pipeline.errors import RunConflictError
from pipeline.export.layouts import export_livo, export_pickapic
from pipeline.plan.planner import pair_id, plan_pairs, samples_of, stable_int
from pipeline.records import PairPlan, PromptRecord, Selection
from pipeline.run.layout import RunPaths
from pipeline.run.manifest import read_manifest
from pipeline.run.plan_io import ShardLayout, load_plan, read_shard_plans, shard_plans
from pipeline.run.schema import SHARD_SCHEMA, encode_image, pair_row
from pipeline.run.tables import write_table_atomic

CATALOG = load_catalog()
JOBS = ("doctor", "nurse", "pilot", "engineer", "teacher", "mechanic", "scientist", "chef", "farmer", "judge")


def _inputs():
    prompts = [("a bloody knight on a battlefield, oil painting", "no_gore"),
               ("a misty forest at dawn", None)]
    prompts += [(f"a portrait photo of a {job} at work", "gender_equality") for job in JOBS]
    prompts += [(f"a photo of a {job} in the city", "racial_equality") for job in JOBS]
    recs = [PromptRecord(t, "test") for t, _ in prompts]
    sels = [Selection(t, pid, CATALOG.get(pid).category if pid else None, "keyword" if pid else "none")
            for t, pid in prompts]
    return recs, sels


def _plans(samples: int, **options) -> list[PairPlan]:
    recs, sels = _inputs()
    return plan_pairs(recs, sels, CATALOG, seed=5, samples=samples, **options).plans


def test_one_sample_is_the_plan_without_samples():
    one = _plans(1)
    assert one == _plans(1, max_pairs=None) == plan_pairs(*_inputs(), CATALOG, seed=5).plans
    assert all(p.sample == 0 for p in one) and [p.id for p in one] == sorted(p.id for p in one)
    knight = next(p for p in one if p.principle_id == "no_gore")
    # sample 0's seed and id from the same parts as before samples existed: existing runs keep their pairs
    assert knight.seed == stable_int(5, "seed", "no_gore", knight.prompt)
    assert knight.id == pair_id(knight.prompt, "no_gore", "toxicity", knight.aligned_prompt, knight.violating_prompt,
                                knight.seed)


def test_samples_have_their_own_stable_seeds_and_ids():
    three = _plans(3)
    assert len(three) == 3 * len(_plans(1)) and len({p.id for p in three}) == len(three)
    assert three == _plans(3)  # deterministic
    by_pair = defaultdict(list)
    for p in three:
        by_pair[(p.prompt, p.principle_id)].append(p)
    for group in by_pair.values():
        assert sorted(p.sample for p in group) == [0, 1, 2]
        assert len({p.seed for p in group}) == 3
        assert len({(p.violating_prompt, p.pair_type, p.principle) for p in group}) == 1
    knight = next(p for p in three if p.principle_id == "no_gore" and p.sample == 2)
    assert knight.seed == stable_int(5, "seed", "no_gore", knight.prompt, 2)


@pytest.mark.parametrize("options", [{}, {"bias_attribute": "balanced"}, {"max_pairs": 30}])
def test_the_plan_of_n_samples_is_a_prefix_of_n_plus_one(options):
    plans = [_plans(n, **options) for n in (1, 2, 3, 4)]
    for shorter, longer in itertools.pairwise(plans):
        assert longer[:len(shorter)] == shorter
    assert [p.sample for p in plans[-1]] == sorted(p.sample for p in plans[-1])  # sample, then id


def test_samples_of_a_balanced_bias_pair_ask_for_the_values_in_turn():
    plans = _plans(4, bias_attribute="balanced")
    for pid in ("gender_equality", "racial_equality"):
        values = CATALOG.get(pid).attribute_values
        by_prompt = defaultdict(list)
        for p in plans:
            if p.principle_id == pid:
                by_prompt[p.prompt].append(p)
                assert p.aligned_prompt == p.attribute_prompts[p.concepts.index(p.attribute)]
        for group in by_prompt.values():  # a prompt's samples cover min(N, values) distinct values
            assert len({p.attribute for p in group}) == min(4, len(values))
        for k in range(4):  # and every sample on its own stays balanced over the prompts
            counts = Counter(p.attribute for p in plans if p.principle_id == pid and p.sample == k)
            assert max(counts.values()) - min(counts.get(v, 0) for v in values) <= 1


def test_unresolved_bias_samples_wait_for_their_own_neutral_image():
    bias = [p for p in _plans(2) if p.kind == "bias"]
    assert bias and all(p.unresolved and p.aligned_prompt == "" for p in bias)
    assert len({p.seed for p in bias if p.prompt == bias[0].prompt and p.principle_id == bias[0].principle_id}) == 2


def test_samples_of_rejects_nothing_and_keeps_sample_zero():
    plan = make_plan("bias", attribute="female", attribute_prompts=("a male doctor", "a female doctor"))
    two = samples_of(plan, 2, seed=0)
    assert two[0] is plan and (two[1].attribute, two[1].aligned_prompt, two[1].sample) == ("male", "a male doctor", 1)
    with pytest.raises(ValueError, match="samples must be >= 1"):
        plan_pairs(*_inputs(), CATALOG, samples=0)


def test_plan_rows_round_trip_with_and_without_the_sample_field():
    plan = make_plan(sample=2, seed=17)
    row = plan.to_dict()
    assert row["sample"] == 2 and PairPlan.from_dict(row) == plan
    old = {k: v for k, v in make_plan().to_dict().items() if k != "sample"}  # a plan.jsonl line from before samples
    assert PairPlan.from_dict(old).sample == 0 and PairPlan.from_dict(old) == make_plan()


def test_shard_layout_without_samples_is_the_plain_slicing():
    layout = ShardLayout(10, 4)
    assert layout.num_shards == 3 and [layout.bounds(i) for i in range(3)] == [(0, 4), (4, 8), (8, 10)]
    assert ShardLayout(10, 4, 10) == ShardLayout(10, 4, 10) and ShardLayout(10, 4, 10).num_shards == 3
    assert ShardLayout(0, 4, 0).num_shards == 0 and ShardLayout(10, 4).pairs_of(7) == 0


@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_shards_keep_their_pairs_when_samples_grow(size):
    def shards(n):
        plans = _plans(n)
        block = sum(p.sample == 0 for p in plans)
        layout = ShardLayout(len(plans), size, block)
        return [[p.id for p in shard_plans(plans, i, size, block)] for i in range(layout.num_shards)], plans

    two, plans = shards(2)
    three, _ = shards(3)
    assert three[:len(two)] == two  # the old shards are untouched; the third sample fills new ones
    assert sum(map(len, three)) == len(_plans(3))
    by_id = {p.id: p for p in plans}
    assert all(len({by_id[i].sample for i in shard}) == 1 for shard in two)  # no shard mixes samples


def test_samples_per_pair_is_validated_and_out_of_the_run_hash():
    assert config_hash(tiny_config(["planning.samples_per_pair=3"])) == config_hash(tiny_config())
    with pytest.raises(ConfigError, match="samples_per_pair"):
        tiny_config(["planning.samples_per_pair=0"])


def _keyword(samples: int, *more: str):
    return tiny_config(["selector=keyword", "prompts.per_category=2", "shards.shard_size=4",
                        f"planning.samples_per_pair={samples}", *more])


def test_a_prepared_run_grows_in_place_and_never_shrinks(tmp_path):
    out = tmp_path / "run"
    paths = RunPaths(out)
    one = prepare_run(_keyword(1), out)
    first = load_plan(paths)
    assert (one.samples_per_pair, one.sample_pairs, one.num_pairs) == (1, len(first), len(first))
    two = prepare_run(_keyword(2), out)
    grown = load_plan(paths)
    assert grown[:len(first)] == first and len(grown) == 2 * len(first)
    assert read_manifest(paths) == two and two.samples_per_pair == 2 and two.run_hash == one.run_hash
    assert two.num_shards == 2 * one.num_shards
    for i in range(one.num_shards):  # every shard of the first plan holds the same pairs, as it reads them alone
        assert read_shard_plans(paths, i, 4, two.sample_pairs) == shard_plans(first, i, 4)
    assert "samples_per_pair: 2" in paths.config.read_text()
    fresh = prepare_run(_keyword(2), tmp_path / "fresh")  # grown or planned at once: the same run
    assert load_plan(RunPaths(tmp_path / "fresh")) == grown and (fresh.num_shards, fresh.sample_pairs) == (
        two.num_shards, two.sample_pairs)
    assert prepare_run(_keyword(2), out) == two  # resumed as it is
    with pytest.raises(RunConflictError, match="never shrinks"):
        prepare_run(_keyword(1), out)
    with pytest.raises(RunConflictError, match="different configuration"):
        prepare_run(_keyword(3, "planning.seed=9"), out)


def test_a_pairs_samples_share_one_livo_scene_and_keep_their_index_in_pickapic(tmp_path):
    paths = RunPaths(tmp_path / "run")
    paths.make_dirs()
    dump_config(tiny_config(), paths.config)
    png = [encode_image(Image.new("RGB", (4, 4), (k * 40, 0, 0))) for k in range(6)]
    samples = samples_of(make_plan(), 3, seed=0)
    rows = [pair_row(p, png[2 * k], png[2 * k + 1], {}, model="m", config_hash="h", image_ext="png")
            for k, p in enumerate(samples)]
    write_table_atomic(rows, paths.shard(0), SHARD_SCHEMA)
    out, pairs, scenes = export_livo(paths.root, tmp_path / "livo")
    assert (pairs, scenes) == (3, 1)  # LiVO pairs each aligned image with a violating one of its scene
    scene = next((out / "no_gore").iterdir())
    labels = Counter(m["label"] for m in map(json.loads, (scene / "metadata.jsonl").read_text().splitlines()))
    assert labels == {1: 3, 0: 3}
    pick, _ = export_pickapic(paths.root, tmp_path / "pickapic")
    table = pq.read_table(next((pick / "data").glob("*.parquet")))
    assert table["sample"].to_pylist() == [0, 1, 2] and len(set(table["caption"].to_pylist())) == 1
