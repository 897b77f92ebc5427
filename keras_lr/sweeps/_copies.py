"""`Copies`: the K copies of a sweep, one learning rate each, trained together.

A sweep is a short pipeline of these steps: make the copies (`Copies(...)`:
the compiled model's optimizer re-made per copy, weights from the model or
one initialization per seed, the memory checked), train them epoch by epoch
(`train_epoch`, or `train_steps` across epoch boundaries), score them on
validation data (`validate`), drop the ones no longer wanted (`keep`, what
successive halving does), and gather a `SweepResult` (`result`).
"""

import math
import traceback

import keras
import numpy as np

from keras_lr._core import keras_private
from keras_lr._core.learning_rate import innermost_optimizer
from keras_lr.sweeps import _data
from keras_lr.sweeps._step import make_runner
from keras_lr.sweeps.result import SweepResult

__all__ = ["Copies", "estimate_memory"]


@keras.saving.register_keras_serializable(package="keras_lr")
class _ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`scale * schedule(step)`, the scale an optimizer variable (one value
    per copy of a sweep)."""

    def __init__(self, schedule, scale):
        self.schedule = schedule
        self.scale = scale

    def __call__(self, step):
        base = self.schedule(step) if callable(self.schedule) else self.schedule
        return keras.ops.cast(self.scale, "float32") * keras.ops.cast(base, "float32")

    def get_config(self):
        # The scale as a number (a sweep's is a variable: its current value).
        scale = self.scale
        if not isinstance(scale, (int, float)):
            scale = float(keras.ops.convert_to_numpy(scale))
        schedule = self.schedule
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            schedule = keras.saving.serialize_keras_object(schedule)
        return {"schedule": schedule, "scale": scale}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["schedule"], dict):
            config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)


def _nbytes(values):
    return int(sum(np.prod(np.shape(v), dtype="int64") * np.dtype(
        keras.backend.standardize_dtype(v.dtype)).itemsize for v in values))


def _available_memory():
    """Bytes of memory the copies may use: the accelerator's limit on JAX
    when it reports one, else the host's available memory."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        stats = device.memory_stats() if hasattr(device, "memory_stats") else None
        if stats and stats.get("bytes_limit"):
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def estimate_memory(model, num_rates, optimizer=None):
    """Bytes a sweep of `num_rates` copies of `model` holds: K times its
    weights (trainable and not), its optimizer state and its metrics.

    Activations come on top (one batch per copy at a time).

    Args:
        model: A built Keras model.
        num_rates: Integer >= 1, the number of learning rates (copies).
        optimizer: A built optimizer (default: the model's).

    Returns:
        The estimate in bytes (int).
    """
    from keras_lr import _validation

    _validation.require_type("model", model, keras.Model, "a built `keras.Model`")
    num_rates = _validation.require_int("num_rates", num_rates, minimum=1)
    if optimizer is not None:
        _validation.require_type("optimizer", optimizer, keras.optimizers.Optimizer,
                                 "None or a built Keras optimizer")
    optimizer = optimizer or model.optimizer
    per_copy = (_nbytes(model.trainable_variables) + _nbytes(model.non_trainable_variables)
                + (_nbytes(optimizer.variables) if optimizer is not None else 0)
                + _nbytes(model.metrics_variables))
    return int(num_rates) * per_copy


def _failing_layer(error):
    """The innermost Keras layer (not the model) in `error`'s traceback."""
    found = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.layers.Layer) and not isinstance(owner, keras.Model):
            found = owner
    return found


def _raise_unvectorizable(error):
    layer = _failing_layer(error)
    if layer is None:
        raise error
    raise ValueError(
        f"sweep could not run the layer '{layer.name}' ({type(layer).__name__}) for "
        f"K copies at once on the {keras.backend.backend()} backend: "
        f"{type(error).__name__}: {error}") from error


def _initial_weights(model, model_state, seeds, k):
    if seeds is None:
        return model_state
    keras.utils.set_random_seed(int(seeds[k]))
    clone = keras.models.clone_model(model)
    if not clone.built:
        clone.build(model.inputs[0].shape if getattr(model, "inputs", None) else None)
    return ([np.array(v) for v in clone.trainable_variables],
            [np.array(v) for v in clone.non_trainable_variables])


def _size(batch):
    leaves = keras.tree.flatten(batch)
    return len(leaves[0]) if leaves else 0


class Copies:
    """K copies of a compiled model, one learning rate each (arguments
    checked by the caller, `keras_lr.sweep`).

    Attributes:
        rates: The learning rates, one per copy.
        active: Indices (into `rates`) of the copies still trained.
        histories: One history dict per rate; a dropped copy's lists get
            NaN from the epoch it was dropped.
        diverged_at: The step each copy diverged at, or None.
        dropped_at: The step each copy was dropped at (`keep`), or None.
        step: Steps trained so far.
    """

    def __init__(self, model, rates, x, y, sample_weight, *, batch_size, shuffle,
                 shuffle_seed, seeds, schedule, shape, divergence_threshold, smoothing,
                 memory_limit):
        self.model = model
        self.rates = list(rates)
        self._data = (x, y, sample_weight, batch_size, shuffle)
        self._rng = np.random.default_rng(shuffle_seed)
        self._schedule = schedule
        first = next(_data.batches(x, y, sample_weight, batch_size, False, None), None)
        if first is None:
            raise ValueError(f"Argument `x` gives no batch to train on. Received: x={x!r}")
        if not model.built or keras_private.compiled_metrics(model) is None or not getattr(
                model.optimizer, "built", False):
            keras_private.symbolic_build(model, first if sample_weight is not None else first[:2])
        self._config = keras_private.compile_arguments(model)
        base = innermost_optimizer(model.optimizer)
        self._base_class, self._optimizer_config = type(base), base.get_config()
        optimizer = self._make_optimizer(1.0)
        optimizer.build(model.trainable_variables)
        scale = optimizer.add_variable((), initializer="ones", name="sweep_lr_scale")
        keras_private.set_learning_rate_slot(optimizer, _ScaledSchedule(shape, scale))
        self._check_memory(optimizer, memory_limit)
        metrics = keras_private.compiled_metrics(model)
        self.metrics = metrics if metrics is not None and metrics.variables else None
        self._initial_metrics = ([np.array(v) for v in self.metrics.variables]
                                 if self.metrics else [])
        states = self._states(optimizer, scale, seeds)

        def make_optimizer(k):
            return self._make_optimizer(_ScaledSchedule(shape, self.rates[k]))

        self._runner = make_runner(model, optimizer, make_optimizer, states,
                                   divergence_threshold, smoothing)
        self.active = list(range(len(self.rates)))
        self.histories = [dict() for _ in self.rates]
        self.diverged_at = [None] * len(self.rates)
        self.dropped_at = [None] * len(self.rates)
        self.step = 0
        self._epochs = 0
        self._stream = None

    # ---- making the copies ----
    def _make_optimizer(self, learning_rate):
        return self._base_class.from_config(
            {**self._optimizer_config, "learning_rate": learning_rate})

    def _check_memory(self, optimizer, memory_limit):
        limit = memory_limit
        if limit is None:
            available = _available_memory()
            limit = None if available is None else available // 2
        needed = estimate_memory(self.model, len(self.rates), optimizer)
        if limit is not None and needed > limit:
            raise ValueError(
                f"sweep of {len(self.rates)} learning rates needs about {needed / 2**20:.1f} "
                f"MiB (K copies of the weights, optimizer state and metrics: "
                f"{needed / len(self.rates) / 2**20:.2f} MiB each), more than the "
                f"{limit / 2**20:.1f} MiB allowed (`memory_limit`, default half the memory "
                "available). Sweep fewer learning rates at once.")

    def _states(self, optimizer, scale, seeds):
        model = self.model
        model_state = ([np.array(v) for v in model.trainable_variables],
                       [np.array(v) for v in model.non_trainable_variables])
        index = [i for i, v in enumerate(optimizer.variables) if v is scale][0]
        optimizer_state = [np.array(v) for v in optimizer.variables]
        seed_paths = [i for i, v in enumerate(model.non_trainable_variables)
                      if "seed_generator_state" in v.path]
        states = []
        for k, lr in enumerate(self.rates):
            trainable, non_trainable = _initial_weights(model, model_state, seeds, k)
            non_trainable = [np.array(v) for v in non_trainable]
            for i in seed_paths:  # an independent random stream per copy
                non_trainable[i] = non_trainable[i] + np.array(
                    [k * 1_000_003, 0], dtype=non_trainable[i].dtype)
            opt = list(optimizer_state)
            opt[index] = np.asarray(lr, "float32")
            guard = [np.float32(1.0)] + [np.float32(0.0)] * 4  # alive, ema, best, first, count
            states.append([list(trainable), non_trainable, opt, list(self._initial_metrics),
                           guard])
        return states

    # ---- training ----
    def alive(self):
        """Whether each active copy is still healthy (not diverged)."""
        return self._runner.alive()

    def _epoch_batches(self):
        x, y, sample_weight, batch_size, shuffle = self._data
        return _data.batches(x, y, sample_weight, batch_size, shuffle, self._rng)

    def train_epoch(self):
        """One pass over the training data; records the epoch's history."""
        self._runner.reset_metrics(self._initial_metrics)
        totals = np.zeros(len(self.active))
        counts = np.zeros(len(self.active))
        for batch in self._epoch_batches():
            self._train_batch(batch, totals, counts)
        self._record_epoch(totals, counts)

    def train_steps(self, steps):
        """`steps` more steps, across epoch boundaries (each full epoch is
        recorded in the histories)."""
        end = self.step + steps
        while self.step < end:
            if self._stream is None:
                self._runner.reset_metrics(self._initial_metrics)
                self._stream = self._epoch_batches()
                self._totals = np.zeros(len(self.active))
                self._counts = np.zeros(len(self.active))
            batch = next(self._stream, None)
            if batch is None:
                self._record_epoch(self._totals, self._counts)
                self._stream = None
                continue
            self._train_batch(batch, self._totals, self._counts)
        if self._stream is not None and self.step % self._steps_per_epoch() == 0:
            # The epoch's last batch was just trained: close it now.
            self._record_epoch(self._totals, self._counts)
            self._stream = None

    def _steps_per_epoch(self):
        if getattr(self, "_epoch_steps", None) is None:
            self._epoch_steps = sum(1 for _ in self._epoch_batches_unshuffled())
        return self._epoch_steps

    def _epoch_batches_unshuffled(self):
        x, y, sample_weight, batch_size, _ = self._data
        return _data.batches(x, y, sample_weight, batch_size, False, None)

    def _train_batch(self, batch, totals, counts):
        bx, by, bw = batch
        alive_before = self._runner.alive()
        try:
            losses = self._runner.train(bx, by, bw)
        except Exception as e:  # noqa: BLE001  (named and re-raised)
            if self.step == 0:
                _raise_unvectorizable(e)
            raise
        alive = self._runner.alive()
        totals += np.where(alive, losses, 0.0) * _size(bx)
        counts += _size(bx)
        for position in np.nonzero(alive_before & ~alive)[0]:
            self.diverged_at[self.active[position]] = self.step
        self.step += 1

    def _record_epoch(self, totals, counts):
        alive = self._runner.alive()
        self._epochs += 1
        for position, k in enumerate(self.active):
            history = self.histories[k]
            ok = alive[position]
            history.setdefault("loss", []).append(
                float(totals[position] / counts[position]) if ok and counts[position]
                else math.nan)
            if self.metrics is not None:
                values = self.metrics.stateless_result(self._runner.metrics_of(
                    self._runner.metric_states(), position))
                for name, value in values.items():
                    history.setdefault(name, []).append(
                        float(keras.ops.convert_to_numpy(value)) if ok else math.nan)
        self._pad()

    def _pad(self):
        """NaN for the dropped copies, so every history has one value an epoch."""
        length = self._epochs
        for history in self.histories:
            for values in history.values():
                values.extend([math.nan] * (length - len(values)))

    # ---- scoring and dropping ----
    def validate(self, validation_data, record=True):
        """Scores every active copy on `validation_data`; returns `{name:
        array}` over the active copies (`val_loss`, `val_<metric>`) and,
        with `record`, appends them to the histories."""
        x, y, sample_weight, batch_size, _ = self._data
        if _data.is_batched(validation_data):
            xv, yv, wv = validation_data, None, None
        else:
            xv, yv = validation_data[0], validation_data[1]
            wv = validation_data[2] if len(validation_data) > 2 else None
        state = self._runner.fresh_metrics(self._initial_metrics)
        totals, count = np.zeros(len(self.active)), 0
        for bx, by, bw in _data.batches(xv, yv, wv, batch_size, False, None):
            losses, state = self._runner.evaluate(state, bx, by, bw)
            n = _size(by)
            totals += losses * n
            count += n
        alive = self._runner.alive()
        scores = {"val_loss": np.where(alive, totals / max(count, 1), np.nan)}
        if self.metrics is not None:
            per_copy = [self.metrics.stateless_result(self._runner.metrics_of(state, p))
                        for p in range(len(self.active))]
            for name in per_copy[0] if per_copy else ():
                values = [float(keras.ops.convert_to_numpy(v[name])) for v in per_copy]
                scores[f"val_{name}"] = np.where(alive, values, np.nan)
        if record and self._epochs:
            for name, values in scores.items():
                for position, k in enumerate(self.active):
                    history = self.histories[k].setdefault(name, [])
                    history.extend([math.nan] * (self._epochs - len(history)))
                    history[self._epochs - 1] = float(values[position])  # this epoch's
            self._pad()
        return scores

    def keep(self, indices):
        """Trains only the copies of `indices` (into `rates`) from now on."""
        indices = [k for k in self.active if k in set(indices)]
        positions = [self.active.index(k) for k in indices]
        for k in self.active:
            if k not in indices and self.dropped_at[k] is None:
                self.dropped_at[k] = self.step
        self._runner.keep(positions)
        if self._stream is not None:
            self._totals, self._counts = self._totals[positions], self._counts[positions]
        self.active = indices

    # ---- the result ----
    def _weights_of(self, k):
        if k not in self.active:
            raise ValueError(
                f"The copy at learning rate {self.rates[k]:.3g} was dropped at step "
                f"{self.dropped_at[k]} (successive halving): its weights were not kept.")
        position = self.active.index(k)
        trainable, non_trainable = self._runner.copy(position, 0), self._runner.copy(position, 1)
        model = self.model
        values = {id(v): t for v, t in zip(model.trainable_variables, trainable)}
        values.update({id(v): t for v, t in zip(model.non_trainable_variables, non_trainable)})
        return [values[id(v)] for v in model.weights]

    def _export(self, k):
        clone = keras.models.clone_model(self.model)
        clone.set_weights(self._weights_of(k))
        lr = self.rates[k] if self._schedule is None else self._schedule(self.rates[k])
        arguments = dict(self._config)
        arguments["optimizer"] = self._make_optimizer(lr)
        clone.compile(**arguments)
        return clone

    def result(self):
        directions = {}
        if self.metrics is not None:
            for name in self.histories[0]:
                direction = keras_private.metric_direction(self.model, name)
                if direction is not None:
                    directions[name] = "max" if direction == "up" else "min"
        return SweepResult(self.rates, self.histories, self.diverged_at, directions,
                           exporter=self._export, weights=self._weights_of,
                           dropped_at=self.dropped_at)
