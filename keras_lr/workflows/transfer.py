"""`keras_lr.fine_tune`: fastai's transfer-learning recipe in one call."""

import keras

from keras_lr import _validation
from keras_lr._core import keras_private
from keras_lr.finder import LRFinderResult
from keras_lr.optimizers import discriminative
from keras_lr.optimizers.layer_groups import split_layers
from keras_lr.optimizers.layer_groups import weighted_layers
from keras_lr.workflows.one_cycle import check_fit_arguments
from keras_lr.workflows.one_cycle import fit_one_cycle

__all__ = ["backbone_groups", "fine_tune"]


def _find_backbone(model, backbone):
    _validation.require_type("model", model, keras.Model, "a built `keras.Model`")
    if isinstance(backbone, str):
        for layer in [model, *keras_private.flatten_layers(model)]:
            if layer.name == backbone:
                return layer
        raise ValueError(
            f"Argument `backbone` names no layer of the model: {backbone!r}. "
            f"Top-level layers: {[layer.name for layer in model.layers]}")
    _validation.require_type("backbone", backbone, keras.layers.Layer,
                             "a layer or nested model of `model`, or its name")
    if all(backbone is not layer
           for layer in keras_private.flatten_layers(model)):
        raise ValueError(
            f"Argument `backbone` is not a layer of the model: {backbone.name!r}. "
            f"Top-level layers: {[layer.name for layer in model.layers]}")
    return backbone


def _trainable_flags(backbone):
    """A function that puts back the `trainable` flag of `backbone` and of
    every layer inside it as they are now. Setting `trainable` on a model
    sets it on every layer inside, so each layer's own flag is put back,
    outermost first: a non-trainable BatchNormalization inside a trainable
    backbone stays non-trainable."""
    layers = [backbone, *keras_private.flatten_layers(backbone)]
    flags = [layer.trainable for layer in layers]

    def restore():
        for layer, trainable in zip(layers, flags):
            layer.trainable = trainable
    return restore


def backbone_groups(model, backbone, groups=3):
    """Layer groups for discriminative LRs: the backbone cut into
    `groups - 1` groups of equal depth, bottom first, then the head (every
    other layer with weights).

    Args:
        model: A built `keras.Model` containing `backbone`.
        backbone: The backbone: a layer or nested model of `model`, or its
            name.
        groups: Integer >= 2. Defaults to `3`.

    Returns:
        A list of lists of layers, for `discriminative(model, lr_range,
            groups=...)`.

    Raises:
        ValueError: if the backbone is not in the model, has too few layers
            with weights, or the model has no weights outside it.
    """
    backbone = _find_backbone(model, backbone)
    groups = _validation.require_int("groups", groups, minimum=2)
    restore = _trainable_flags(backbone)
    backbone.trainable = True  # its weights count as trainable while grouping
    try:
        body = weighted_layers(backbone)
        inside = {id(layer) for layer in body}
        head = [layer for layer in weighted_layers(model) if id(layer) not in inside]
    finally:
        restore()
    if len(body) < groups - 1:
        raise ValueError(
            f"Argument `groups` must be at most 1 + the {len(body)} layers with "
            f"weights in the backbone. Received: groups={groups!r}")
    if not head:
        raise ValueError(
            "The model has no trainable weights outside the backbone: fine_tune "
            "trains a head on top of it (add one, e.g. a `Dense` layer).")
    return split_layers(body, groups - 1) + [head]


def fine_tune(model, x=None, y=None, *, backbone, epochs, freeze_epochs=1, base_lr=None,
              lr_mult=100.0, groups=3, pct_start=0.3, div_factor=5.0, batch_size=None,
              steps_per_epoch=None, validation_split=0.0, validation_data=None,
              find_lr_kwargs=None, callbacks=None, verbose="auto", **fit_kwargs):
    """Fine-tunes a model around a backbone, as fastai's `Learner.fine_tune`.

    1. **Frozen**: `backbone.trainable = False`; the head trains for
       `freeze_epochs` one-cycle epochs (`fit_one_cycle`, `pct_start=0.99`)
       at `base_lr`.
    2. **Unfrozen**: `backbone.trainable = True`; everything trains for
       `epochs` one-cycle epochs peaking at `base_lr / 2`, with
       discriminative learning rates: the backbone cut into `groups - 1`
       groups of equal depth and the head, spread geometrically from
       `base_lr / 2 / lr_mult` (the bottom) to `base_lr / 2` (the head), in
       one optimizer (`keras_lr.optimizers.LRMultiplier`).

    Each phase compiles the model again with a new optimizer of the class
    and settings it was compiled with (the Keras way after a change of
    `trainable`).

    **Batch normalization.** The backbone's `BatchNormalization` layers stay
    in inference mode in both phases, as Keras's transfer-learning guide
    recommends: their moving statistics (learnt on the pretraining data)
    and their scale and offset do not change. fine_tune makes them
    non-trainable for the unfrozen phase and leaves them so afterwards (set
    `layer.trainable = True` and compile again to train them later). Calling
    the backbone with `training=False` is not enough on Keras 3.15, which
    runs a trainable nested model's batch normalization in training mode
    anyway.

    Args:
        model: A compiled `keras.Model` with `backbone` inside.
        x: Training data, as for `fit`.
        y: Targets, with array `x`.
        backbone: The pretrained part: a layer or nested model of `model`
            (a `keras.applications` model, a keras-hub `Backbone`), or its
            name.
        epochs: Integer >= 1. Epochs of the unfrozen phase.
        freeze_epochs: Integer >= 0. Epochs of the frozen phase. Defaults
            to `1`.
        base_lr: The frozen phase's peak learning rate: a float, an
            `LRFinderResult` (its `suggest_range()[1]`), or `None` (the
            default) to run `keras_lr.find_lr` with the backbone frozen.
        lr_mult: Float >= 1. Ratio of the head's learning rate to the
            bottom group's in the unfrozen phase. Defaults to `100`
            (fastai's).
        groups: Integer >= 2. Layer groups of the unfrozen phase, the head
            included. Defaults to `3` (fastai's for a CNN).
        pct_start: Float in (0, 1). The unfrozen cycle's rising fraction.
            Defaults to `0.3`.
        div_factor: Float > 0. The unfrozen cycle's `max_lr / initial_lr`.
            Defaults to `5` (fastai's).
        batch_size: As for `fit` (each phase gets the `fit` arguments).
        steps_per_epoch: As for `fit`.
        validation_split: As for `fit`.
        validation_data: As for `fit`.
        find_lr_kwargs: Optional dict of `find_lr` arguments, with
            `base_lr=None`.
        callbacks: As for `fit` (both phases).
        verbose: As for `fit`.
        **fit_kwargs: Any other `model.fit` argument.

    Returns:
        `(frozen_history, history)`, the two phases' `History` objects
            (`frozen_history` is None with `freeze_epochs=0`).

    Raises:
        ValueError: if the backbone is not in the model or the model has no
            head, an argument is out of range, or `callbacks` holds a
            `BackupAndRestore` (its backup cannot span two compiled phases;
            put it around each `fit_one_cycle` instead).

    Example:

    ```python
    base = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), include_top=False, weights=None)
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(features))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_lr.fine_tune(model, x, y, backbone=base, epochs=3, validation_split=0.2)
    ```
    """
    _validation.require_type("model", model, keras.Model, "a compiled `keras.Model`")
    epochs = _validation.require_int("epochs", epochs, minimum=1)
    freeze_epochs = _validation.require_int("freeze_epochs", freeze_epochs, minimum=0)
    lr_mult = _validation.require_number("lr_mult", lr_mult, minimum=1)
    # Checked before the first phase, not minutes later when the second starts.
    _validation.require_number("pct_start", pct_start, minimum=0, maximum=1,
                               min_inclusive=False, max_inclusive=False)
    _validation.require_positive("div_factor", div_factor)
    check_fit_arguments(callbacks, verbose, fit_kwargs=fit_kwargs, model=model,
                        caller="fine_tune")
    groups = _validation.require_int("groups", groups, minimum=2)
    backbone = _find_backbone(model, backbone)
    if any(isinstance(c, keras.callbacks.BackupAndRestore) for c in callbacks or ()):
        raise ValueError(
            "Argument `callbacks` must not hold a BackupAndRestore: fine_tune runs "
            "two compiled phases, which one backup cannot span. Run the phases "
            "yourself with `keras_lr.fit_one_cycle` and a BackupAndRestore each.")
    if base_lr is not None and not isinstance(base_lr, LRFinderResult):
        base_lr = _validation.require_positive("base_lr", base_lr)
    if not model.built:
        raise ValueError(
            f"The model {model.name!r} is not built: fine_tune needs its layers' "
            "weights to split the backbone (create it with a `keras.Input`).")
    backbone_groups(model, backbone, groups)  # fail before training, not after phase 1
    common = dict(batch_size=batch_size, steps_per_epoch=steps_per_epoch,
                  validation_split=validation_split, validation_data=validation_data,
                  callbacks=callbacks, verbose=verbose, **fit_kwargs)
    restore = _trainable_flags(backbone)
    frozen_history = None
    try:
        backbone.trainable = False
        if freeze_epochs:
            frozen_history = fit_one_cycle(
                model, x, y, epochs=freeze_epochs, max_lr=base_lr, pct_start=0.99,
                find_lr_kwargs=find_lr_kwargs, **common)
            peak = frozen_history.schedule.max_learning_rate
        else:
            peak = _peak(model, x, y, base_lr, find_lr_kwargs, batch_size,
                         validation_split, verbose)
        backbone.trainable = True
        # Inference mode for the backbone's batch normalization, on every
        # Keras: `training=False` at the call is not enough on Keras 3.15,
        # where a nested model that is trainable runs BatchNormalization in
        # training mode anyway (fixed on Keras master, PR #23364). A
        # non-trainable BatchNormalization always runs in inference mode.
        _freeze_batchnorm(backbone)
    except BaseException:
        restore()
        raise
    high = peak / 2.0
    multipliers = discriminative(
        model, (high / lr_mult, high), groups=backbone_groups(model, backbone, groups))
    history = fit_one_cycle(
        model, x, y, epochs=epochs, max_lr=high, pct_start=pct_start,
        div_factor=div_factor, multipliers=multipliers, **common)
    return frozen_history, history


def _freeze_batchnorm(backbone):
    """Makes every `BatchNormalization` layer inside `backbone` non-trainable
    (inference mode: its moving statistics and its scale and offset stay);
    returns them."""
    layers = [layer for layer in [backbone, *keras_private.flatten_layers(backbone)]
              if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.trainable = False
    return layers


def _peak(model, x, y, base_lr, find_lr_kwargs, batch_size, validation_split, verbose):
    """The frozen phase's peak when that phase is skipped."""
    from keras_lr.workflows.one_cycle import _resolve_max_lr

    peak, _, _ = _resolve_max_lr(base_lr, None, model, x, y, batch_size,
                                 validation_split, find_lr_kwargs,
                                 0 if verbose == 0 else 1)
    return peak
