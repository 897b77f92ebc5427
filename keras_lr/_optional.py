"""Lazy imports of optional dependencies, with an install hint."""

import importlib


def import_optional(module, extra, purpose):
    """Imports `module`, or raises an `ImportError` that says how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{purpose} needs `{module.split('.')[0]}`, which is not installed. "
            f"Install it with `pip install keras-lr[{extra}]` "
            f"(or `pip install {module.split('.')[0]}`)."
        ) from e
