"""`ControlledSchedule`: a schedule times a scale that callbacks control.

Defined on the ground floor (`keras_lr._core.learning_rate`), where the one
owner of an optimizer's learning rate installs it.
"""

from keras_lr._core.learning_rate import ControlledSchedule

__all__ = ["ControlledSchedule"]
