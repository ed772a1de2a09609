"""What a LiVO-size build costs outside the GPU: planning, the per-pair bookkeeping of a build, resume,
and the readers of a finished run. Every step is a `livo` command in its own process, timed on the
wall clock, its peak memory the child's own peak RSS (``wait4``'s rusage).

(a) ``livo plan`` of a large profile: the tiny profile's selector and checks with every pack expanded
    (``prompts.whole_packs``) up to ``--plan-per-category`` prompts per category (11,000: 86k+ pairs);
(b) a tiny build at the smallest size (8 px, 1 denoising step, the tiny profile's models) of each of
    ``--sizes`` pairs: real planned pairs (whole packs, ``per_category`` grown with the size,
    ``planning.max_pairs`` = the size), planned by ``livo plan``, then built by ``livo shards --local``;
    seconds per pair of the build (flat across sizes when the bookkeeping is O(1) per pair);
(c) on the largest build: resume start-up (``livo shards`` again on the finished run: it reads the
    markers, checks the files and finds nothing to do), ``livo validate``, ``livo report``, and
    ``livo export`` in the pickapic and livo formats.

    python bench/scale.py                                   # 86k plan, builds of 1k, 5k and 20k pairs
    python bench/scale.py --sizes 200,1000 --plan-per-category 300   # a quick look
    python bench/scale.py --skip-plan --sizes 20000         # (b) and (c) only

Then the marginal seconds per pair between consecutive sizes (a build's fixed cost, imports and
models, weighs on the smallest; equal marginals = flat), and last ``s/pair largest/smallest: X``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
LIVO = [sys.executable, "-m", "pipeline.cli"]

# Pairs planned per unit of prompts.per_category with whole packs on the tiny profile (about 7.6: ten
# categories, most prompts planned); the builds ask for this many times more prompts than they need
# and cut the plan to the size with planning.max_pairs.
PAIRS_PER_CATEGORY_UNIT = 7.0
HEADROOM = 1.25
# The smallest build: 8 px, one denoising step; the tiny profile's models and judges.
TINY_BUILD = ["render.width=8", "render.height=8", "render.steps=1"]


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mib: float
    out: str


def run_measured(args: list[str], log: Path) -> Measured:
    """Run ``args`` (from the project root) to completion: wall seconds and the child's peak RSS.

    ``os.wait4`` returns the rusage of that one child, so its ``ru_maxrss`` is its own peak (KiB on
    Linux), not the largest of every child this process ever waited for."""
    env = {**os.environ, "LIVO_DEBUG": "1"}
    with open(log, "w") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[2:])} failed (exit {proc.returncode}):\n{out[-3000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, out)


def frozen_inputs(work: Path, config: str) -> list[str]:
    """Overrides pointing the runs at a copy of the catalog (with the selector head) and the packs taken
    now: a run's identity hashes them, so an edit in the working tree between a plan and its build would
    make the build refuse the folder."""
    from pipeline.config import load_config

    cfg = load_config(ROOT / config)
    catalog, packs = work / "inputs" / "catalog", work / "inputs" / "packs"
    if not catalog.exists():
        shutil.copytree(ROOT / cfg.catalog_dir, catalog)
        shutil.copytree(ROOT / cfg.prompts.packs_dir, packs)
    return [f"catalog_dir={catalog}", f"prompts.packs_dir={packs}"]


def sets(items: list[str]) -> list[str]:
    return [a for s in items for a in ("--set", s)]


def planned_pairs(run: Path) -> int:
    from pipeline.run.layout import RunPaths
    from pipeline.run.manifest import read_manifest

    return read_manifest(RunPaths(run)).num_pairs


def row(step: str, pairs: int | None, m: Measured, per_pair: bool = False) -> str:
    spp = f"{m.seconds / pairs:9.4f}" if per_pair and pairs else f"{'':9}"
    return f"{step:<34}{pairs if pairs is not None else '':>8}{m.seconds:10.1f}{spp}{m.peak_mib:10.0f}"


def plan_profile(per_category: int, extra: list[str]) -> list[str]:
    return ["prompts.whole_packs=true", f"prompts.per_category={per_category}", *extra]


def bench_plan(work: Path, config: str, per_category: int, extra: list[str]) -> tuple[int, Measured]:
    out = work / "plan"
    m = run_measured([*LIVO, "plan", "--config", config, *sets(plan_profile(per_category, extra)),
                      "--out", str(out)], work / "plan.log")
    return planned_pairs(out), m


def build_overrides(size: int, extra: list[str]) -> list[str]:
    """The tiny build of ``size`` real planned pairs: enough prompts (whole packs), the plan cut to the size."""
    per_category = math.ceil(size * HEADROOM / PAIRS_PER_CATEGORY_UNIT)
    return sets([*plan_profile(per_category, []), f"planning.max_pairs={size}", *TINY_BUILD, *extra])


def bench_build(work: Path, config: str, size: int, extra: list[str]) -> tuple[Path, Measured, Measured]:
    """Plan and build ``size`` pairs; returns (run folder, plan, build)."""
    run = work / f"build-{size}"
    overrides = build_overrides(size, extra)
    plan = run_measured([*LIVO, "plan", "--config", config, *overrides, "--out", str(run)], work / f"plan-{size}.log")
    got = planned_pairs(run)
    if got != size:
        raise SystemExit(f"{size} pairs asked, {got} planned: lower PAIRS_PER_CATEGORY_UNIT in bench/scale.py")
    build = run_measured([*LIVO, "shards", "--local", "--config", config, *overrides, "--out", str(run)],
                         work / f"build-{size}.log")
    return run, plan, build


def bench_readers(work: Path, config: str, run: Path, size: int, extra: list[str]) -> list[str]:
    steps = [
        ("resume start-up", [*LIVO, "shards", "--local", "--config", config, *build_overrides(size, extra),
                             "--out", str(run)]),
        ("validate", [*LIVO, "validate", str(run)]),
        ("report", [*LIVO, "report", str(run), "--out", str(work / "report.html")]),
        ("export pickapic", [*LIVO, "export", str(run), str(work / "export-pickapic"), "--format", "pickapic"]),
        ("export livo", [*LIVO, "export", str(run), str(work / "export-livo"), "--format", "livo"]),
    ]
    return [row(f"{name} ({size})", size, run_measured(args, work / f"{name.replace(' ', '-')}.log"))
            for name, args in steps]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/tiny.yaml", help="the profile whose selector, models and judges are used")
    ap.add_argument("--plan-per-category", type=int, default=11000,
                    help="(a): prompts.per_category of the large plan (11,000: 86k+ pairs with whole packs)")
    ap.add_argument("--sizes", default="1000,5000,20000", help="(b): pairs per tiny build, comma-separated")
    ap.add_argument("--skip-plan", action="store_true", help="leave out (a)")
    ap.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                    help="more overrides for every step (e.g. score.nudenet=false)")
    ap.add_argument("--work", help="folder for the runs (kept); default a temporary folder, removed at the end")
    args = ap.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not sizes or sizes[0] < 1:
        ap.error("--sizes needs one or more positive pair counts")

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="livo-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    extra = frozen_inputs(work, args.config) + args.extra
    print(f"{'step':<34}{'pairs':>8}{'seconds':>10}{'s/pair':>9}{'peak MiB':>10}", flush=True)
    try:
        if not args.skip_plan:
            pairs, m = bench_plan(work, args.config, args.plan_per_category, extra)
            print(row(f"plan (per_category {args.plan_per_category})", pairs, m), flush=True)
        per_pair: dict[int, float] = {}
        run = None
        for size in sizes:
            run, plan, build = bench_build(work, args.config, size, extra)
            print(row(f"plan ({size})", size, plan), flush=True)
            print(row(f"build ({size})", size, build, per_pair=True), flush=True)
            per_pair[size] = build.seconds / size
        for line in bench_readers(work, args.config, run, sizes[-1], extra):
            print(line, flush=True)
        # a build's fixed cost (imports, models) weighs on small sizes; the marginal cost per pair between
        # two sizes is the per-pair work alone: equal marginals = flat
        for a, b in itertools.pairwise(sizes):
            print(f"marginal s/pair {a}->{b}: {(per_pair[b] * b - per_pair[a] * a) / (b - a):.4f}")
        print(f"s/pair largest/smallest: {per_pair[sizes[-1]] / per_pair[sizes[0]]:.2f}")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
