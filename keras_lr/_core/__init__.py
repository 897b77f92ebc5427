"""The ground floor of keras-lr: what every feature stands on.

- `keras_private`: the one module that touches private Keras and keras-tuner
  names (checked by `tests/test_keras_private.py`);
- `schedule_base`: the schedule base class and nested-schedule helpers;
- `learning_rate`: `LearningRate`, the one owner of an optimizer's learning
  rate (find, read, scale, swap), and `ControlledSchedule`;
- `snapshot`: `TrainingState`, a bit-exact snapshot of a training run;
- `batch_loss`: `RecentLoss`, the loss of the recent batches, and
  `DivergenceRule`, the one divergence test;
- `callback_state`: `CallbackState`, the variables one callback owns;
- `callback_order`: where a callback stands among `fit`'s callbacks.

Nothing here imports a higher floor (schedules, finder, callbacks,
optimizers, tuning).
"""
