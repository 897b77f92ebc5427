"""Put on PYTHONPATH, makes TensorFlow unimportable in that process: the JAX
run of the suite (tests/test_backends.py) is then a run in an environment
without TensorFlow, as a JAX user has it, in the same virtualenv.

`import tensorflow` raises `ModuleNotFoundError`, as where it is not
installed. `importlib.util.find_spec("tensorflow")` returns a spec without
an origin (torch's dynamo asks it for every library it knows and only wants
an origin), whose loader refuses to create the module."""

import importlib.abc
import importlib.machinery
import sys


class _Refuse(importlib.abc.Loader):
    def create_module(self, spec):
        raise ModuleNotFoundError(
            f"No module named {spec.name!r} (the JAX run has no TensorFlow)", name=spec.name)

    def exec_module(self, module):  # pragma: no cover - create_module raised
        raise ModuleNotFoundError(module.__name__)


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return importlib.machinery.ModuleSpec(name, _Refuse(), origin=None)
        return None


sys.meta_path.insert(0, _NoTensorFlow())
