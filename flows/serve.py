"""`make serve`: serve the deployments of the `build-dataset` flow from this process.

The deployments are the ones prefect.yaml declares (the one list; `make deploy` registers the
same for a work pool): `default` runs the flow's defaults (the tiny profile into runs/tiny),
one more per profile in configs/ (`tiny`, `sd15`, `sdxl`, ...) builds that profile into runs/<profile>.
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

from pipeline.errors import UserError

# Before prefect is imported: the pipeline's own log lines go to the Prefect run logs too.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"
# The keys of a prefect.yaml deployment that serving uses; `work_pool` only concerns a worker
# (a served flow runs in a subprocess of this process). Any other key is refused rather than
# served differently from `make deploy`.
SERVED_KEYS = ("name", "entrypoint", "description", "parameters", "tags")
POOL_ONLY_KEYS = ("work_pool",)
REQUIRED_KEYS = ("name", "entrypoint")


class DeploymentSpecError(UserError, ValueError):
    """prefect.yaml declares a deployment that serving cannot serve as `make deploy` would register it:
    `python -m flows.serve` prints the message, which says what to change, as one line. Still a
    ValueError for code that catches one."""


def declared_deployments(path: Path = PREFECT_YAML) -> list[dict]:
    """The `deployments:` list of prefect.yaml (YAML anchors resolved); DeploymentSpecError for an
    unreadable file, a malformed entry or a key serving would drop."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DeploymentSpecError(f"{path} is not valid YAML ({' '.join(str(e).split())}); fix the file") from None
    specs = (doc.get("deployments") if isinstance(doc, dict) else None) or []
    if not isinstance(specs, list):
        raise DeploymentSpecError(f"{path}: `deployments:` must be a list of mappings (`- name: ...`), "
                                  f"not {type(specs).__name__}; fix the file")
    for n, spec in enumerate(specs, 1):
        if not isinstance(spec, dict):
            raise DeploymentSpecError(f"{path}: deployment #{n} is {spec!r}, not a mapping; write it as "
                                      "`- name: ...` with an `entrypoint: file.py:flow` below")
        missing = [k for k in REQUIRED_KEYS if spec.get(k) in (None, "")]
        if missing:
            raise DeploymentSpecError(f"{path}: deployment #{n} ({spec.get('name')!r}) has no {' or '.join(missing)}; "
                                      "give every deployment a name and an `entrypoint: file.py:flow`")
        unknown = sorted(set(spec) - {*SERVED_KEYS, *POOL_ONLY_KEYS})
        if unknown:
            raise DeploymentSpecError(f"{path}: deployment {spec.get('name')!r} sets {', '.join(unknown)}, "
                                      "which flows/serve.py does not serve; add it there or leave it out")
    return specs


def _flow(entrypoint: str):
    """The flow a prefect.yaml entrypoint names (`flows/build_dataset.py:build_dataset_flow`),
    imported as a module so served runs import the installed package, not a file path."""
    file, _, name = entrypoint.partition(":")
    return getattr(importlib.import_module(Path(file).with_suffix("").as_posix().replace("/", ".")), name)


def deployments(path: Path = PREFECT_YAML) -> list:
    specs = declared_deployments(path)  # checked before prefect is imported
    from prefect.types.entrypoint import EntrypointType

    return [_flow(spec["entrypoint"]).to_deployment(
        name=spec["name"], description=spec.get("description"), parameters=spec.get("parameters"),
        tags=spec.get("tags"), entrypoint_type=EntrypointType.MODULE_PATH) for spec in specs]


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
    try:
        served = deployments(PREFECT_YAML)
    except UserError as e:  # a prefect.yaml to fix: its one line, no traceback
        print(f"flows.serve: {e}", file=sys.stderr)
        return 2
    from prefect import serve

    serve(*served, limit=args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
