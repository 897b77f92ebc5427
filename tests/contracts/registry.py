"""Every public component of keras-lr that trains with a model, registered once.

The contract tests (`tests/contracts/test_*.py`) ask every entry the same
questions: a crash resumed by `BackupAndRestore` on either side of it, a
`.keras` file loaded in a fresh process, a custom training loop, the ways
Keras runs a step (`steps_per_execution`, gradient accumulation,
`mixed_float16`, `MultiOptimizer`, `jit_compile`, `tf.distribute`), a bad
row in the data, on each backend. An entry says what it does not support
(`Refused`: a clear error at the start of training; `NotApplicable`: the
question has no meaning for it), with the reason; everything else must hold.
`docs/guarantees.md` is generated from this registry (`docs/guarantees.py`),
so the page and the tests cannot disagree.

As PyTorch's `optim_db` (`torch/testing/_internal/common_optimizers.py`): a
new component gets every question by being registered here.
"""

import dataclasses
from typing import Callable, Optional

import keras

from tests.contracts import harness

__all__ = ["ENTRIES", "QUESTIONS", "RATE_DECLARED", "NotApplicable", "Refused",
           "declared_outcome", "entry"]

QUESTIONS = ("resume_before", "resume_after", "checkpoint_after", "fresh_process",
             "bad_data") + harness.EXECUTIONS[1:]


@dataclasses.dataclass(frozen=True)
class Refused:
    """Training refuses the configuration at its start with a clear error."""

    reason: str
    match: str
    error: type = ValueError


@dataclasses.dataclass(frozen=True)
class NotApplicable:
    """The question has no meaning for the component (said why)."""

    reason: str


@dataclasses.dataclass(frozen=True)
class Entry:
    """A component and how to train with it.

    Attributes:
        name: The public name.
        kind: `"callback"`, `"optimizer"` or `"schedule"`.
        make_callback: `() -> callback` (callbacks).
        make_optimizer: `(rate, kwargs) -> optimizer`: the run's optimizer
            for a learning-rate kind of `harness.RATES` (callbacks: the
            base optimizer; optimizers: the component; schedules: an SGD
            whose rate is the component).
        rates: The learning-rate kinds it is run with.
        state: `component -> dict` of its own state to compare, or None.
        bad_data: What it does with a bad row: `"restores"` (the good
            weights come back), `"skips"` (the step is skipped), `"warns"`
            (it says that the weights are not finite), `"stops"` (it stops
            and says why: the finder's `stop_reason`), `"fails_trial"` (it
            fails the keras-tuner trial with the reason) or `"keras"` (the
            wrapped Keras optimizer's own behaviour: the NaN reaches the
            weights, as without keras-lr).
        declared: `{question: Refused | NotApplicable}`.
        backends: `{backend: {question: Refused | NotApplicable}}`.
    """

    name: str
    kind: str
    make_optimizer: Callable
    make_callback: Optional[Callable] = None
    rates: tuple = ("float",)
    state: Optional[Callable] = None
    bad_data: str = "keras"
    declared: dict = dataclasses.field(default_factory=dict)
    backends: dict = dataclasses.field(default_factory=dict)

    def __str__(self):
        return self.name

    def optimizer(self, rate, kwargs):
        return self.make_optimizer(rate, dict(kwargs))

    def callbacks(self, component):
        return [] if component is None else [component]

    def callback(self):
        return None if self.make_callback is None else self.make_callback()

    def bad_data_for(self, rate):
        """Its bad-data outcome when run at `rate`: under a learning-rate-free
        optimizer (`"lr_free"`), that optimizer skips the step."""
        if rate == "lr_free" and self.bad_data in ("keras", "warns"):
            return "skips"
        if rate == "lr_free" and self.bad_data == "fails_trial":
            return "fails_trial_or_skips"  # a NaN loss fails it; a skipped step does not
        return self.bad_data

    def outcome(self, question, backend):
        """What the entry declares for `question` on `backend` (None: it
        holds)."""
        declared = dict(self.declared)
        declared.update(self.backends.get(backend, {}))
        if question == "distribute" and backend != "tensorflow":
            return NotApplicable("tf.distribute is TensorFlow's")
        if question == "steps_per_execution" and backend == "torch":
            return NotApplicable("Keras's PyTorch backend runs one step per execution")
        if question == "jit_compile" and backend == "torch":
            return NotApplicable("Keras's PyTorch backend compiles with torch.compile, "
                                 "not covered")
        return declared.get(question)


def entry(**kwargs):
    return Entry(**kwargs)


# ---- helpers for the entries -----------------------------------------------------------

BEFORE_SAVERS = Refused(
    "it updates its state at the end of the epoch, after a saver listed before it has "
    "saved that epoch", "must stand before")
NO_CALLBACK = NotApplicable("an optimizer or schedule: there is no callback to place")
LR_FREE_RATES = ("float", "keras_schedule", "keras_lr_schedule")


def _controller_state(callback):
    return {} if callback.state is None else callback.state.values()


def _sgd(rate, kwargs):
    return harness.base_optimizer(rate, **kwargs)


def _lr_free(cls, base, **options):
    def make(rate, kwargs):
        return cls(harness.rate_value(rate, base), **options, **kwargs)
    return make


def _schedule(make):
    def optimizer(rate, kwargs):
        return keras.optimizers.SGD(make(), momentum=0.9, **kwargs)
    return optimizer


def _finder_data():
    x, y, _ = harness.make_data()
    return x, y


# ---- the entries ----------------------------------------------------------------------------

def _callbacks():
    from keras_lr import callbacks as C

    return [
        entry(name="ReduceLROnPlateau", kind="callback",
              make_callback=lambda: C.ReduceLROnPlateau(monitor="loss", patience=0,
                                                        min_delta=10, factor=0.5),
              make_optimizer=_sgd, rates=harness.RATES, state=_controller_state,
              bad_data="warns",
              declared={"resume_after": BEFORE_SAVERS, "checkpoint_after": BEFORE_SAVERS}),
        entry(name="BoldDriver", kind="callback",
              make_callback=lambda: C.BoldDriver(increase=1.5, slow=0.5),
              make_optimizer=_sgd, rates=harness.RATES, state=_controller_state,
              bad_data="warns",
              declared={"resume_after": BEFORE_SAVERS, "checkpoint_after": BEFORE_SAVERS}),
        entry(name="DivergenceGuard", kind="callback",
              make_callback=lambda: C.DivergenceGuard(threshold=1.02, smoothing=0.0,
                                                      frequency=2, snapshot_every=1,
                                                      max_recoveries=20, verbose=0),
              make_optimizer=_sgd, rates=harness.RATES, state=_controller_state,
              bad_data="restores",
              declared={"resume_after": BEFORE_SAVERS, "checkpoint_after": BEFORE_SAVERS}),
        entry(name="LearningRateLogger", kind="callback",
              make_callback=lambda: C.LearningRateLogger(),
              make_optimizer=_sgd, rates=harness.RATES,
              state=lambda logger: {"step": logger.history["step"][-1],
                                    "learning_rate": logger.history["learning_rate"][-1]},
              bad_data="warns"),
        entry(name="PeriodicLRFinder", kind="callback",
              make_callback=lambda: C.PeriodicLRFinder(*_finder_data(), every=2,
                                                       num_steps=10, batch_size=16,
                                                       seed=0, verbose=0),
              make_optimizer=_sgd, rates=("float", "keras_schedule", "keras_lr_schedule"),
              state=_controller_state, bad_data="warns",
              declared={"resume_after": BEFORE_SAVERS, "checkpoint_after": BEFORE_SAVERS}),
        entry(name="LRFinder", kind="callback",
              make_callback=lambda: C.LRFinder(num_steps=6, diverge_threshold=None),
              make_optimizer=_sgd, rates=harness.RATES,
              state=lambda finder: {"points": 0 if finder.result is None
                                    else len(finder.result)},
              bad_data="stops",
              declared={q: ONE_SWEEP for q in ("resume_before", "resume_after",
                                                 "checkpoint_after", "fresh_process")}),
        entry(name="ScheduleFreeEval", kind="callback",
              make_callback=lambda: C.ScheduleFreeEval(),
              make_optimizer=lambda rate, kwargs: _schedule_free_sgd(rate, kwargs),
              rates=LR_FREE_RATES, bad_data="skips",
              declared={"resume_after": BEFORE_SAVERS, "checkpoint_after": BEFORE_SAVERS,
                        "multi_optimizer": Refused(
                            "it moves every weight of the model between the training "
                            "and the evaluation point: one Schedule-Free optimizer must "
                            "train them all", "needs a Schedule-Free optimizer"),
                        "gradient_accumulation": Refused(
                            "Schedule-Free estimates its step from the raw gradients",
                            "not support `gradient_accumulation_steps`")}),
    ]


ONE_SWEEP = NotApplicable(
    "one range test inside one `fit`: it stops training after its sweep and puts the "
    "model back (a BackupAndRestore on either side gives the same curve: "
    "tests/test_seams.py)")
A_TRIAL = NotApplicable(
    "it judges one keras-tuner trial from its first loss; keras-tuner reruns an "
    "interrupted trial from the start, so there is no resumed trial to judge")


def _divergence_stop_entry():
    try:
        from keras_lr.tuning import DivergenceStop
    except ImportError:  # keras-tuner is a dependency; never in CI
        return []
    return [entry(name="DivergenceStop", kind="callback",
                  make_callback=lambda: DivergenceStop(verbose=0),
                  make_optimizer=_sgd, rates=harness.RATES, bad_data="fails_trial",
                  declared={q: A_TRIAL for q in ("resume_before", "resume_after",
                                                 "checkpoint_after", "fresh_process")})]


def _schedule_free_sgd(rate, kwargs):
    from keras_lr.optimizers import ScheduleFreeSGD

    return ScheduleFreeSGD(harness.rate_value(rate, 0.05), **kwargs)


# What the run's learning-rate kind refuses, whatever the component: the
# "lr_free" runs train with Prodigy.
RATE_DECLARED = {}


ESTIMATES_OWN_STEP = Refused(
    "it estimates its step size from the raw gradients",
    "not support `gradient_accumulation_steps`")
WRAPPER_ACCUMULATION = Refused(
    "keras-lr's optimizer wrappers own the update and do not accumulate gradients",
    "not support `gradient_accumulation_steps`")


def _optimizers():
    from keras_lr import optimizers as O
    from keras_lr import schedules as S

    def lr_multiplier(rate, kwargs):
        # The head's layer: a key that selects variables under a
        # MultiOptimizer too (the component's optimizer trains the head).
        return O.LRMultiplier(_sgd(rate, kwargs), {"head": 0.5})

    def scheduled_momentum(rate, kwargs):
        return O.ScheduledMomentum(_sgd(rate, kwargs), S.OneCycleMomentum(harness.TOTAL_STEPS))

    def hypergradient(rate, kwargs):
        return O.Hypergradient(keras.optimizers.SGD(0.02, momentum=0.9, **kwargs),
                               hypergradient_lr=1e-3)

    def mechanic(rate, kwargs):
        return O.Mechanic(keras.optimizers.SGD(harness.rate_value(rate, 0.05), **kwargs))

    lr_free = dict(rates=LR_FREE_RATES, bad_data="skips",
                   declared={"resume_after": NO_CALLBACK, "checkpoint_after": NO_CALLBACK,
                             "gradient_accumulation": ESTIMATES_OWN_STEP})
    return [
        entry(name="LRMultiplier", kind="optimizer", make_optimizer=lr_multiplier,
              rates=harness.RATES,
              declared={"resume_after": NO_CALLBACK, "checkpoint_after": NO_CALLBACK,
                        "gradient_accumulation": WRAPPER_ACCUMULATION}),
        entry(name="ScheduledMomentum", kind="optimizer", make_optimizer=scheduled_momentum,
              rates=("float", "keras_schedule", "keras_lr_schedule"),
              declared={"resume_after": NO_CALLBACK, "checkpoint_after": NO_CALLBACK,
                        "gradient_accumulation": WRAPPER_ACCUMULATION}),
        entry(name="Hypergradient", kind="optimizer", make_optimizer=hypergradient,
              declared={"resume_after": NO_CALLBACK, "checkpoint_after": NO_CALLBACK,
                        "gradient_accumulation": WRAPPER_ACCUMULATION}),
        entry(name="Mechanic", kind="optimizer", make_optimizer=mechanic,
              rates=LR_FREE_RATES, bad_data="skips",
              declared={"resume_after": NO_CALLBACK, "checkpoint_after": NO_CALLBACK,
                        "gradient_accumulation": WRAPPER_ACCUMULATION}),
        entry(name="Prodigy", kind="optimizer", make_optimizer=_lr_free(O.Prodigy, 1.0),
              **lr_free),
        entry(name="DAdaptAdam", kind="optimizer", make_optimizer=_lr_free(O.DAdaptAdam, 1.0),
              **lr_free),
        entry(name="DoG", kind="optimizer", make_optimizer=_lr_free(O.DoG, 1.0), **lr_free),
        entry(name="DoWG", kind="optimizer", make_optimizer=_lr_free(O.DoWG, 1.0), **lr_free),
        entry(name="ScheduleFreeAdamW", kind="optimizer",
              make_optimizer=_lr_free(O.ScheduleFreeAdamW, 0.01), **lr_free),
        entry(name="ScheduleFreeSGD", kind="optimizer",
              make_optimizer=_lr_free(O.ScheduleFreeSGD, 0.05), **lr_free),
    ]


def _schedules():
    from keras_lr import finder
    from keras_lr import schedules as S
    from tests import probe

    total = harness.TOTAL_STEPS
    made = {
        "TriangularCyclicalLearningRate": lambda: S.TriangularCyclicalLearningRate(
            0.01, 0.05, 3),
        "Triangular2CyclicalLearningRate": lambda: S.Triangular2CyclicalLearningRate(
            0.01, 0.05, 2, step_size_down=3),
        "ExponentialCyclicalLearningRate": lambda: S.ExponentialCyclicalLearningRate(
            0.01, 0.05, 3, gamma=0.95),
        "CyclicalLearningRate": lambda: S.CyclicalLearningRate(
            0.01, 0.05, 3, scale_fn=probe.sqrt_cycle_decay),
        "OneCycle": lambda: S.OneCycle(0.05, total),
        "OneCycleMomentum": lambda: S.OneCycleMomentum(total, base_momentum=0.01,
                                                       max_momentum=0.05),
        "Warmup": lambda: S.Warmup(S.OneCycle(0.05, total - 4), 4, shape="cosine"),
        "Join": lambda: S.Join([S.Warmup(0.05, 4, initial_learning_rate=1e-3),
                                S.OneCycle(0.05, 8)], boundaries=[4]),
        "WarmupStableDecay": lambda: S.WarmupStableDecay(0.05, total, warmup_steps=3,
                                                         decay_fraction=0.3),
        "ControlledSchedule": lambda: S.ControlledSchedule(S.OneCycle(0.1, total), scale=0.5),
        "LRSweep": lambda: finder.LRSweep(1e-3, 0.05, total),
    }
    return [entry(name=name, kind="schedule", make_optimizer=_schedule(make),
                  rates=("own",),
                  declared={"resume_after": NO_CALLBACK, "checkpoint_after": NO_CALLBACK})
            for name, make in made.items()]


RATE_DECLARED["lr_free"] = {"gradient_accumulation": ESTIMATES_OWN_STEP}


def declared_outcome(entry, question, rate, execution, backend):
    """What a case is declared to do: `None` (the contract holds), a
    `Refused` (the reasons of its rate, execution and question, any message
    among theirs) or a `NotApplicable`. The tests and docs/guarantees.md
    both read it."""
    question = "bad_data" if question.startswith("bad_") else question
    outcomes = [RATE_DECLARED.get(rate, {}).get(execution)]
    outcomes += [entry.outcome(key, backend) for key in (execution, question)
                 if key != "plain"]
    outcomes = [o for o in outcomes if o is not None]
    for outcome in outcomes:
        if isinstance(outcome, NotApplicable):
            return outcome
    if len(outcomes) > 1:  # refused for more than one reason: either message
        return Refused("; ".join(o.reason for o in outcomes),
                       "|".join(f"(?:{o.match})" for o in outcomes))
    return outcomes[0] if outcomes else None
ENTRIES = _callbacks() + _divergence_stop_entry() + _optimizers() + _schedules()
BY_NAME = {e.name: e for e in ENTRIES}
