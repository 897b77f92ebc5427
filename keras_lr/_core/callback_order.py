"""Where a callback stands among the callbacks of the running `fit`.

`keras.callbacks.BackupAndRestore` and `ModelCheckpoint` save the state as it
is when their own hook runs. A callback listed after them changes its state
after the save, so a run resumed from that save differs from one that was
never interrupted. keras-lr's stateful callbacks refuse that position with a
clear error at the start of training (`require_before_savers`).
"""

import keras

from keras_lr._core import keras_private

__all__ = ["SAVERS", "require_before_savers", "unique_name"]

SAVERS = (keras.callbacks.BackupAndRestore, keras.callbacks.ModelCheckpoint)


def require_before_savers(callback):
    """Raises `ValueError` if `callback` stands after a saving callback."""
    callbacks = keras_private.calling_callback_list(callback)
    if callbacks is None:
        return
    for other in callbacks.callbacks:
        if other is callback:
            return
        if isinstance(other, SAVERS):
            name = type(callback).__name__
            raise ValueError(
                f"`{name}` must stand before `{type(other).__name__}` in the "
                f"`callbacks` list: `{type(other).__name__}` saves the training "
                f"state before `{name}` has updated it for the same epoch or "
                "batch, so a run resumed from that save would not continue as "
                f"the uninterrupted run. Use e.g. `callbacks=[{name}(...), "
                f"{type(other).__name__}(...)]`.")


def unique_name(callback, base, same):
    """`base`, or `base_k` for the k-th earlier callback of the running
    `fit` for which `same(other)` holds."""
    callbacks = keras_private.calling_callback_list(callback)
    if callbacks is None:
        return base
    count = 0
    for other in callbacks.callbacks:
        if other is callback:
            break
        if same(other):
            count += 1
    return base if count == 0 else f"{base}_{count}"
