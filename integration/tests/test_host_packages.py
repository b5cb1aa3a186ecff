"""integration/host-packages names everything the test command installs and calls on the host: every package
the code installs (the harness's apt_install, patches/build's own install) and every command it looks for or
runs (`command -v X` in the shell scripts test-all runs, `which("X")` and the programs the harness starts).
integration/host-check then proves on pristine Debian 12 and 13 that the packages give the commands."""

from __future__ import annotations

import ast
import glob
import importlib.machinery
import importlib.util
import os
import re
import unittest

INTEGRATION = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(INTEGRATION)
# The shell scripts of the test command (.ci/run → test-all → module/check; the harness runs patches/build).
SCRIPTS = [".ci/run", "integration/test-all", "module/check", "patches/build"]
# Calls whose first argument is a host command line (harness.util.run/run_streaming, subprocess).
RUNNERS = {"run", "run_streaming", "Popen"}


def load_host_check():
    path = os.path.join(INTEGRATION, "host-check")
    loader = importlib.machinery.SourceFileLoader("host_check", path)
    spec = importlib.util.spec_from_loader("host_check", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def shell_needs(text: str) -> tuple:
    """(commands looked for with `command -v`, packages installed as `missing+=(PKG)`) in a shell script."""
    cmds = set(re.findall(r"command -v ([A-Za-z0-9_.+-]+)", text))   # not `command -v "$var"`
    pkgs = set(re.findall(r"missing\+=\(([a-z0-9.+-]+)\)", text))
    return cmds, pkgs


def python_needs(source: str) -> tuple:
    """(host commands, packages) of harness code: which("X"), apt_install([...]), and the first word of a
    literal command line given to run/run_streaming/Popen (also `PREFIX + [...]`: the list's first word
    when nothing stands before it)."""
    cmds, pkgs = set(), set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        arg = node.args[0]
        if name == "which" and isinstance(arg, ast.Constant):
            cmds.add(arg.value)
        elif name == "apt_install" and isinstance(arg, ast.List):
            pkgs.update(e.value for e in arg.elts if isinstance(e, ast.Constant))
        elif name in RUNNERS:
            while isinstance(arg, ast.BinOp):
                arg = arg.left
            if isinstance(arg, ast.List) and arg.elts and isinstance(arg.elts[0], ast.Constant):
                cmds.add(arg.elts[0].value)
    return cmds, pkgs


class HostPackages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hc = load_host_check()
        cls.entries = cls.hc.read_list()
        cls.commands = {c for _, cmds, _, _ in cls.entries for c in cmds}
        cls.packages = set(cls.hc.packages(cls.entries))

    def test_the_list_parses_and_cargo_is_the_one_command_from_outside_debian(self):
        outside = [(p, cmds) for p, cmds, debian, _ in self.entries if not debian]
        self.assertEqual(outside, [("rustup", ["cargo"])])
        self.assertIn("pyflakes3", self.packages, "the command pyflakes3 is the package pyflakes3 on Debian 12/13")
        self.assertNotIn("python3-pyflakes", self.packages)

    def test_the_shell_scripts_need_only_listed_things(self):
        for rel in SCRIPTS:
            with open(os.path.join(REPO, rel)) as f:
                cmds, pkgs = shell_needs(f.read())
            self.assertEqual(sorted(cmds - self.commands), [], f"{rel} looks for commands host-packages lacks")
            self.assertEqual(sorted(pkgs - self.packages), [], f"{rel} installs packages host-packages lacks")

    def test_the_harness_needs_only_listed_things(self):
        for path in sorted(glob.glob(os.path.join(INTEGRATION, "harness", "*.py"))):
            with open(path) as f:
                cmds, pkgs = python_needs(f.read())
            rel = os.path.relpath(path, REPO)
            self.assertEqual(sorted(cmds - self.commands), [], f"{rel} runs commands host-packages lacks")
            self.assertEqual(sorted(pkgs - self.packages), [], f"{rel} installs packages host-packages lacks")

    def test_the_install_list_is_read_from_the_one_list(self):
        for rel in ("integration/test-all", ".ci/run"):
            with open(os.path.join(REPO, rel)) as f:
                text = f.read()
            if rel == "integration/test-all":
                self.assertIn("integration/host-packages", text, rel)
            self.assertNotRegex(text, r"apt-get install[^\n]*(docker\.io|mmdebstrap|nix-bin)", f"{rel}: a second list")

    def test_the_checks_can_fail(self):
        cmds, pkgs = python_needs('which("ip")\nctx.apt_install(["iproute2"])\n'
                                  'run(self.prefix + ["nsenter", "-t"], timeout=1)\nrun(["jq", "."], timeout=1)\n')
        self.assertEqual((cmds, pkgs), ({"ip", "jq"}, {"iproute2"}))
        cmds, pkgs = shell_needs('command -v jq >/dev/null || missing+=(jq)\ncommand -v "$tool"\n')
        self.assertEqual((cmds, pkgs), ({"jq"}, {"jq"}))
        self.assertEqual(self.hc.missing_in([("p", ["a", "b"], True, None), ("x", ["c"], False, None)], {"a"}),
                         [("b", "p")])
        entries = [("a", [], True, None), ("b", [], True, ["trixie"])]
        self.assertEqual((self.hc.packages(entries, "bookworm"), self.hc.packages(entries, "trixie")),
                         (["a"], ["a", "b"]))


if __name__ == "__main__":
    unittest.main()
