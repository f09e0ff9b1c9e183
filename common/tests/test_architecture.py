"""The direction of imports, beside the contracts of ``.importlinter`` (which ``make test`` checks):
no two modules import each other, even through others, and no module hides an import of the
project's own code inside a function (where a circle would go unseen)."""

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "api", "webhooks", "common", "membership", "points", "riskcontrol", "benefits", "mall", "subscriptions", "invitations")
# Function-level imports belong only where Django asks for them: an app's ``ready`` (the models are
# loaded by then), migrations (their historical models), and the tests.
ALLOWED = ("apps.py", "/migrations/", "/tests/", "conftest.py")


def _source_modules(graph) -> set[str]:
    return {m for m in graph.modules if ".tests" not in m and ".migrations" not in m}


def _cycles(graph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    assert _cycles(graph, _source_modules(graph)) == []


def test_the_cycle_check_finds_a_circle():
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c", "d"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    graph.add_import(importer="d", imported="a")
    assert _cycles(graph, {"a", "b", "c", "d"}) == [["a", "b", "c"]]


def _function_level_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith(".") or name.split(".")[0] in PACKAGES:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    return found


def test_the_project_code_imports_itself_at_module_level():
    paths = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    found = [line for p in paths if not any(part in p.as_posix() for part in ALLOWED) for line in _function_level_imports(p)]
    assert found == []
