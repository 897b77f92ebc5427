"""Keras callbacks of keras-lr."""

from keras_lr.callbacks.lr_finder import LRFinder

__all__ = ["LRFinder"]
