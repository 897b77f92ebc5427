"""Promises the examples make about themselves."""

import ast
import pathlib

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_fine_tune_example_user_code_is_at_most_ten_lines():
    source = (EXAMPLES / "fine_tune.py").read_text()
    tree = ast.parse(source)
    (fn,) = [node for node in tree.body if isinstance(node, ast.FunctionDef)
             and node.name == "fine_tune_with_keras_lr"]
    lines = source.splitlines()[fn.lineno - 1:fn.end_lineno]
    code = [line for line in lines if line.strip() and not line.strip().startswith("#")]
    assert len(code) <= 10, code
    assert any("keras_lr.fine_tune(" in line for line in code)
