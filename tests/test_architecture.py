"""The package's import graph: layers, cycles and private names.

Every module under ``keras_contrastive/`` is parsed (not imported), and every
``import`` statement in it, at module level or inside a function, is an edge
to the library module it names.  Lower layers never import upper ones, the
graph has no cycle, and no module reaches into another's private names.
"""
import ast
import os

import pytest

import keras_contrastive

PACKAGE = "keras_contrastive"
ROOT = os.path.dirname(os.path.abspath(keras_contrastive.__file__))

#: what each layer must never import (DESIGN.md: data flows one way)
FORBIDDEN = {
    "data": ("models", "evaluation", "export", "pretraining", "cli", "recipes", "callbacks"),
    "views": ("models", "evaluation", "export", "pretraining", "cli", "recipes", "callbacks"),
    "losses": ("models", "evaluation", "export", "pretraining", "cli", "recipes", "callbacks"),
    "backbones": ("models", "evaluation", "export", "pretraining", "cli", "recipes",
                  "callbacks"),
    "models": ("evaluation", "export", "pretraining", "cli", "recipes", "callbacks"),
}


def _modules(root=ROOT, package=PACKAGE):
    """``{module name: path}`` of every ``.py`` file of the package."""
    found = {}
    for folder, _, files in os.walk(root):
        relative = os.path.relpath(folder, root)
        parts = [package] + ([] if relative == "." else relative.split(os.sep))
        for name in files:
            if name.endswith(".py"):
                stem = name[:-3]
                module = ".".join(parts if stem == "__init__" else parts + [stem])
                found[module] = os.path.join(folder, name)
    return found


def _imported(module, path, modules):
    """``[(imported module, imported name or None, line)]`` of every import in
    ``path`` that names a library module (an imported name that is itself a
    module counts as that module)."""
    is_package = path.endswith("__init__.py")
    edges = []
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    edges.append((alias.name, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[:len(module.split(".")) - node.level + is_package]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            if source not in modules:
                continue
            for alias in node.names:
                child = f"{source}.{alias.name}"
                if child in modules:
                    edges.append((child, None, node.lineno))
                else:
                    edges.append((source, alias.name, node.lineno))
    return edges


def _graph(root=ROOT, package=PACKAGE):
    modules = _modules(root, package)
    return {module: _imported(module, path, modules) for module, path in modules.items()}


def _layer(module, package=PACKAGE):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def import_cycles(graph):
    """The import cycles of ``graph`` (each a list of modules, first repeated last)."""
    edges = {m: sorted({target for target, _, _ in imports if target != m})
             for m, imports in graph.items()}
    cycles, state, stack = [], {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in edges.get(module, ()):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return cycles


def layer_violations(graph, package=PACKAGE):
    """``"a imports b"`` lines for each import that FORBIDDEN refuses."""
    found = []
    for module, imports in graph.items():
        refused = FORBIDDEN.get(_layer(module, package), ())
        for target, _, line in imports:
            if _layer(target, package) in refused:
                found.append(f"{module} (line {line}) imports {target}")
    return sorted(set(found))


def private_imports(graph):
    """``"a imports b._c"`` lines for each private name imported from another
    module.  Internal modules (``_checks``, ``_numerics``: a leading
    underscore in the module's name) may be imported; their names may not
    start with one either."""
    found = []
    for module, imports in graph.items():
        for target, name, line in imports:
            if target == module:
                continue
            if name is not None and name.startswith("_") and not name.startswith("__"):
                found.append(f"{module} (line {line}) imports {target}.{name}")
    return sorted(set(found))


def test_the_package_has_no_import_cycle():
    assert import_cycles(_graph()) == []


def test_lower_layers_never_import_upper_ones():
    """data, views, losses and backbones never import models or anything
    downstream of them; models never import export, evaluation, the
    callbacks, pretraining, recipes or the CLI."""
    assert layer_violations(_graph()) == []


def test_no_module_imports_a_private_name_of_another():
    assert private_imports(_graph()) == []


@pytest.mark.parametrize("check, expected", [
    (import_cycles, [["pkg.a", "pkg.b", "pkg.a"]]),
    (layer_violations, ["pkg.losses.l (line 1) imports pkg.models.m"]),
    (private_imports, ["pkg.a (line 2) imports pkg.b._helper"]),
])
def test_the_checks_find_what_they_look_for(tmp_path, check, expected):
    """Each check reports a planted violation (so a pass above means something)."""
    root = tmp_path / "pkg"
    for folder in ("losses", "models"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("def f():\n    from pkg.b import _helper\n")
    (root / "b.py").write_text("import pkg.a\n_helper = 1\n")
    (root / "losses" / "l.py").write_text("from pkg.models import m\n")
    (root / "models" / "m.py").write_text("from pkg._internal import public\n")
    (root / "_internal.py").write_text("public = 1\n")
    graph = _graph(str(root), "pkg")
    found = check(graph, "pkg") if check is layer_violations else check(graph)
    assert found == expected
