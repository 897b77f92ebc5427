"""The data of a sweep: arrays cut into batches, or a dataset's batches."""

import keras
import numpy as np

__all__ = ["batches", "check_arrays", "check_batched", "dataset_batches", "is_batched"]


def check_arrays(arrays):
    """Arrays (or lists / dicts of them) with one shared first dimension;
    `None` entries are skipped."""
    lengths = {}
    for name, data in arrays.items():
        if data is None:
            continue
        for leaf in keras.tree.flatten(data):
            shape = np.shape(leaf) if not isinstance(leaf, (str, bytes)) else ()
            if len(shape) == 0:
                raise ValueError(
                    f"Argument `{name}` must be an array with a batch axis (or a list or "
                    f"dict of them). Received: {name}={leaf!r}")
            lengths.setdefault(name, int(shape[0]))
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "Arguments " + ", ".join(f"`{n}`" for n in lengths) + " must have the same "
            f"number of samples. Received: {lengths}")


def is_batched(data):
    """Whether `data` gives batches itself (a `tf.data.Dataset`, a PyTorch
    `DataLoader`, any re-iterable object) instead of being arrays."""
    if data is None or isinstance(data, (list, tuple, dict, np.ndarray, str, bytes)):
        return False
    if keras.ops.is_tensor(data) or hasattr(data, "__array__"):
        return False
    return hasattr(data, "__iter__")


def check_batched(name, data):
    if iter(data) is data:
        raise ValueError(
            f"Argument `{name}` must be arrays or a re-iterable source of batches "
            "(a `tf.data.Dataset`, a PyTorch `DataLoader`): the sweep reads it once per "
            f"epoch, and an iterator or generator is spent after one. Received: "
            f"{name}={data!r}")


def dataset_batches(data):
    """The `(x, y, sample_weight)` batches of a batched source, as NumPy."""
    for element in data:
        if not isinstance(element, (list, tuple)) or len(element) not in (2, 3):
            raise ValueError(
                "A batched source given to sweep must yield `(x, y)` or `(x, y, "
                "sample_weight)` tuples. Received an element of type "
                f"{type(element).__name__}")
        element = keras.tree.map_structure(keras.ops.convert_to_numpy, tuple(element))
        yield element[0], element[1], element[2] if len(element) == 3 else None


def batches(x, y, sample_weight, batch_size, shuffle, rng):
    if is_batched(x):
        yield from dataset_batches(x)
        return
    n = len(x) if not isinstance(x, (list, tuple)) else len(x[0])
    order = rng.permutation(n) if shuffle else np.arange(n)

    def take(data, index):
        if data is None:
            return None
        if isinstance(data, (list, tuple)):
            return type(data)(np.asarray(d)[index] for d in data)
        if isinstance(data, dict):
            return {k: np.asarray(v)[index] for k, v in data.items()}
        return np.asarray(data)[index]

    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        yield take(x, index), take(y, index), take(sample_weight, index)
