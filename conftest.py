"""Doctest namespace: the docstring examples run as written in the docs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    import keras
    import numpy as np

    import keras_lr

    doctest_namespace.update(keras=keras, keras_lr=keras_lr, np=np)
