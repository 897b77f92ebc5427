"""Offline data for the examples: scikit-learn's bundled data sets."""

import numpy as np


def digits(seed=0, validation_fraction=0.25):
    """8x8 digit images, scaled to [0, 1], split into train and validation."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order].astype("int32")
    cut = int(len(x) * (1 - validation_fraction))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
