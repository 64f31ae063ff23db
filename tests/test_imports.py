"""The package's modules import each other without cycles (module-level imports).

Two cycles remain inside the primitive layer and are listed here as known debt: each
primitive's rules are written with its family's neighbours' operations (elementwise rules use
shape operations and the other way round), and the Taylor series of the matrix functions use
the decompositions they differentiate. They are harmless at import time (the modules only
build closures while loading, and ops/batch_rules.py and ops/series.py import their
neighbours last), but a new cycle anywhere fails this test.
"""
import ast
import os

import chainrule

ROOT = os.path.dirname(chainrule.__file__)

KNOWN_CYCLES = [
    {"chainrule.ops.batch_rules", "chainrule.ops.elementwise", "chainrule.ops.reductions",
     "chainrule.ops.series", "chainrule.ops.shape"},
    {"chainrule.ops.decompositions", "chainrule.ops.linalg_series"},
]


def _modules():
    mods = {}
    for d, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                name = "chainrule." + os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                mods[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
    mods["chainrule"] = mods.pop("chainrule.__init__", os.path.join(ROOT, "__init__.py"))
    return mods


def _targets(mods, mod, node):
    package = mod if mods[mod].endswith("__init__.py") else mod.rsplit(".", 1)[0]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = package
    for _ in range(max(node.level - 1, 0)):
        base = base.rsplit(".", 1)[0]
    target = node.module if not node.level else (base + "." + node.module if node.module else base)
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names]


def _cycles():
    mods = _modules()
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        with open(path) as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:                          # what runs when the module loads
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges[m].update(t for t in _targets(mods, m, node) if t in mods and t != m)
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):                                       # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)
    for v in mods:
        if v not in index:
            visit(v)
    return found, edges


def test_no_import_cycles_beyond_the_known_ones():
    found, _ = _cycles()
    new = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    assert not new, f"import cycles among chainrule's modules: {new}"


def test_lower_layers_do_not_import_upper_ones():
    _, edges = _cycles()
    upper = ("chainrule.api", "chainrule.numpy", "chainrule.scipy", "chainrule.symbolic",
             "chainrule.fd", "chainrule.tour", "chainrule.bench", "chainrule.cli", "chainrule.jacobians")
    for low in ("chainrule.core", "chainrule.rules", "chainrule.interpreters.batching",
                "chainrule.interpreters.jvp", "chainrule.interpreters.vjp",
                "chainrule.interpreters.taylor", "chainrule.interpreters.staging"):
        bad = [t for t in edges[low] if t.startswith(upper)]
        assert not bad, f"{low} imports {bad}"
    for m, ts in edges.items():
        if m.startswith("chainrule.ops"):
            assert not [t for t in ts if not t.startswith(("chainrule.ops", "chainrule.core",
                                                           "chainrule.rules"))], m
