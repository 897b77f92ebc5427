"""Writes docs/guarantees.md from the contract suite's registry.

    python docs/guarantees.py          # rewrite the page
    python docs/guarantees.py --check  # exit 1 if the page is not current

The page is the table of component x configuration that
`tests/contracts/` tests: "yes" where the contract holds, "refused" (a
clear error at the start of training) or "n/a" where an entry declares it,
with the reasons as notes. `tests/contracts/test_guarantees_page.py`
checks that the page in the repository is what this script writes, so the
page and the tests cannot disagree.
"""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "guarantees.md"

RESUME = [("resume_before", "crash, BackupAndRestore after it"),
          ("resume_after", "BackupAndRestore before it"),
          ("checkpoint_after", "ModelCheckpoint before it"),
          ("fresh_process", ".keras, fresh process"),
          ("custom_loop", "custom loop")]
EXECUTION = [("steps_per_execution", "steps_per_execution=2"),
             ("gradient_accumulation", "gradient accumulation"),
             ("mixed_float16", "mixed_float16"),
             ("multi_optimizer", "MultiOptimizer"),
             ("jit_compile", "jit_compile"),
             ("distribute", "tf.distribute")]
BAD_DATA = {
    "restores": "restores the last good weights",
    "skips": "skips the step",
    "warns": "warns (weights not finite)",
    "stops": "stops, says why",
    "fails_trial": "fails the trial, says why",
    "keras": "as the bare Keras optimizer",
}
WORKFLOW_BAD_DATA = {
    "stops": "stops, says why (`stop_reason`)",
    "masks": "stops that copy (weights finite)",
    "warns": "trains as `fit`, warns if the weights end non-finite",
    "raises": "a clear error (every copy diverged)",
}


def _notes():
    notes = {}

    def note(reason):
        if reason not in notes:
            notes[reason] = len(notes) + 1
        return notes[reason]

    return notes, note


def _cell(outcome, note):
    from tests.contracts.registry import NotApplicable, Refused

    if outcome is None:
        return "yes"
    if isinstance(outcome, Refused):
        return f"refused ({note(outcome.reason)})"
    if isinstance(outcome, NotApplicable):
        return f"n/a ({note(outcome.reason)})"
    raise TypeError(outcome)


def render():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.path.insert(0, str(ROOT))
    from tests.contracts import cases
    from tests.contracts.registry import ENTRIES
    from tests.contracts.registry import declared_outcome
    from tests.contracts.workflows import WORKFLOWS

    notes, note = _notes()
    lines = [
        "# Guarantees",
        "",
        "What holds for every stateful component of keras-lr, in every way Keras runs a",
        "step: the table of `tests/contracts/`, written from its registry",
        "(`tests/contracts/registry.py`) by `docs/guarantees.py`, so the page and the",
        "tests cannot disagree.",
        "",
        "- **yes**: tested, and it holds: a crash resumed by `BackupAndRestore` (or",
        "  a `.keras` file loaded in a fresh process, or a `ModelCheckpoint` file) gives",
        "  the same weights, learning rates, logs and component state as the run that",
        "  never stopped; a custom training loop through `keras.callbacks.CallbackList`",
        "  gives what `fit` gives; each way of running a step (a column of the second",
        "  table) gives a crash and resume equal to the uninterrupted run.",
        "- **refused**: training refuses the configuration at its start (or when the",
        "  optimizer is made) with a clear error, before any weight changes.",
        "- **n/a**: the question has no meaning for the component.",
        "",
        "How it is run: every component meets every configuration (each varied alone,",
        "at a float learning rate) on TensorFlow and on PyTorch (where Keras's PyTorch",
        "backend runs it); a covering array puts every pair of values of component,",
        "configuration, learning-rate kind (a float, a Keras schedule, a keras-lr",
        "schedule, a learning-rate-free optimizer) and backend (TensorFlow, JAX without",
        "TensorFlow, PyTorch) in at least one case. `pytest -m contracts_full",
        "tests/contracts` runs the whole product on the backend it runs on "
        f"({len(cases.full_product('tensorflow'))} cases on TensorFlow).",
        "",
        "## Resuming and custom loops",
        "",
        "| component | " + " | ".join(title for _, title in RESUME) + " |",
        "|---|" + "---|" * len(RESUME),
    ]
    for entry in ENTRIES:
        cells = [_cell(declared_outcome(entry, q, entry.rates[0], "plain", "tensorflow"), note)
                 for q, _ in RESUME]
        lines.append(f"| `{entry.name}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Ways Keras runs a step, and a bad row in the data",
        "",
        "A bad row is one row of `x` set to `inf` or NaN, one NaN target, or one NaN",
        "sample weight. Some CPUs' ReLU (oneDNN) maps NaN and inf to 0, so the loss can",
        "stay finite while the weights turn NaN: every keras-lr callback checks the",
        "weights too.",
        "",
        "| component | " + " | ".join(title for _, title in EXECUTION) + " | bad row |",
        "|---|" + "---|" * (len(EXECUTION) + 1),
    ]
    for entry in ENTRIES:
        cells = [_cell(declared_outcome(entry, "resume_before", entry.rates[0], x,
                                        "tensorflow"), note) for x, _ in EXECUTION]
        cells.append(BAD_DATA[entry.bad_data])
        lines.append(f"| `{entry.name}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`steps_per_execution > 1` and `jit_compile` are not run on PyTorch (Keras's",
        "PyTorch backend runs one step per execution, and compiles with",
        "`torch.compile`); `tf.distribute` is TensorFlow's. A learning-rate-free",
        "optimizer (the `lr_free` runs of a callback) refuses gradient accumulation",
        "whatever the callback.",
        "",
        "## Workflows",
        "",
        "| workflow | " + " | ".join(title for _, title in EXECUTION) + " | bad row |",
        "|---|" + "---|" * (len(EXECUTION) + 1),
    ]
    for workflow in WORKFLOWS:
        cells = [_cell(workflow.outcome(x, "tensorflow"), note) for x, _ in EXECUTION]
        cells.append(WORKFLOW_BAD_DATA[workflow.bad_data])
        lines.append(f"| `{workflow.name}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Each workflow runs under each configuration on TensorFlow, JAX and PyTorch and",
        "checks its own promise (`find_lr` leaves the model as it was, `sweep` leaves it",
        "untouched and no healthy copy is masked, `fit_one_cycle` sizes the cycle to the",
        "steps `fit` runs).",
        "",
        "## Notes",
        "",
    ]
    for reason, number in notes.items():
        lines.append(f"{number}. {reason[0].upper()}{reason[1:]}.")
    lines += [
        "",
        "## What the user must do",
        "",
        "- Import `keras_lr` before `keras.saving.load_model` on a model that uses one",
        "  of its classes (Keras finds registered classes only).",
        "- Load a `mixed_float16` model with the policy set first",
        "  (`keras.config.set_dtype_policy(\"mixed_float16\")`): Keras compiles a loaded",
        "  model's optimizer by the global policy, and otherwise drops the optimizer's",
        "  state with a warning.",
        "- In a custom training loop, put the batch's own loss in the batch logs",
        "  (`{\"loss\": loss}`), and stop when `model.stop_training` becomes True after a",
        "  batch, as `fit` does: the finder and the guard set it.",
        "- A `MultiOptimizer` saved to `.keras` must map variables with an",
        "  `OptimizerMap` (patterns), not a Python function, to load again; a pattern",
        "  should not name the model (`\".*head/.*\"`): Keras 3 leaves the model's name",
        "  out of the variable paths of a loaded model.",
        "",
    ]
    return "\n".join(lines)


def main(argv):
    text = render()
    if "--check" in argv:
        if PAGE.read_text() != text:
            print(f"{PAGE} is not current: run `python docs/guarantees.py`")
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
