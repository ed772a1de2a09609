"""`make serve`: serve the deployments of the `build-dataset` flow from this process.

Deployment `default` runs the flow's defaults (the tiny profile into runs/tiny); one more
deployment per profile in configs/ (`tiny`, `sd15`, ...) builds that profile into
runs/<profile>. Every parameter can be changed per run:

    prefect deployment run build-dataset/default --param out=runs/x \\
        --param overrides='["render.steps=8"]' --param per_category=4

Each flow run executes in a subprocess of this one, in this directory; PREFECT_API_URL
must point at the server (`make server`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Before prefect is imported: the pipeline's own log lines go to the Prefect run logs too.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")

FLOW_ENTRYPOINT = "flows.build_dataset.build_dataset_flow"


def dataset_profiles(profiles_dir: Path) -> list[Path]:
    """The YAML files of configs/ that are dataset-build profiles (configs/ also holds others,
    e.g. training configs, which do not validate as a RunConfig)."""
    from pipeline.config import ConfigError, load_config

    found = []
    for path in sorted(profiles_dir.glob("*.yaml")):
        try:
            load_config(path)
        except ConfigError:
            continue
        found.append(path)
    return found


def deployments(profiles_dir: Path = Path("configs")) -> list:
    from prefect.types.entrypoint import EntrypointType

    from flows.build_dataset import build_dataset_flow

    # Module entrypoint: flow runs import the installed package instead of a file path.
    common = dict(entrypoint_type=EntrypointType.MODULE_PATH, tags=["livo"])
    found = [build_dataset_flow.to_deployment(
        name="default", description="The flow's defaults: configs/tiny.yaml into runs/tiny.", **common)]
    for path in dataset_profiles(profiles_dir):
        found.append(build_dataset_flow.to_deployment(
            name=path.stem, parameters={"profile": path.stem, "out": f"runs/{path.stem}"},
            description=f"Profile {path} into runs/{path.stem}.", **common))
    return found


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
