"""`keras_lr.find_lr`: the learning-rate range test in one call."""

import math
import numbers
import time
import warnings

import keras
import numpy as np

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr._core.learning_rate import LearningRate
from keras_lr._core.learning_rate import strategy_scope
from keras_lr._core.snapshot import MODEL_ATTRIBUTES
from keras_lr.finder.callback import LRFinder
from keras_lr.finder.result import MAX_PASSES
from keras_lr.finder.result import FinderWarning
from keras_lr.finder.result import LRFinderResult
from keras_lr.finder.sweep import validate_finder_args
from keras_lr.finder.sweep import validate_validation_data

__all__ = ["check_data", "find_lr"]

# Measured: see `benchmarks/finder_quality.py` and docs/lr_finder.md.
DEFAULT_REPEATS = 3

def _is_array_data(x):
    leaves = keras.tree.flatten(x)
    return bool(leaves) and all(
        hasattr(leaf, "__array__") and hasattr(leaf, "shape") for leaf in leaves
    )


def _num_samples(x):
    return int(keras.tree.flatten(x)[0].shape[0])


def _sample_count(sample, n):
    if sample is None:
        return n
    if isinstance(sample, bool) or not isinstance(sample, numbers.Real):
        raise ValueError(
            "Argument `sample` must be an integer count or a fraction in (0, 1]. "
            f"Received: sample={sample!r}")
    if isinstance(sample, numbers.Integral):
        if not 1 <= sample <= n:
            raise ValueError(
                f"Argument `sample` must be a count between 1 and the {n} "
                f"available (rows of array data, batches of a dataset), or a "
                f"fraction in (0, 1]. Received: sample={sample!r}")
        return int(sample)
    if not 0 < sample <= 1:
        raise ValueError(
            f"Argument `sample` must be in (0, 1] as a fraction. Received: sample={sample!r}")
    return max(1, int(round(sample * n)))


class _ArrayBatches(keras.utils.PyDataset):
    """The sweep's batches of in-memory arrays, gathered one batch at a time.

    Holds only the row order (a random subset, cycled in shuffled passes):
    the data is never copied as a whole, so `find_lr` needs no more memory
    than `fit` on the same arrays.
    """

    def __init__(self, x, y, index, batch_size):
        super().__init__()
        self._x, self._y = x, y
        self._index = index
        self._batch_size = batch_size

    def __len__(self):
        return math.ceil(len(self._index) / self._batch_size)

    def __getitem__(self, i):
        rows = np.sort(self._index[i * self._batch_size:(i + 1) * self._batch_size])

        def take(a):
            return a[rows]

        xs = keras.tree.map_structure(take, self._x)
        if self._y is None:
            return (xs,)
        return xs, keras.tree.map_structure(take, self._y)


def _array_run_data(x, y, batch_size, num_steps, sample, rng):
    """The batches of one sweep: a random subset, cycled in shuffled passes."""
    n = _num_samples(x)
    if n == 0:
        raise ValueError("Argument `x` is empty: the range test needs data.")
    if y is not None and _num_samples(y) != n:
        raise ValueError(
            f"Arguments `x` and `y` must have the same number of samples. "
            f"Received: {n} and {_num_samples(y)}")
    # NumPy arrays are indexed in place; other array-likes (tensors, data
    # frames) are converted once, as `fit` converts them.
    as_numpy = lambda a: a if isinstance(a, np.ndarray) else np.asarray(a)  # noqa: E731
    x = keras.tree.map_structure(as_numpy, x)
    y = None if y is None else keras.tree.map_structure(as_numpy, y)
    subset = rng.permutation(n)[: _sample_count(sample, n)]
    needed = num_steps * batch_size
    passes = [rng.permutation(subset) for _ in range(math.ceil(needed / len(subset)))]
    index = np.concatenate(passes)[:needed]
    return _ArrayBatches(x, y, index, batch_size)


def _cycle_pydataset(dataset, rng):
    order = np.arange(len(dataset))
    while True:
        for i in rng.permutation(order):
            yield dataset[int(i)]


def _host_batch(batch):
    """A batch with PyTorch tensors (a `torch.utils.data.DataLoader`'s) as
    NumPy arrays and a list as a tuple, which the replaying generator hands
    to `fit` on every backend; anything else as it is."""
    def convert(leaf):
        if type(leaf).__module__.split(".")[0] == "torch" and hasattr(leaf, "detach"):
            return leaf.detach().cpu().numpy()
        return leaf
    if isinstance(batch, list):  # a DataLoader yields lists; `fit` wants a tuple
        batch = tuple(batch)
    return keras.tree.map_structure(convert, batch)


def _cycle_iterable(iterable, cache, rng):
    """Yields from a generator, then replays what it yielded (cycling).

    `cache` is shared between the sweeps of `repeats`: a generator can be
    consumed once, so later sweeps replay its batches in another order.
    """
    if cache:
        while True:
            for i in rng.permutation(len(cache)):
                yield cache[int(i)]
    for item in iterable:
        item = _host_batch(item)
        cache.append(item)
        yield item
    if not cache:
        raise ValueError("The data generator yielded no batch.")
    while True:
        yield from cache


def _run_data(x, y, batch_size, num_steps, sample, rng, cache):
    """Returns `(x, y, fit_kwargs)` for one sweep, cycling short data."""
    if x is None:
        raise ValueError("Argument `x` is required: the range test trains on data.")
    if _is_array_data(x):
        batch_size = 32 if batch_size is None else batch_size
        batches = _array_run_data(x, y, batch_size, num_steps, sample, rng)
        return batches, None, {"steps_per_epoch": num_steps, "shuffle": False}
    if batch_size is not None:
        raise ValueError(
            "Argument `batch_size` must be None when `x` is a dataset, a "
            "PyDataset or a generator (they yield batches). "
            f"Received: batch_size={batch_size!r}")
    if y is not None:
        raise ValueError(
            "Argument `y` must be None when `x` is a dataset, a PyDataset or a "
            "generator (they yield `(x, y)` batches).")
    if isinstance(x, keras.utils.PyDataset):
        if sample is not None:
            raise ValueError("Argument `sample` is supported for arrays and tf.data datasets.")
        return _cycle_pydataset(x, rng), None, {"steps_per_epoch": num_steps, "shuffle": False}
    tf_dataset = _as_tf_dataset(x)
    if tf_dataset is not None:
        if sample is not None:
            cardinality = int(tf_dataset.cardinality())
            if isinstance(sample, numbers.Integral) and not isinstance(sample, bool):
                known = cardinality if cardinality >= 0 else max(sample, 1)
                tf_dataset = tf_dataset.take(_sample_count(sample, known))
            elif cardinality < 0:
                raise ValueError(
                    "Argument `sample` as a fraction needs a dataset of known "
                    "length; pass a count of batches instead.")
            else:
                tf_dataset = tf_dataset.take(_sample_count(sample, cardinality))
        return tf_dataset.repeat(), None, {"steps_per_epoch": num_steps, "shuffle": False}
    if sample is not None:
        raise ValueError("Argument `sample` is supported for arrays and tf.data datasets.")
    return _cycle_iterable(x, cache, rng), None, {"steps_per_epoch": num_steps, "shuffle": False}


def check_data(x, y=None, batch_size=None, sample=None, reusable=False):
    """Checks the range test's data before anything trains: what
    `find_lr` would refuse later (and, with `reusable`, a generator or an
    iterator, which one test would use up).

    Raises:
        ValueError: naming the argument and what it received.
    """
    if x is None:
        raise ValueError("Argument `x` is required: the range test trains on data.")
    if batch_size is not None:
        _validation.require_int("batch_size", batch_size, minimum=1)
    if _is_array_data(x):
        n = _num_samples(x)
        if n == 0:
            raise ValueError("Argument `x` is empty: the range test needs data.")
        if y is not None and _num_samples(y) != n:
            raise ValueError(
                f"Arguments `x` and `y` must have the same number of samples. "
                f"Received: {n} and {_num_samples(y)}")
        if sample is not None:
            _sample_count(sample, n)
        return
    if batch_size is not None:
        raise ValueError(
            "Argument `batch_size` must be None when `x` is a dataset, a "
            "PyDataset or a generator (they yield batches). "
            f"Received: batch_size={batch_size!r}")
    if y is not None:
        raise ValueError(
            "Argument `y` must be None when `x` is a dataset, a PyDataset or a "
            "generator (they yield `(x, y)` batches).")
    if sample is not None:
        _sample_count(sample, 2**62)  # its type and range; the count is checked later
    if reusable and not isinstance(x, keras.utils.PyDataset) and _as_tf_dataset(x) is None \
            and iter(x) is x:
        raise ValueError(
            "Argument `x` must be arrays, a `tf.data.Dataset` or a `PyDataset`: a "
            "generator or an iterator is used up by the first range test, and the "
            f"later ones would have no data. Received: x={x!r}")


def _as_tf_dataset(x):
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return x if isinstance(x, tf.data.Dataset) else None


def find_lr(model, x=None, y=None, *, batch_size=None, start_lr=1e-7, end_lr=10.0,
            num_steps=300, mode="exponential",
            smoothing=0.9, diverge_threshold=4.0,
            sample=None, validation_data=None, restore=True, repeats=3, seed=None,
            verbose="auto"):
    """Runs a learning-rate range test and puts the model back as it was.

    Trains `model` for up to `num_steps` steps while its learning rate grows
    from `start_lr` to `end_lr` (Smith, 2015; fastai's `lr_find`), records
    each step's own batch loss, stops on divergence or NaN, and returns an
    `LRFinderResult` with the curve, suggestions and a plot. With
    `restore=True` the model's weights, every optimizer variable (slots,
    `iterations`, loss scale), its learning rate (float or schedule), its
    metrics, `steps_per_execution` and compiled functions are afterwards
    bit for bit as before, so it can be called on a fresh model or in the
    middle of training.

    Args:
        model: A compiled `keras.Model`.
        x: Input data, as for `model.fit`: NumPy arrays (or a list/dict of
            them), a `tf.data.Dataset`, a `keras.utils.PyDataset`, a
            `torch.utils.data.DataLoader` (on every backend, as `fit`) or a
            generator of `(x, y)` batches. Data shorter than the sweep is
            cycled.
        y: Targets, with array `x`.
        batch_size: Integer, with array data. Defaults to `32`.
        start_lr: Float > 0. Defaults to `1e-7`.
        end_lr: Float > `start_lr`. Defaults to `10.0`.
        num_steps: Integer >= 2. Defaults to `300` (measured better than 100:
            see the docs).
        mode: `"exponential"` (log-spaced, the default) or `"linear"`.
        smoothing: Float in [0, 1). Beta of the bias-corrected moving
            average of the loss. Defaults to `0.9` (0.98 lags so much that
            the divergence stop rarely fires in 300 steps).
        diverge_threshold: Float > 1 or None. Stop when the smoothed loss
            exceeds this multiple of its best. Defaults to `4.0`.
        sample: Optional integer count (rows, or batches of a dataset) or
            fraction in (0, 1]: sweep on a random subset, which keeps the
            test cheap on big data.
        validation_data: Optional `(x_val, y_val)`, `(x_val, y_val,
            sample_weight)` or dataset, evaluated
            after each step; the suggestions then use it. Costly: keep it
            small.
        restore: Bool. Put the model back afterwards. Defaults to `True`.
        repeats: Integer >= 1. Number of sweeps, each with another data
            order (arrays and PyDatasets are reshuffled; datasets are
            re-iterated). The result's `suggestion_spread()` reports how much
            the suggestion moves; `suggestion()` is the median of the runs'.
            Defaults to `3`: one sweep's suggestion moves by up to half a
            decade with the batch order, the median of three is within half
            a decade of the best constant LR on every benchmark task (see the
            docs). A generator, which can be read once, is replayed from the
            batches the first sweep drew.
        seed: Optional integer >= 0, the seed of the data order. Defaults to
            `None`: drawn from NumPy's global generator, so that
            `keras.utils.set_random_seed` makes the whole test repeatable.
        verbose: `"auto"`, 0 or 1. With 1, a progress bar per sweep (step,
            learning rate, smoothed loss) and one closing line: the
            suggestion (a constant LR), its spread over the repeats, and the
            range for one-cycle and cyclical schedules. Defaults to `"auto"`
            (1).

    Returns:
        A `keras_lr.finder.LRFinderResult`.

    Raises:
        ValueError: for bad arguments, an uncompiled model or empty data.

    Example:

    ```python
    >>> x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    >>> y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> result = keras_lr.find_lr(model, x, y, num_steps=100, verbose=0)
    >>> 1e-4 < result.suggestion() < 1.0
    True

    ```

    Reference:
        [Smith, 2015, "Cyclical Learning Rates for Training Neural
        Networks"](https://arxiv.org/abs/1506.01186), section 3.3.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Argument `model` must be a keras.Model. Received: model={model!r}")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError("find_lr needs a compiled model: call `model.compile()` first.")
    validate_finder_args(start_lr, end_lr, num_steps, mode, smoothing, diverge_threshold)
    validate_validation_data(validation_data)
    repeats = _validation.require_int("repeats", repeats, minimum=1)
    if batch_size is not None:
        _validation.require_int("batch_size", batch_size, minimum=1)
    _validation.require_bool("restore", restore)
    _validation.require_one_of("verbose", verbose, ("auto", 0, 1, True, False))
    verbose = 1 if verbose == "auto" else int(verbose)
    _check_targets(model, x, y)
    check_data(x, y, batch_size, sample)
    if seed is None:
        # NumPy's global generator: `keras.utils.set_random_seed` seeds it, so a
        # seeded program gets the same data order, and the same answer, each run.
        seed = int(np.random.randint(0, 2**31 - 1))
    else:
        seed = _validation.require_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    generator_cache = []
    if not model.built:
        _build(model, x, y, batch_size)

    began = time.perf_counter()
    saved = {name: getattr(model, name) for name in MODEL_ATTRIBUTES if hasattr(model, name)}
    results, finder = [], None
    try:
        model.steps_per_execution = 1
        # Under gradient accumulation each sweep step (an update) reads k batches.
        batches = num_steps * LearningRate(model.optimizer).accumulation_steps
        rows, passes = _passes(x, batch_size, batches, sample)
        for run in range(repeats):
            xs, ys, fit_kwargs = _run_data(x, y, batch_size, batches, sample, rng,
                                           generator_cache)
            last = run == repeats - 1
            title = f"LR finder sweep {run + 1}/{repeats}" if repeats > 1 else "LR finder"
            finder = LRFinder(start_lr, end_lr, num_steps, mode, smoothing,
                              diverge_threshold, validation_data,
                              restore=restore or not last, verbose=verbose,
                              title=title)
            with keras_private.fit_from_epoch_zero(model):
                model.fit(xs, ys, epochs=1, verbose=0, callbacks=[finder], **fit_kwargs)
            if not len(finder.result):
                raise ValueError(
                    "The data yielded no batches: the range test needs at least "
                    "one (is the dataset empty, or `sample` too small?).")
            results.append(finder.result)
    finally:
        if finder is not None and restore:
            finder.restore_model()  # after an exception inside fit
        for name, value in saved.items():
            setattr(model, name, value)
    result = results[0] if repeats == 1 else _combine(results)
    if passes is not None and passes > MAX_PASSES:
        result.notes.append(
            f"each sweep read its data about {passes:.0f} times ({rows} "
            f"{'rows' if _is_array_data(x) else 'batches'}, {batches} steps): its later steps "
            "see data the model has already fitted, so the loss falls for that reason too "
            "and the suggestion comes out high. Use more data, or `num_steps` of about "
            f"{max(10, int(num_steps * MAX_PASSES / passes))} ({MAX_PASSES} passes).")
    for caution in result.reliability():
        warnings.warn(f"find_lr: {caution}", FinderWarning, stacklevel=2)
    if verbose:
        keras_private.print_msg(
            f"LR finder: {result.summary()} ({time.perf_counter() - began:.1f}s)")
    return result


def _passes(x, batch_size, batches, sample):
    """`(rows, passes)`: how many times the sweep reads its data (None when
    its length is unknown: a generator, a dataset of unknown cardinality)."""
    if _is_array_data(x):
        rows = _sample_count(sample, _num_samples(x))
        return rows, batches * (batch_size or 32) / rows
    if isinstance(x, keras.utils.PyDataset):
        return len(x), batches / max(1, len(x))
    dataset = _as_tf_dataset(x)
    if dataset is not None:
        cardinality = int(dataset.cardinality())
        if cardinality > 0:
            if isinstance(sample, numbers.Integral) and not isinstance(sample, bool):
                cardinality = min(cardinality, int(sample))
            elif sample is not None:
                cardinality = max(1, int(round(sample * cardinality)))
            return cardinality, batches / cardinality
    return None, None


def _reiterable(x):
    """An iterable that starts again at each `iter` (a DataLoader, a list of
    batches), which can be read ahead; a generator cannot."""
    try:
        return iter(x) is not x
    except TypeError:
        return False


def _check_targets(model, x, y):
    if y is None and _is_array_data(x) and getattr(model, "loss", None) is not None:
        raise ValueError(
            "Argument `y` is required: the model was compiled with the loss "
            f"{model.loss!r}, which compares predictions with targets. Pass "
            "`find_lr(model, x, y)`, or a dataset of `(x, y)` batches.")


def _first_batch(x, y, batch_size):
    if _is_array_data(x):
        take = lambda a: np.asarray(a[: batch_size or 32])  # noqa: E731
        xs = keras.tree.map_structure(take, x)
        return (xs,) if y is None else (xs, keras.tree.map_structure(take, y))
    if isinstance(x, keras.utils.PyDataset):
        batch = x[0]
    elif _as_tf_dataset(x) is not None or _reiterable(x):
        batch = _host_batch(next(iter(x), None))
        if batch is None:
            raise ValueError("The dataset is empty: the range test needs data.")
    else:
        raise ValueError(
            "The model is not built and `x` is a generator, which cannot be "
            "read ahead: build the model first (`keras.Input` in a Sequential "
            "or `model.build(input_shape)`).")
    return tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)


def _build(model, x, y, batch_size):
    """Builds the model, its loss, metrics and optimizer from one batch,
    as `fit` would in its first step, so that the sweep can be undone."""
    batch = _first_batch(x, y, batch_size)
    with strategy_scope(model):
        keras_private.symbolic_build(model, batch)


def _combine(results):
    length = min(len(r) for r in results)
    median = lambda name: np.median(  # noqa: E731
        np.stack([getattr(r, name)[:length] for r in results]), axis=0)
    validation = None
    if results[0].validation_losses is not None:
        validation = median("validation_losses")
    reasons = {r.stop_reason for r in results}
    return LRFinderResult(
        results[0].learning_rates[:length], median("losses"),
        median("smoothed_losses"), validation,
        stop_reason=reasons.pop() if len(reasons) == 1 else "mixed",
        config=dict(results[0].config, repeats=len(results)), runs=results,
    )
