"""The shape docs/ARCHITECTURE.md describes, checked: imports run one way, and modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

# Lowest first. A module may import its own layer or any layer below, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pipeline.errors", "pipeline.records", "pipeline.categories", "pipeline.typed_config", "pipeline.config",
     "pipeline.run"),
    ("pipeline.catalog", "pipeline.prompts", "pipeline.select", "pipeline.llm", "pipeline.plan", "pipeline.render",
     "pipeline.score", "pipeline.filters"),
    # report and export read finished runs (pipeline.run) with the stage packages' judges; livo_train's eval page
    # shares the report's HTML
    ("pipeline.build", "pipeline.calibrate", "pipeline.report", "pipeline.export"),
    ("flows", "livo_train"),
    ("pipeline.cli", "pipeline.console"),
)
PACKAGES = ("pipeline", "flows", "livo_train")
# A cohesive module of a few hundred lines beats several that must be read together; the cap only
# stops a module from becoming a grab bag.
MAX_LINES = 500
# Data tables, not logic: allowed to be long.
DATA_TABLES: frozenset[str] = frozenset()


def _layer(module: str) -> int | None:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def _modules() -> list[tuple[str, Path]]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out.append((".".join(parts), path))
    return out


def _imports(path: Path) -> set[str]:
    """Every module a file imports, function-level (lazy) imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def test_every_module_has_a_layer():
    assert [m for m, _ in _modules() if m != "pipeline" and _layer(m) is None] == []


@pytest.mark.parametrize("module,path", _modules(), ids=[m for m, _ in _modules()])
def test_imports_run_one_way(module, path):
    own = _layer(module)
    if own is None:  # the `pipeline` package itself
        return
    upward = sorted(m for m in _imports(path) if (_layer(m) or 0) > own)
    assert upward == [], f"{module} (layer {own}) imports from above: {upward}"


def test_modules_stay_small():
    long = {m: n for m, p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES and m not in DATA_TABLES}
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_the_run_layout_docstring_names_every_file():
    from pipeline.run import layout

    names = {k: v for k, v in vars(layout).items() if k.endswith(("_FILE", "_DIR")) and isinstance(v, str)}
    assert len(names) >= 10
    missing = sorted(v for v in names.values() if v not in layout.__doc__)
    assert missing == [], f"pipeline/run/layout.py's docstring omits {missing}"


def test_the_select_package_docstring_names_every_module_and_the_default():
    # the package docstring is where a reader starts; it once described a default that had gone
    import pipeline.select
    from pipeline.catalog import load_catalog
    from pipeline.select.factory import make_selector

    doc = " ".join(pipeline.select.__doc__.split())
    modules = sorted(p.stem for p in (ROOT / "pipeline" / "select").glob("*.py") if p.stem != "__init__")
    assert [m for m in modules if f"({m}" not in doc and f" {m}" not in doc] == []
    default_module = type(make_selector("default", load_catalog())).__module__.rsplit(".", 1)[-1]
    assert f"offline default ({default_module})" in doc


def test_the_bias_attribute_help_names_every_attribute_reader():
    # the face classifier reads a bias attribute before CLIP; the help once said CLIP alone
    from pipeline.config import PlanningConfig
    from pipeline.score.attributes import READING_ORDER

    help_text = PlanningConfig.model_fields["bias_attribute"].description.lower()
    assert all(judge in help_text for judge in READING_ORDER), help_text
