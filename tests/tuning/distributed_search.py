"""The search every process of the distributed test runs (chief or worker).

`python -m keras_lr.tuning.launch --workers 2 -- python distributed_search.py DIR`
"""

import json
import os
import sys


def make_tuner(directory):
    """The tuner every process builds (and the test, to read the results)."""
    import keras

    from keras_lr.tuning import CoarseToFine
    from keras_lr.tuning import LRHyperModel

    def build_model(hp):
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dense(10)])

    hypermodel = LRHyperModel(
        build_model, optimizer="sgd", min_lr=1e-3, max_lr=10.0, schedules=("constant",),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    return CoarseToFine(hypermodel, objective="val_accuracy", max_trials=7,
                        directory=directory, project_name="search")


def main(directory):
    import keras

    from tests.digits import load_digits

    tuner_id = os.environ["KERASTUNER_TUNER_ID"]

    class Record(keras.callbacks.Callback):
        """Writes which process trained which LR, on which device."""

        def on_train_end(self, logs=None):
            lr = float(self.model.optimizer.learning_rate)
            with open(os.path.join(directory, f"ran_{tuner_id}.jsonl"), "a") as f:
                f.write(json.dumps({"lr": lr, "pid": os.getpid(), "device": device()}) + "\n")

    def device():
        if keras.backend.backend() == "jax":
            import jax

            return str(jax.devices()[0])
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return gpus[0].name if gpus else "CPU"

    tuner = make_tuner(directory)
    x, y = load_digits()
    tuner.search(x[:400], y[:400], validation_data=(x[400:600], y[400:600]), epochs=2,
                 batch_size=32, verbose=0, callbacks=[Record()])


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    main(sys.argv[1])
