"""
The suite's own rule: a fixture name has one definition, so one meaning,
wherever a test asks for it (shared ones live in a conftest.py).
"""

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent


def is_fixture(decorator):
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "fixture"


def test_each_fixture_name_is_defined_once():
    defined = defaultdict(list)
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and any(
                is_fixture(d) for d in node.decorator_list
            ):
                defined[node.name].append(str(path.relative_to(TESTS)))
    assert defined, "no fixture found: the test reads the wrong files"
    twice = {name: paths for name, paths in defined.items() if len(paths) > 1}
    assert twice == {}
