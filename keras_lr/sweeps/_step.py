"""The compiled steps of a sweep: K copies of a model trained at once.

One copy's state is `(trainable, non_trainable, optimizer, metrics, guard)`,
lists of tensors; the forward pass, loss and metrics of one copy are written
once with Keras's stateless API (`model.stateless_call`,
`stateless_compute_loss`, the compiled metrics' `stateless_update_state`)
and run for the K copies by a backend runner: on JAX `jax.vmap` of the whole
step (with `optimizer.stateless_apply`) under one `jax.jit`; on TensorFlow one
`tf.function` graph holding the K copies, each with its own optimizer; on
PyTorch the same per-copy step, eagerly.
"""

import keras
import numpy as np
from keras import ops

from keras_lr._core import keras_private

__all__ = ["finite_gradients", "make_runner"]


def finite_gradients(grads):
    """A boolean scalar: every gradient is finite (a NaN or inf input row can
    give NaN gradients at a finite loss: oneDNN's ReLU maps NaN to 0)."""
    grads = [g for g in grads if g is not None]
    if not grads:
        return ops.convert_to_tensor(True)
    return ops.all(ops.stack([ops.all(ops.isfinite(g)) for g in grads]))


def _guard_step(guard, loss, threshold, smoothing, gradients_finite=True):
    """The divergence rule of `DivergenceGuard`, per step: `(healthy, guard)`.

    `guard = [alive, ema, best, first, count]`: a copy has diverged when its
    loss or a gradient is not finite, or (with a `threshold`) when the
    bias-corrected moving average of its loss rises above
    `best + (threshold - 1) * max(|best|, 0.01 * |first|)`.
    """
    alive, ema, best, first, count = guard
    loss = ops.cast(loss, "float32")
    finite = ops.logical_and(ops.isfinite(loss), gradients_finite)
    safe = ops.where(finite, loss, 0.0)
    new_count = count + 1.0
    new_ema = smoothing * ema + (1.0 - smoothing) * safe
    smoothed = new_ema / (1.0 - ops.power(smoothing, new_count))
    started = count > 0.0
    new_first = ops.where(started, first, safe)
    healthy = finite
    if threshold is not None:
        limit = best + (threshold - 1.0) * ops.maximum(ops.abs(best), 0.01 * ops.abs(new_first))
        healthy = ops.logical_and(healthy, ops.logical_not(
            ops.logical_and(started, smoothed > limit)))
    new_best = ops.where(started, ops.minimum(best, smoothed), smoothed)
    live = ops.logical_and(alive > 0.5, healthy)

    def keep(new, old):
        return ops.where(live, new, old)

    return live, [ops.cast(live, "float32"), keep(new_ema, ema), keep(new_best, best),
                  keep(new_first, first), keep(new_count, count)]


class _Steps:
    """The per-copy step functions of one model and optimizer."""

    def __init__(self, model, optimizer, threshold, smoothing):
        self.model = model
        self.optimizer = optimizer
        self.threshold = threshold
        self.smoothing = smoothing
        self.metrics = keras_private.compiled_metrics(model)
        self.loss_metrics = [v.value for v in model.metrics_variables]

    def forward(self, trainable, non_trainable, x, y, sample_weight, training):
        y_pred, non_trainable = self.model.stateless_call(
            trainable, non_trainable, x, training=training)
        loss, _ = self.model.stateless_compute_loss(
            trainable, non_trainable, self.loss_metrics, x=x, y=y, y_pred=y_pred,
            sample_weight=sample_weight, training=training)
        return loss, (non_trainable, y_pred)

    def update_metrics(self, metrics, y, y_pred, sample_weight):
        if self.metrics is None or not metrics:
            return metrics
        return list(self.metrics.stateless_update_state(metrics, y, y_pred, sample_weight))

    def apply(self, state, loss, grads, non_trainable, y, y_pred, sample_weight):
        trainable, old_non_trainable, optimizer_state, metrics, guard = state
        new_trainable, new_optimizer = self.optimizer.stateless_apply(
            optimizer_state, grads, trainable)
        live, guard = _guard_step(guard, loss, self.threshold, self.smoothing,
                                  finite_gradients(grads))
        new_metrics = self.update_metrics(metrics, y, y_pred, sample_weight)

        def keep(new, old):
            return [ops.where(live, n, o) for n, o in zip(new, old)]

        return [keep(new_trainable, trainable), keep(non_trainable, old_non_trainable),
                keep(new_optimizer, optimizer_state), keep(new_metrics, metrics), guard], loss

    def evaluate(self, state, metrics, x, y, sample_weight):
        trainable, non_trainable = state[0], state[1]
        loss, (_, y_pred) = self.forward(trainable, non_trainable, x, y, sample_weight,
                                         training=False)
        return loss, self.update_metrics(metrics, y, y_pred, sample_weight)


class _JaxRunner:
    """K stacked copies, `jax.vmap` under one `jax.jit`."""

    def __init__(self, steps, states):
        import jax
        import jax.numpy as jnp

        self._jax = jax
        self.states = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)

        def train_one(state, x, y, sample_weight):
            def loss_fn(trainable):
                return steps.forward(trainable, state[1], x, y, sample_weight, training=True)

            (loss, (non_trainable, y_pred)), grads = jax.value_and_grad(
                loss_fn, has_aux=True)(state[0])
            return steps.apply(state, loss, grads, non_trainable, y, y_pred, sample_weight)

        self._train = jax.jit(jax.vmap(train_one, in_axes=(0, None, None, None)),
                              donate_argnums=0)
        self._evaluate = jax.jit(jax.vmap(steps.evaluate, in_axes=(0, 0, None, None, None)))

    def train(self, x, y, sample_weight):
        self.states, losses = self._train(self.states, x, y, sample_weight)
        return np.asarray(losses)

    def evaluate(self, metrics, x, y, sample_weight):
        losses, metrics = self._evaluate(self.states, metrics, x, y, sample_weight)
        return np.asarray(losses), metrics

    def stack(self, states):
        import jax.numpy as jnp

        return self._jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)

    def copy(self, k, part):
        return [np.asarray(leaf[k]) for leaf in self.states[part]]

    def alive(self):
        return np.asarray(self.states[4][0]) > 0.5

    def metrics_of(self, metrics, k):
        return [leaf[k] for leaf in metrics]

    def metric_states(self):
        return self.states[3]

    def fresh_metrics(self, initial):
        return self.stack([list(initial)] * len(self.states[4][0]))

    def reset_metrics(self, initial):
        states = list(self.states)
        states[3] = self.fresh_metrics(initial)
        self.states = states

    def keep(self, positions):
        """Drops every copy but those at `positions` (in that order): the
        next steps compute only them (the step is traced again for the new
        number of copies)."""
        import jax.numpy as jnp

        index = jnp.asarray(np.asarray(positions, dtype="int32"))
        self.states = self._jax.tree.map(lambda leaf: jnp.take(leaf, index, axis=0),
                                         self.states)


class _TensorFlowBackend:
    """What the per-copy runner needs from TensorFlow: one `tf.function`
    graph for the K copies (no autograph; XLA measured slower on CPU)."""

    def __init__(self):
        import tensorflow as tf

        self.tf = tf

    def read(self, variables):
        return [self.tf.convert_to_tensor(v) for v in variables]

    def gradients(self, forward, trainable):
        with self.tf.GradientTape() as tape:
            tape.watch(trainable)
            loss, aux = forward(trainable)
        return loss, aux, tape.gradient(loss, trainable)

    def after(self, tensors):
        return self.tf.control_dependencies(tensors)

    def compile(self, function):
        return self.tf.function(function, reduce_retracing=True, autograph=False)


class _TorchBackend:
    """What the per-copy runner needs from PyTorch: autograd, eager steps."""

    def __init__(self):
        import torch

        self.torch = torch

    def read(self, variables):
        return [ops.convert_to_tensor(v).detach().clone() for v in variables]

    def gradients(self, forward, trainable):
        leaves = [t.detach().requires_grad_(True) for t in trainable]
        loss, aux = forward(leaves)
        grads = self.torch.autograd.grad(loss, leaves, allow_unused=True)
        grads = [self.torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves)]
        detach = lambda t: t.detach() if hasattr(t, "detach") else t  # noqa: E731
        return detach(loss), keras.tree.map_structure(detach, aux), grads

    def after(self, tensors):
        import contextlib

        return contextlib.nullcontext()

    def compile(self, function):
        return function


class _PerCopyRunner:
    """K copies, each with its weights, optimizer (built on them) and
    metrics in variables of its own, stepped together: on TensorFlow in one
    `tf.function` graph (TensorFlow's optimizers have no stateless update;
    the copies' independent ops run in parallel on its inter-op threads), on
    PyTorch eagerly, one after the other in the same step."""

    def __init__(self, steps, states, make_optimizer, backend):
        def variables(values, trainable, like=None):
            out = []
            for i, value in enumerate(values):
                name = None if like is None else like[i].name
                out.append(keras.Variable(value, trainable=trainable, name=name,
                                          dtype=keras.backend.standardize_dtype(value.dtype)))
            return out

        model = steps.model
        self._backend = backend
        self._copies = []
        for k, (trainable, non_trainable, _, metrics, guard) in enumerate(states):
            weights = variables(trainable, True, model.trainable_variables)
            optimizer = make_optimizer(k)
            optimizer.build(weights)
            self._copies.append(dict(
                trainable=weights,
                non_trainable=variables(non_trainable, False, model.non_trainable_variables),
                optimizer=optimizer, metrics=variables(metrics, False),
                guard=variables(guard, False)))
        read = backend.read

        def train_one(copy, x, y, sample_weight):
            non_trainable_in = read(copy["non_trainable"])

            def forward(trainable):
                return steps.forward(trainable, non_trainable_in, x, y, sample_weight,
                                     training=True)

            loss, (non_trainable, y_pred), grads = backend.gradients(
                forward, read(copy["trainable"]))
            live, guard = _guard_step(read(copy["guard"]), loss, steps.threshold,
                                      steps.smoothing, finite_gradients(grads))
            metrics = steps.update_metrics(read(copy["metrics"]), y, y_pred, sample_weight)
            # The update, then kept only for a live copy (as the JAX runner's
            # `where`; a `tf.cond` around it measured no faster).
            optimizer = copy["optimizer"]
            held = copy["trainable"] + list(optimizer.variables)
            before = read(held)
            with backend.after(before):
                optimizer.apply(grads, copy["trainable"])
            for variable, new, old in zip(held, read(held), before):
                variable.assign(ops.where(live, new, old))
            for variable, value, old in zip(copy["non_trainable"], non_trainable,
                                            non_trainable_in):
                variable.assign(ops.where(live, value, old))
            for variable, value, old in zip(copy["metrics"], metrics, read(copy["metrics"])):
                variable.assign(ops.where(live, value, old))
            for variable, value in zip(copy["guard"], guard):
                variable.assign(value)
            return loss

        def train_all(x, y, sample_weight):
            losses = ops.stack([ops.cast(train_one(c, x, y, sample_weight), "float32")
                                for c in self._copies])
            return losses, ops.stack([read(c["guard"][:1])[0] for c in self._copies])

        def evaluate_all(metrics, x, y, sample_weight):
            out = [steps.evaluate([read(c["trainable"]), read(c["non_trainable"])], m, x, y,
                                  sample_weight) for c, m in zip(self._copies, metrics)]
            return ops.stack([ops.cast(o[0], "float32") for o in out]), [o[1] for o in out]

        self._functions = (train_all, evaluate_all)
        self._train = backend.compile(train_all)
        self._evaluate = backend.compile(evaluate_all)
        self._alive = np.ones(len(self._copies), bool)

    def keep(self, positions):
        """Drops every copy but those at `positions` (in that order); the
        step is compiled again for the copies left."""
        positions = list(positions)
        self._copies = [self._copies[i] for i in positions]
        self._alive = self._alive[positions]
        train_all, evaluate_all = self._functions
        self._train = self._backend.compile(train_all)
        self._evaluate = self._backend.compile(evaluate_all)

    def train(self, x, y, sample_weight):
        losses, alive = self._train(x, y, sample_weight)
        self._alive = ops.convert_to_numpy(alive) > 0.5
        return ops.convert_to_numpy(losses)

    def evaluate(self, metrics, x, y, sample_weight):
        losses, metrics = self._evaluate(metrics, x, y, sample_weight)
        return ops.convert_to_numpy(losses), metrics

    def copy(self, k, part):
        key = ("trainable", "non_trainable")[part]
        return [np.array(v) for v in self._copies[k][key]]

    def alive(self):
        return self._alive

    def metrics_of(self, metrics, k):
        return metrics[k]

    def metric_states(self):
        return [[np.array(v) for v in c["metrics"]] for c in self._copies]

    def fresh_metrics(self, initial):
        return [list(initial) for _ in self._copies]

    def reset_metrics(self, initial):
        for c in self._copies:
            for variable, value in zip(c["metrics"], initial):
                variable.assign(value)


def make_runner(model, optimizer, make_optimizer, states, threshold, smoothing):
    """The runner of the K copies' `states` on the current backend
    (`optimizer`: the stateless one of all copies, JAX; `make_optimizer(k)`:
    copy k's own, TensorFlow and PyTorch)."""
    steps = _Steps(model, optimizer, threshold, smoothing)
    backend = keras.backend.backend()
    if backend == "jax":
        return _JaxRunner(steps, states)
    if backend == "tensorflow":
        return _PerCopyRunner(steps, states, make_optimizer, _TensorFlowBackend())
    if backend == "torch":
        return _PerCopyRunner(steps, states, make_optimizer, _TorchBackend())
    raise ValueError(f"keras_lr.sweep does not run on the {backend} backend.")
