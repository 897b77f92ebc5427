"""The floors of keras-lr import only downwards (docs/development.md)."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_lr"

# floor: the packages each may import (besides itself)
ALLOWED = {
    "_core": {"_validation", "_optional"},
    "schedules": {"_core", "_validation", "_optional"},
    "finder": {"_core", "schedules", "_validation", "_optional"},
    "callbacks": {"_core", "schedules", "finder", "_validation", "_optional"},
    "optimizers": {"_core", "schedules", "_validation", "_optional"},
    "workflows": {"_core", "schedules", "finder", "callbacks", "optimizers",
                  "_validation", "_optional"},
    "sweeps": {"_core", "schedules", "callbacks", "optimizers", "_validation", "_optional"},
    "tuning": {"_core", "schedules", "finder", "callbacks", "optimizers", "sweeps",
               "_validation", "_optional"},
    "_validation": set(),
    "_optional": set(),
}


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "keras_lr" and len(parts) > 1:
                yield parts[1]


def test_each_floor_imports_only_lower_floors():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        floor = relative.parts[0].removesuffix(".py")
        if floor == "__init__":
            continue  # keras_lr/__init__.py gathers the public API
        for target in set(_imports(path)):
            if target != floor and target not in ALLOWED[floor]:
                wrong.append(f"{relative} imports keras_lr.{target}")
    assert not wrong, wrong


def test_every_module_has_an_explicit_all():
    missing = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.name != "__init__.py" and not p.name.startswith("_")
               and "__all__" not in p.read_text()]
    assert not missing, missing
