"""docs/guarantees.md is what docs/guarantees.py writes from the registry."""

import importlib.util
import pathlib

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the page is written from the TensorFlow run's view")
def test_the_guarantees_page_is_current():
    spec = importlib.util.spec_from_file_location("guarantees", ROOT / "docs" / "guarantees.py")
    guarantees = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guarantees)
    assert (ROOT / "docs" / "guarantees.md").read_text() == guarantees.render(), (
        "docs/guarantees.md is not current: run `python docs/guarantees.py`")
