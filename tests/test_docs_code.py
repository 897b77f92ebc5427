"""Every Python code block of README.md and docs/ runs offline as written.

The blocks of one page run in order in one namespace, as a reader would run
them, and the page starts from the names the docs assume (`CONTEXT`, said on
the docs home): `model` (the digits MLP of "Your first run", compiled), `x`,
`y`, their splits `x_train`/`y_train` and `x_val`/`y_val` (also `xv`/`yv`),
`train_dataset`, `epochs` and `steps_per_epoch`, `np`, `keras` and `keras_lr`.
A block that cannot run as written is marked on its page by the line
`<!-- fragment: why -->` just before it, and the reason is required; a block
run elsewhere is listed in `RUN_ELSEWHERE`. Each page runs in a scratch
working directory (files the blocks save land there).
"""

import glob
import os
import re
import warnings

import keras
import pytest

from tests.conftest import BACKEND

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"),
                                                recursive=True))
FRAGMENT = re.compile(r"<!--\s*fragment:\s*(?P<why>[^>]*?)\s*-->\s*\n\s*$")
BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.S | re.M)
RUN_ELSEWHERE = {
    ("README.md", 0): "tests/test_readme.py runs it in a fresh process and checks its output",
}

CONTEXT = '''
import keras
import numpy as np
import keras_lr
from sklearn.datasets import load_digits

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
x_train, y_train, x_val, y_val = x[:1400], y[:1400], x[1400:], y[1400:]
xv, yv = x_val, y_val
epochs, steps_per_epoch = 3, 44          # 1400 samples in batches of 32
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
'''


def blocks(page):
    """`(index, code, why)` for each Python block of `page`; `why` is the
    fragment's reason, or None for a block that runs."""
    with open(os.path.join(ROOT, page)) as f:
        text = f.read()
    found = []
    for index, match in enumerate(BLOCK.finditer(text)):
        before = text[:match.start()]
        marker = FRAGMENT.search(before[-300:])
        found.append((index, match.group("code"), marker.group("why") if marker else None))
    return found


def _train_dataset(x_train, y_train):
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(
            1400, seed=0).batch(32)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 44

        def __getitem__(self, i):
            return x_train[32 * i:32 * (i + 1)], y_train[32 * i:32 * (i + 1)]

    return Batches()


def test_every_page_is_seen_and_fragments_say_why():
    runnable = fragments = 0
    for page in PAGES:
        for index, code, why in blocks(page):
            if why is None:
                runnable += 1
            else:
                fragments += 1
                assert len(why) >= 10, f"{page} block {index}: a fragment says why"
    assert runnable >= 25 and fragments <= 8, (runnable, fragments)


def test_fragment_marker_is_found():
    text = "intro\n\n<!-- fragment: needs downloaded weights -->\n```python\nimport x\n```\n"
    match = BLOCK.search(text)
    assert FRAGMENT.search(text[:match.start()]).group("why") == "needs downloaded weights"
    assert FRAGMENT.search("<!-- fragment: far -->\n\nmore prose\n\n") is None


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("page", [p for p in PAGES if any(
    why is None and (p, i) not in RUN_ELSEWHERE for i, _, why in blocks(p))])
def test_page_code_runs(page, tmp_path, monkeypatch, fresh_session):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    exec(compile(CONTEXT, "<docs context>", "exec"), namespace)
    namespace["train_dataset"] = _train_dataset(namespace["x_train"], namespace["y_train"])
    ran = 0
    for index, code, why in blocks(page):
        if why is not None or (page, index) in RUN_ELSEWHERE:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exec(compile(code, f"<{page} block {index}>", "exec"), namespace)
            except Exception as error:  # the page and block in the failure
                raise AssertionError(
                    f"{page}, Python block {index} failed: {type(error).__name__}: "
                    f"{error}\n{code}") from error
        ran += 1
    assert ran >= 1
