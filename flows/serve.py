"""`make serve`: serve the deployments of the `build-dataset` flow from this process.

The deployments are the ones prefect.yaml declares (the one list; `make deploy` registers the
same for a work pool): `default` runs the flow's defaults (the tiny profile into runs/tiny),
one more per profile in configs/ (`tiny`, `sd15`) builds that profile into runs/<profile>.
Every parameter can be changed per run:

    prefect deployment run build-dataset/default --param out=runs/x \\
        --param overrides='["render.steps=8"]' --param per_category=4

Each flow run executes in a subprocess of this one, in this directory; PREFECT_API_URL
must point at the server (`make server`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

# Before prefect is imported: the pipeline's own log lines go to the Prefect run logs too.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"
# The keys of a prefect.yaml deployment that serving uses; `work_pool` only concerns a worker
# (a served flow runs in a subprocess of this process). Any other key is refused rather than
# served differently from `make deploy`.
SERVED_KEYS = ("name", "entrypoint", "description", "parameters", "tags")
POOL_ONLY_KEYS = ("work_pool",)


def declared_deployments(path: Path = PREFECT_YAML) -> list[dict]:
    """The `deployments:` list of prefect.yaml (YAML anchors resolved)."""
    import yaml

    specs = yaml.safe_load(path.read_text(encoding="utf-8")).get("deployments") or []
    for spec in specs:
        unknown = sorted(set(spec) - {*SERVED_KEYS, *POOL_ONLY_KEYS})
        if unknown:
            raise ValueError(f"{path}: deployment {spec.get('name')!r} sets {', '.join(unknown)}, "
                             "which flows/serve.py does not serve; add it there or leave it out")
    return specs


def _flow(entrypoint: str):
    """The flow a prefect.yaml entrypoint names (`flows/build_dataset.py:build_dataset_flow`),
    imported as a module so served runs import the installed package, not a file path."""
    file, _, name = entrypoint.partition(":")
    return getattr(importlib.import_module(Path(file).with_suffix("").as_posix().replace("/", ".")), name)


def deployments(path: Path = PREFECT_YAML) -> list:
    from prefect.types.entrypoint import EntrypointType

    return [_flow(spec["entrypoint"]).to_deployment(
        name=spec["name"], description=spec.get("description"), parameters=spec.get("parameters"),
        tags=spec.get("tags"), entrypoint_type=EntrypointType.MODULE_PATH) for spec in declared_deployments(path)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=1,
                        help="flow runs at once (default 1: one build owns this machine's devices)")
    args = parser.parse_args(argv)
    if not os.environ.get("PREFECT_API_URL"):
        print("flows.serve: set PREFECT_API_URL to a running server (make server prints it); a temporary "
              "server would stop with this process and nobody could trigger a run", file=sys.stderr)
        return 2
    from prefect import serve

    serve(*deployments(), limit=args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
