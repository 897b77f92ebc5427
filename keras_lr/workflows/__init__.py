"""One-call training workflows: `fit_one_cycle` and `fine_tune`."""

from keras_lr.workflows.transfer import backbone_groups
from keras_lr.workflows.transfer import fine_tune
from keras_lr.workflows.one_cycle import fit_one_cycle
from keras_lr.workflows.one_cycle import one_cycle_optimizer
from keras_lr.workflows.one_cycle import steps_per_epoch_of

__all__ = [
    "backbone_groups",
    "fine_tune",
    "fit_one_cycle",
    "one_cycle_optimizer",
    "steps_per_epoch_of",
]
