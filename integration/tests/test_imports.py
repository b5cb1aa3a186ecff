"""The harness's import graph (like tests/module_graph.rs for src/): no import cycle between the modules of
integration/harness and integration/scenarios, and scenario modules import helpers, never another scenario
module.  Every import counts, also one inside a function (such an import only hides a cycle)."""

from __future__ import annotations

import ast
import os
import unittest

INTEGRATION = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("harness", "scenarios")


def modules() -> dict:
    """{"harness.docker": path, …} for every .py file of the packages (a package's __init__ as its name)."""
    out = {}
    for pkg in PACKAGES:
        for name in sorted(os.listdir(os.path.join(INTEGRATION, pkg))):
            if name.endswith(".py"):
                mod = pkg if name == "__init__.py" else f"{pkg}.{name[:-3]}"
                out[mod] = os.path.join(INTEGRATION, pkg, name)
    return out


def imported(mod: str, tree: ast.AST, known) -> set:
    """The known modules MOD imports (absolute or relative, module or names from it)."""
    pkg = mod if mod in PACKAGES else mod.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            # `from harness import contract` names a module; `from harness.docker import X` names its module
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n and n != mod and n not in PACKAGES:
                found.add(n)
    return found


def graph() -> dict:
    mods = modules()
    out = {}
    for mod, path in mods.items():
        with open(path) as f:
            out[mod] = imported(mod, ast.parse(f.read(), path), mods)
    return out


def find_cycle(g: dict):
    """One cycle of G as [a, b, …, a], or None."""
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(g.get(node, ())):
            cycle = visit(nxt)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(g):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


class ImportGraph(unittest.TestCase):
    def test_reads_every_module(self):
        g = graph()
        self.assertIn("harness.helpers", g)
        self.assertIn("harness.docker", g["harness.podman"])
        self.assertIn("harness.helpers", g["scenarios.relay"], "`from harness.helpers import …` is an edge")

    def test_no_import_cycle(self):
        cycle = find_cycle(graph())
        self.assertIsNone(cycle, "import cycle: " + " → ".join(cycle or []))

    def test_scenarios_import_helpers_not_scenarios(self):
        for mod, deps in graph().items():
            if mod.startswith("scenarios."):
                others = sorted(d for d in deps if d.startswith("scenarios."))
                self.assertEqual(others, [], f"{mod} imports scenario modules {others}: move the shared "
                                             "code to harness.helpers")

    def test_the_checks_can_fail(self):
        self.assertEqual(find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}), ["a", "b", "c", "a"])
        self.assertIsNone(find_cycle({"a": {"b"}, "b": set()}))
        tree = ast.parse("def f():\n    from .engines import X\n")
        self.assertEqual(imported("harness.podman", tree, {"harness.engines", "harness.podman"}),
                         {"harness.engines"}, "an import inside a function counts")
        tree = ast.parse("from scenarios.core import boot\nfrom harness import contract as C\n")
        self.assertEqual(imported("scenarios.x", tree, {"scenarios.core", "harness.contract"}),
                         {"scenarios.core", "harness.contract"})


if __name__ == "__main__":
    unittest.main()
