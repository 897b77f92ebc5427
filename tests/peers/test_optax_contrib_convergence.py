"""optax's convergence test of its contributed optimizers, run against
keras-lr's learning-rate-free optimizers (JAX).

Source: optax 0.2.8 (the installed release), `optax/contrib/_common_test.py`,
`ContribTest.test_optimizers`: each optimizer, with the settings of
`_MAIN_OPTIMIZERS_UNDER_TEST`, minimizes each target (`_setup_parabola`,
`_setup_rosenbrock`, `_setup_matrix_parabola`, `_setup_mixed_tensor_target`)
from its initial point for 30,000 steps in one `jax.lax.scan`, and must end
within `rtol=3e-2, atol=3e-2` of the minimum (Schedule-Free at its
evaluation point `x`). The targets and the tolerance are imported from the
installed optax test module; the change is the optimizer: keras-lr's of
the same name (`prodigy` -> `Prodigy`, `mechanize(sgd)` -> `Mechanic(SGD)`,
...), stepped with `stateless_apply`; `_OTHER_OPTIMIZERS_UNDER_TEST`'s
`mechanize` of each base optimizer Keras also has (SGD, SGD with momentum,
Adam, AdamW, Adamax, Lamb, Lion, RMSprop, RMSprop with momentum) too, with
Keras's version of the base optimizer.

Documented difference: optax's `dadapt_adamw` is D-Adaptation with AdamW's
decoupled decay, keras-lr's `DAdaptAdam(decouple=True)` is the same update.
"""

import keras
import numpy as np
import pytest

from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "jax", reason="optax's test runs on JAX")

common = pytest.importorskip("optax.contrib._common_test",
                             reason="could not import optax's contrib tests (optax)")

STEPS = 30_000
TARGETS = {"parabola": "_setup_parabola", "rosenbrock": "_setup_rosenbrock",
           "matrix_parabola": "_setup_matrix_parabola",
           "mixed_tensor_target": "_setup_mixed_tensor_target"}


def _optimizers():
    from keras_lr import optimizers as O

    # optax's settings (`_MAIN_OPTIMIZERS_UNDER_TEST`), keras-lr's optimizer.
    settings = {(o["opt_name"], o["wrapper_name"]): o for o in common._MAIN_OPTIMIZERS_UNDER_TEST}
    make = {
        ("prodigy", None): lambda kw: O.Prodigy(**kw),
        ("dog", None): lambda kw: O.DoG(**kw),
        ("dowg", None): lambda kw: O.DoWG(**kw),
        ("dadapt_adamw", None): lambda kw: O.DAdaptAdam(decouple=True, **kw),
        ("schedule_free_sgd", None): lambda kw: O.ScheduleFreeSGD(**kw),
        ("schedule_free_adamw", None): lambda kw: O.ScheduleFreeAdamW(**kw),
        ("sgd", "mechanize"): lambda kw: O.Mechanic(
            keras.optimizers.SGD(**kw), weight_decay=0.0),
    }
    cases = {}
    for key, factory in make.items():
        options = dict(settings[key]["opt_kwargs"])
        cases["_".join(k for k in key if k)] = (factory, options)
    # `_OTHER_OPTIMIZERS_UNDER_TEST`: Mechanic around each base optimizer
    # that Keras has (optax's `b1` is Keras's `beta_1`).
    keras_name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "adamax": "Adamax",
                  "lamb": "Lamb", "lion": "Lion", "rmsprop": "RMSprop"}
    for base in common._BASE_OPTIMIZERS:
        if base["opt_name"] not in keras_name:
            continue
        options = {("beta_1" if k == "b1" else k): v for k, v in base["opt_kwargs"].items()}
        cls = getattr(keras.optimizers, keras_name[base["opt_name"]])
        name = "mechanize_" + base["opt_name"] + ("_momentum" if "momentum" in options else "")
        cases[name] = (lambda kw, cls=cls: O.Mechanic(cls(**kw), weight_decay=0.0), options)
    return cases


OPTIMIZERS = _optimizers() if BACKEND == "jax" else {}


def _minimize(optimizer, initial, objective):
    import jax

    leaves, tree = jax.tree.flatten(initial)
    variables = [keras.Variable(np.asarray(leaf), dtype="float32") for leaf in leaves]
    optimizer.build(variables)

    def loss(values):
        return objective(jax.tree.unflatten(tree, values))

    def step(state, _):
        values, optimizer_values = state
        grads = jax.grad(loss)(values)
        values, optimizer_values = optimizer.stateless_apply(optimizer_values, grads, values)
        return (values, optimizer_values), None

    state = ([v.value for v in variables], [v.value for v in optimizer.variables])
    (values, optimizer_values), _ = jax.jit(
        lambda s: jax.lax.scan(step, s, length=STEPS))(state)
    for variable, value in zip(variables, values):
        variable.assign(value)
    for variable, value in zip(optimizer.variables, optimizer_values):
        variable.assign(value)
    return variables


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("name", sorted(OPTIMIZERS) or ["none"])
def test_converges_as_optax_requires(name, target):
    import jax

    factory, options = OPTIMIZERS[name]
    initial, final, objective = getattr(common, TARGETS[target])("float32")
    optimizer = factory(options)
    variables = _minimize(optimizer, initial, objective)
    if hasattr(optimizer, "evaluation_value"):  # Schedule-Free: at x
        values = [np.asarray(optimizer.evaluation_value(v)) for v in variables]
    else:
        values = [np.asarray(v) for v in variables]
    for got, want in zip(values, jax.tree.leaves(final)):
        np.testing.assert_allclose(got, np.asarray(want), rtol=3e-2, atol=3e-2)
