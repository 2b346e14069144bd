"""The package's modules form no import cycle, counting the imports inside functions too (a
cycle held together by function-level imports still means two modules that need each other),
and plpy is imported only by db.py."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pgml_py"


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path):
    """The pgml_py modules `path` imports anywhere in its code."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("pgml_py")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("pgml_py"):
                target = node.module
            else:
                continue
            for alias in node.names:  # `from . import x`: x may be a module
                candidate = target + "." + alias.name
                found.add(candidate if candidate in MODULES else target)
    return {m for m in found if m in MODULES and m != name}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def graph():
    # a package's __init__ is imported with each of its modules: leave it out as a target of
    # its own modules so `from . import x` inside the package is not a cycle through __init__
    return {name: {t for t in imports(path) if not name.startswith(t + ".")} for name, path in MODULES.items()}


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_walk_finds_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "pgml_py.errors" in graph()["pgml_py.api"]


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_only_db_imports_plpy():
    users = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and any(a.name == "plpy" for a in node.names):
                users.append(name)
    assert users == ["pgml_py.db"]
