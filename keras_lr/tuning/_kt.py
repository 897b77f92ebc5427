"""keras-tuner, imported lazily (``import keras_lr`` does not import it)."""

from keras_lr._optional import import_optional

kt = import_optional("keras_tuner", "keras_lr.tuning")
errors = import_optional("keras_tuner.errors", "keras_lr.tuning")
TrialStatus = kt.engine.trial.TrialStatus
