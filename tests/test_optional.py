"""Install hints name only extras and packages that exist."""

import configparser
import pathlib
import re

import pytest

from keras_lr import _optional

SETUP = pathlib.Path(__file__).resolve().parents[1] / "setup.cfg"


def test_hints_name_real_extras():
    config = configparser.ConfigParser()
    config.read(SETUP)
    extras = set(config["options.extras_require"])
    for module in ("tensorflow", "matplotlib", "keras_tuner", "somepkg"):
        hint = _optional.install_hint(module)
        for extra in re.findall(r"\[(\w+)\]", hint) + re.findall(r"the `(\w+)` extra", hint):
            assert extra in extras, (module, hint)


def test_missing_module_error_says_how_to_install():
    with pytest.raises(ImportError, match=r"needs `no_such_module_x`.*pip install no_such_module_x"):
        _optional.import_optional("no_such_module_x.sub", "A feature")


def test_tuning_is_reachable_after_import_keras_lr_without_importing_keras_tuner():
    import subprocess
    import sys

    code = ("import sys, keras_lr; assert 'keras_tuner' not in sys.modules; "
            "assert 'tuning' in dir(keras_lr); "
            "print(keras_lr.tuning.LRHyperModel.__name__, 'keras_tuner' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["LRHyperModel", "True"]
