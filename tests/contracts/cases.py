"""Which contract cases run where.

A case is `(entry, question, rate, execution, backend)`. The whole product
is far too big to run in CI, so:

- on TensorFlow, every entry meets every question, every learning-rate kind
  and every execution once (each factor varied alone, the others at their
  defaults: `single_factor`);
- a covering array (`pairwise`) adds cases so that every pair of values of
  any two factors (an entry and a backend, a question and an execution, a
  rate and an execution, ...) appears in at least one case, on JAX and
  PyTorch too;
- `pytest -m contracts_full` runs the whole valid product on the backend
  it runs on.
"""

import functools
import itertools

from tests.contracts import harness
from tests.contracts.registry import ENTRIES

__all__ = ["BACKENDS", "EXECUTIONS", "QUESTIONS", "full_product", "pairwise",
           "selected", "single_factor", "valid"]

BACKENDS = ("tensorflow", "jax", "torch")
QUESTIONS = ("resume_before", "resume_after", "checkpoint_after", "fresh_process",
             "custom_loop") + tuple(f"bad_{b}" for b in harness.BAD_DATA)
EXECUTIONS = ("plain", "steps_per_execution", "gradient_accumulation", "mixed_float16",
              "multi_optimizer", "jit_compile", "distribute")


def valid(entry, question, rate, execution, backend):
    """Whether the tuple is a meaningful case (declared refusals are valid:
    the test checks the refusal)."""
    if rate not in entry.rates:
        return False
    if execution == "distribute" and backend != "tensorflow":
        return False
    if execution in ("steps_per_execution", "jit_compile") and backend == "torch":
        return False
    if question == "custom_loop" and execution != "plain":
        return False  # the loop is the user's own step
    if question == "fresh_process" and execution == "distribute":
        return False
    return True


def _case(entry, question, rate, execution):
    return harness.Case(entry, question, rate, execution)


def single_factor(backend="tensorflow"):
    """Each factor varied alone around `(resume_before, rates[0], plain)`."""
    cases = []
    for entry in ENTRIES:
        default = entry.rates[0]
        seen = set()
        options = ([(q, default, "plain") for q in QUESTIONS]
                   + [("resume_before", r, "plain") for r in entry.rates]
                   + [("resume_before", default, e) for e in EXECUTIONS])
        for question, rate, execution in options:
            key = (question, rate, execution)
            if key in seen or not valid(entry, question, rate, execution, backend):
                continue
            seen.add(key)
            cases.append(_case(entry, question, rate, execution))
    return cases


def full_product(backend):
    return [_case(e, q, r, x)
            for e in ENTRIES for q in QUESTIONS for r in e.rates for x in EXECUTIONS
            if valid(e, q, r, x, backend)]


@functools.lru_cache(maxsize=None)
def pairwise():
    """A covering array over (entry, question, rate, execution, backend):
    every valid pair of values of two factors is in at least one row.

    Greedy (AETG-like) and deterministic: each new row starts from the first
    pair not yet covered and fills the other factors with the values that
    cover the most new pairs, keeping the row valid.
    """
    factors = [list(ENTRIES), list(QUESTIONS), list(harness.RATES) + ["own"],
               list(EXECUTIONS), list(BACKENDS)]

    def ok(row):
        filled = [v for v in row if v is not None]
        if len(filled) < len(row):
            return _partially_valid(row)
        return valid(*row)

    def pairs(row):
        return {(i, _key(row[i]), j, _key(row[j]))
                for i, j in itertools.combinations(range(len(row)), 2)}

    needed = set()
    for i, j in itertools.combinations(range(len(factors)), 2):
        for a in factors[i]:
            for b in factors[j]:
                row = [None] * len(factors)
                row[i], row[j] = a, b
                if _completable(row, factors):
                    needed.add((i, _key(a), j, _key(b)))
    rows = []
    while needed:
        i, a, j, b = min(needed, key=lambda p: (p[0], p[2], str(p[1]), str(p[3])))
        row = [None] * len(factors)
        row[i] = _value(factors[i], a)
        row[j] = _value(factors[j], b)
        for k in range(len(factors)):
            if row[k] is not None:
                continue
            best, gain = None, -1
            for value in factors[k]:
                trial = list(row)
                trial[k] = value
                if not _completable(trial, factors):
                    continue
                new = sum(1 for p in pairs([v if v is not None else _HOLE for v in trial])
                          if p in needed)
                if new > gain:
                    best, gain = value, new
            row[k] = best
        if None in row or not ok(row):
            needed.discard((i, a, j, b))  # not completable after all
            continue
        covered = pairs(row) & needed
        needed -= covered
        rows.append(tuple(row))
    return rows


class _Hole:
    pass


_HOLE = _Hole()


def _key(value):
    return getattr(value, "name", value)


def _value(values, key):
    return next(v for v in values if _key(v) == key)


def _partially_valid(row):
    entry, question, rate, execution, backend = row
    if entry is not None and rate is not None and rate not in entry.rates:
        return False
    if execution == "distribute" and backend not in (None, "tensorflow"):
        return False
    if execution in ("steps_per_execution", "jit_compile") and backend == "torch":
        return False
    if question == "custom_loop" and execution not in (None, "plain"):
        return False
    if question == "fresh_process" and execution == "distribute":
        return False
    return True


def _completable(row, factors):
    """Whether some valid full row agrees with the filled values."""
    if not _partially_valid(row):
        return False
    free = [k for k, v in enumerate(row) if v is None]
    for values in itertools.product(*[factors[k] for k in free]):
        trial = list(row)
        for k, v in zip(free, values):
            trial[k] = v
        if valid(*trial):
            return True
    return False


def selected(backend):
    """The cases of a CI run on `backend` (as `harness.Case`s, no duplicate)."""
    cases = single_factor(backend) if backend in ("tensorflow", "torch") else []
    seen = {c.id for c in cases}
    for entry, question, rate, execution, row_backend in pairwise():
        if row_backend != backend:
            continue
        case = _case(entry, question, rate, execution)
        if case.id not in seen:
            seen.add(case.id)
            cases.append(case)
    return cases
