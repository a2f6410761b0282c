"""
The import graph of our own code: dependencies point one way, no cycles.

Every top-level package (a directory with ``__init__.py``; the tests aside)
and gunicorn.conf.py is parsed with ``ast``; an import anywhere in a module,
at its top or inside a function, is an edge to the first-party module it
loads. A deferred import still is a dependency: it only postpones the cycle
to the first call, so cycles are looked for in the whole graph.

Layers: ``ventures`` (the project) imports none of the apps: it names them
only as dotted paths in settings and URLconfs. The production code (the
packages with an ``apps.py``, and gunicorn.conf.py) imports nothing from the
harness (the fake Patreon, the dev stack, the benchmark, the tests).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "ventures"
TESTS = "tests"
GUNICORN_CONF = "gunicorn.conf.py"


def first_party_files():
    """Module name -> file, for every first-party module outside the tests."""
    files = {GUNICORN_CONF: ROOT / GUNICORN_CONF}
    for init in sorted(ROOT.glob("*/__init__.py")):
        package = init.parent
        if package.name == TESTS:
            continue
        for path in sorted(package.rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(parts)] = path
    return files


FILES = first_party_files()
# Top-level names that are ours, so an import of them is an edge.
OURS = {name.split(".")[0] for name in FILES if name != GUNICORN_CONF} | {TESTS}


def is_package(module):
    return FILES.get(module, Path()).name == "__init__.py"


def resolve(module, names):
    """
    The first-party modules that ``from module import names`` loads (no
    names: ``import module``), without the packages on the way (see
    ``with_packages``).
    """
    if module.split(".")[0] not in OURS:
        return []
    if module.split(".")[0] == TESTS:  # not parsed: a leaf, named as imported
        return [module]
    found = [f"{module}.{name}" for name in names if f"{module}.{name}" in FILES]
    if len(found) < len(names) or not names:  # attributes, or ``import module``
        while module not in FILES and "." in module:
            module = module.rpartition(".")[0]  # an attribute of a package
        found.append(module)
    return found


def with_packages(targets, importer):
    """
    ``targets`` and the packages Python loads on the way to them, except the
    importer's own: a package's ``__init__`` loading its submodules, which
    import each other by full name, is no cycle.
    """
    own = {importer.rsplit(".", i)[0] for i in range(importer.count(".") + 1)}
    loaded = []
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            ours = name in FILES or name == target  # the tests: a leaf
            if ours and name not in own and name not in loaded:
                loaded.append(name)
    return loaded


def imports_of(module):
    """Each first-party module ``module`` imports: {target: deferred?}."""
    path = FILES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if is_package(module) else module.rpartition(".")[0]
    edges = {}

    def visit(node, deferred):
        for child in ast.iter_child_nodes(node):
            inner = deferred or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            targets = []
            if isinstance(child, ast.Import):
                targets = [t for a in child.names for t in resolve(a.name, [])]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.rsplit(".", child.level - 1)[0]
                    base = f"{anchor}.{base}" if base else anchor
                targets = resolve(base, [a.name for a in child.names])
            for target in with_packages(targets, module):
                if target != module:
                    edges[target] = edges.get(target, True) and inner
            visit(child, inner)

    visit(tree, deferred=False)
    return edges


GRAPH = {module: imports_of(module) for module in FILES}


def cycles(graph):
    """
    One cycle per tangle (modules that all reach each other): the shortest
    from the tangle's first module back to it, as a list of modules.
    """
    index, low, stack, on_stack, tangles = {}, {}, [], set(), []

    def strongconnect(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                strongconnect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                tangles.append(component)

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)
    return [_a_cycle_in(graph, tangle) for tangle in tangles]


def _a_cycle_in(graph, tangle):
    """A path through ``tangle`` from its first module back to it."""
    start = min(tangle)
    paths = [[start]]
    while paths:
        path = paths.pop(0)
        for target in sorted(graph.get(path[-1], ())):
            if target == start:
                return [*path, start]
            if target in tangle and target not in path:
                paths.append([*path, target])
    raise AssertionError(f"no cycle through {sorted(tangle)}")


def show(found):
    return "\n".join(" -> ".join(cycle) for cycle in found)


def top(module):
    return module.split(".")[0]


def production_packages():
    """The Django apps, the project among them: packages with an apps.py."""
    return {top(m) for m, path in FILES.items() if path.name == "apps.py"}


def test_the_graph_covers_the_project_and_its_apps():
    assert {PROJECT, "accounts", "fake_patreon", "bench"} <= {top(m) for m in FILES}
    assert {PROJECT, "accounts"} <= production_packages()
    assert GRAPH[GUNICORN_CONF]["ventures.network"] is False  # loaded at its top


def test_no_module_imports_itself_back_even_through_a_deferred_import():
    assert cycles(GRAPH) == [], "import cycles:\n" + show(cycles(GRAPH))


def test_no_import_cycle_at_load_time():
    """Without the deferred imports: the order modules load in."""
    loading = {
        module: {t for t, deferred in edges.items() if not deferred}
        for module, edges in GRAPH.items()
    }
    assert cycles(loading) == [], "import cycles:\n" + show(cycles(loading))


def test_the_project_imports_no_app():
    wrong = [
        f"{module} -> {target}"
        for module, edges in GRAPH.items()
        if top(module) == PROJECT
        for target in edges
        if top(target) != PROJECT
    ]
    assert wrong == []


def test_production_code_imports_nothing_from_the_harness():
    production = production_packages()
    wrong = [
        f"{module} -> {target}"
        for module, edges in GRAPH.items()
        if top(module) in production or module == GUNICORN_CONF
        for target in edges
        if top(target) not in production
    ]
    assert wrong == []


def test_cycles_are_found_and_shown():
    """The tests above can fail: a planted cycle is found and printed."""
    graph = {"a": {"b": False}, "b": {"c": True}, "c": {"a": False}, "d": {}}
    assert show(cycles(graph)) == "a -> b -> c -> a"
