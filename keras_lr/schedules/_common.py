"""The schedules' shared helpers, from the ground floor (`keras_lr._core`)."""

from keras_lr._core.schedule_base import LearningRateSchedule  # noqa: F401
from keras_lr._core.schedule_base import as_float_step  # noqa: F401
from keras_lr._core.schedule_base import check_schedule_or_number  # noqa: F401
from keras_lr._core.schedule_base import deserialize_child  # noqa: F401
from keras_lr._core.schedule_base import evaluate  # noqa: F401
from keras_lr._core.schedule_base import serialize_child  # noqa: F401
from keras_lr._core.schedule_base import power  # noqa: F401
