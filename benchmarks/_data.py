"""Offline data helpers shared by the benchmarks."""

import numpy as np

__all__ = ["split", "standardize"]


def split(x, y, seed=0, fraction=0.25):
    """A shuffled train / validation split: `((x, y), (x_val, y_val))`."""
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - fraction))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def standardize(train, val):
    """Both scaled by the training columns' mean and standard deviation."""
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-8
    return ((train - mean) / std).astype("float32"), ((val - mean) / std).astype("float32")
