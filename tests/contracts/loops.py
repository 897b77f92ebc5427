"""The contract's other ways to train: a custom loop, and a saved model
continued in a fresh process (`python -m tests.contracts.loops MANIFEST OUT`).
"""

import json
import sys

import keras
import numpy as np

from tests.contracts import harness

__all__ = ["custom_loop", "read_traces"]


def _value_and_grads(model, x, y, sample_weight):
    """The batch loss (as `compile(loss="mse")` computes it) and the
    gradients of the trainable variables, the backend's own way (Keras's
    guides "Writing a training loop from scratch")."""
    loss_fn = keras.losses.MeanSquaredError()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True), sample_weight=sample_weight)
        return loss, tape.gradient(loss, model.trainable_variables)
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def compute(values):
            y_pred, _ = model.stateless_call(values, non_trainable, x, training=True)
            return loss_fn(y, y_pred, sample_weight=sample_weight)

        loss, grads = jax.value_and_grad(compute)(trainable)
        return loss, grads
    if backend == "torch":
        import torch

        model.zero_grad()
        x = torch.as_tensor(x)
        loss = loss_fn(torch.as_tensor(y), model(x, training=True),
                       sample_weight=None if sample_weight is None
                       else torch.as_tensor(sample_weight))
        loss.backward()
        grads = [v.value.grad for v in model.trainable_variables]
        with torch.no_grad():
            return loss.detach(), grads
    raise ValueError(backend)


def custom_loop(model, callbacks, epochs=harness.EPOCHS, bad=None):
    """Keras's guide's loop: the callbacks driven through
    `keras.callbacks.CallbackList(callbacks, model=model)` (which sets no
    `params`); each batch's own loss in the batch logs, the epoch's mean
    loss in the epoch logs; it stops when `model.stop_training` is set after
    a batch, as `fit` does."""
    x, y, sample_weight = harness.make_data(bad)
    callbacks = keras.callbacks.CallbackList(callbacks, model=model)
    model.stop_training = False
    logs = {}
    callbacks.on_train_begin(logs)
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch, logs)
        losses = []
        for step in range(harness.STEPS):
            rows = slice(step * harness.BATCH, (step + 1) * harness.BATCH)
            callbacks.on_train_batch_begin(step, {})
            loss, grads = _value_and_grads(
                model, x[rows], y[rows], None if sample_weight is None else sample_weight[rows])
            model.optimizer.apply(grads, model.trainable_variables)
            loss = float(keras.ops.convert_to_numpy(loss))
            losses.append(loss)
            callbacks.on_train_batch_end(step, {"loss": loss})
            if model.stop_training:  # as `fit`: the finder and the guard set it
                break
        logs = {"loss": float(np.mean(losses))}
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callbacks.on_train_end(logs)


# ---- the fresh process ----------------------------------------------------------------------

def _jsonable(epochs):
    out = {}
    for epoch, record in epochs.items():
        out[str(epoch)] = {
            "weights": [w.tolist() for w in record["weights"]],
            "rates": record["rates"],
            "logs": record["logs"],
            **({"state": record["state"]} if "state" in record else {}),
        }
    return out


def read_traces(path):
    with open(path) as f:
        data = json.load(f)
    traces = {}
    for case_id, epochs in data.items():
        traces[case_id] = {
            int(epoch): {
                "weights": [np.asarray(w, dtype="float64") for w in record["weights"]],
                "rates": record["rates"],
                "logs": record["logs"],
                **({"state": record["state"]} if "state" in record else {}),
            }
            for epoch, record in epochs.items()
        }
    return traces


def continue_saved(manifest_path, output_path):
    import keras_lr  # noqa: F401  (registers keras-lr's classes, as the docs say)
    from tests.contracts.registry import BY_NAME

    with open(manifest_path) as f:
        manifest = json.load(f)
    traces = {}
    for item in manifest:
        entry = BY_NAME[item["entry"]]
        # Keras compiles a loaded model's optimizer by the global dtype policy:
        # a mixed_float16 model needs it set before the load, or Keras drops
        # the optimizer's state (its LossScaleOptimizer variables), with a
        # warning. keras-lr documents it (docs/guarantees.md).
        keras.config.set_dtype_policy(
            "mixed_float16" if item["execution"] == "mixed_float16" else "float32")
        model = keras.saving.load_model(item["path"])
        component = entry.callback()
        observer = harness.Observer(component, entry.state)
        harness.fit(model, entry.callbacks(component) + [observer],
                    initial_epoch=harness.CRASH_EPOCH + 1)
        traces[item["id"]] = _jsonable(observer.epochs)
    with open(output_path, "w") as f:
        json.dump(traces, f)


if __name__ == "__main__":
    continue_saved(sys.argv[1], sys.argv[2])
