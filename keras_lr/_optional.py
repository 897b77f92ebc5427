"""Lazy imports of optional dependencies, with an install hint."""

import importlib

__all__ = ["import_optional"]

# What to install for each optional module, by its top-level name. Every
# name here is a real package on PyPI or an extra of keras-lr's setup.cfg
# (tests/test_optional.py checks both).
_HINTS = {
    "matplotlib": "`pip install matplotlib` (installed with keras-lr)",
    "keras_tuner": "`pip install keras-tuner` (installed with keras-lr)",
    "tensorflow": (
        "TensorFlow: `pip install tensorflow-cpu` (the `cpu` extra of keras-lr: "
        "`pip install -e '.[cpu]'` in a clone), or `tensorflow` for a GPU"),
}


def install_hint(module):
    top = module.split(".")[0]
    return _HINTS.get(top, f"`pip install {top}`")


def import_optional(module, purpose):
    """Imports `module`, or raises an `ImportError` that says how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{purpose} needs `{module.split('.')[0]}`, which is not installed. "
            f"Install it with {install_hint(module)}.") from e
