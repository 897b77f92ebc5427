"""The schedules' shared helpers, from the ground floor (`keras_lr._core`)."""

from keras_lr._core.schedule_base import ConfigRepr  # noqa: F401
from keras_lr._core.schedule_base import LearningRateSchedule  # noqa: F401
from keras_lr._core.schedule_base import as_float_step  # noqa: F401
from keras_lr._core.schedule_base import check_schedule_or_number  # noqa: F401
from keras_lr._core.schedule_base import deserialize_child  # noqa: F401
from keras_lr._core.schedule_base import evaluate  # noqa: F401
from keras_lr._core.schedule_base import serialize_child  # noqa: F401
from keras_lr._core.schedule_base import power  # noqa: F401


def cycle_length(total_steps, epochs, steps_per_epoch):
    """`total_steps`, or `epochs * steps_per_epoch` as PyTorch's
    `OneCycleLR`; both forms only when they agree."""
    from keras_lr import _validation

    if epochs is not None or steps_per_epoch is not None:
        if epochs is None or steps_per_epoch is None:
            raise ValueError(
                "Arguments `epochs` and `steps_per_epoch` go together: "
                "the cycle lasts `epochs * steps_per_epoch` steps. Received: "
                f"epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}")
        epochs = _validation.require_int("epochs", epochs, minimum=1)
        steps_per_epoch = _validation.require_int(
            "steps_per_epoch", steps_per_epoch, minimum=1)
        if total_steps is not None and total_steps != epochs * steps_per_epoch:
            raise ValueError(
                "Argument `total_steps` must equal `epochs * steps_per_epoch` "
                "when all three are given (or give only one form). Received: "
                f"total_steps={total_steps!r}, epochs={epochs!r}, "
                f"steps_per_epoch={steps_per_epoch!r}")
        return epochs * steps_per_epoch
    if total_steps is None:
        raise ValueError(
            "Argument `total_steps` is required, or `epochs` and "
            "`steps_per_epoch` (then `total_steps = epochs * "
            "steps_per_epoch`). Received: total_steps=None")
    return total_steps
