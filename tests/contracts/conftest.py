"""The contract suite's markers: `contracts` (every case CI runs) and
`contracts_full` (the rest of the product, run with `pytest -m
contracts_full tests/contracts`)."""

import keras
import pytest

_RUNS = {"count": 0}


def pytest_collection_modifyitems(config, items):
    expression = config.getoption("-m") or ""
    if "contracts_full" in expression:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if "contracts_full" in item.keywords else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def _fresh_session_now_and_then():
    # A clean Keras session every 40 cases: keeps memory flat without paying
    # for a garbage collection of every earlier case's objects each time.
    _RUNS["count"] += 1
    if _RUNS["count"] % 40 == 0:
        keras.utils.clear_session()
    yield
