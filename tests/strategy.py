"""The one `tf.distribute.MirroredStrategy` of a test session.

Each new strategy numbers its collective ops from the same start, so two
strategies in one process can run into each other's all-reduce ("Shape
mismatch in the collective instance 100"); every test shares this one.
"""

import functools

__all__ = ["shared_strategy"]


@functools.lru_cache(maxsize=None)
def shared_strategy():
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    if strategy.num_replicas_in_sync != 2:
        raise RuntimeError("the test session needs two logical CPUs (tests/conftest.py)")
    return strategy
