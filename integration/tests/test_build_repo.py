"""Tests of packaging/build-repo's pure parts (no Docker, no root): python3 -m unittest discover -s integration/tests"""

from __future__ import annotations

import sys as _sys
_sys.dont_write_bytecode = True
import importlib.machinery
import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.dirname(HERE)
REPO = os.path.dirname(INTEGRATION)


def load_build_repo():
    path = os.path.join(REPO, "packaging", "build-repo")
    loader = importlib.machinery.SourceFileLoader("build_repo", path)
    spec = importlib.util.spec_from_loader("build_repo", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class BuildRepoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = load_build_repo()

    def test_exact_relations_follow_the_rebuilt_versions(self):
        versions = {"libsystemd0": ("262.1-1", "262.1-1+n2d262.3"),
                    "libsystemd-shared": ("262.1-1", "262.1-1+n2d262.3")}
        dep = "libblkid1, libsystemd0 (= 262.1-1), libc6 (>= 2.34), libsystemd-shared (= 262.1-1) | foo"
        self.assertEqual(self.m.rewrite_relations(dep, versions),
                         "libblkid1, libsystemd0 (= 262.1-1+n2d262.3), libc6 (>= 2.34), "
                         "libsystemd-shared (= 262.1-1+n2d262.3) | foo")
        # a relation to another version, or to a package not rebuilt, stays
        self.assertEqual(self.m.rewrite_relations("libudev1 (= 262.1-1), libsystemd0 (= 1)", versions),
                         "libudev1 (= 262.1-1), libsystemd0 (= 1)")
        prov = "systemd-sysusers (= 262.1-1), systemd-tmpfiles (= 262.1-1)"
        self.assertEqual(self.m.rewrite_relations(prov, versions, ("262.1-1", "262.1-1+n2d262.3")),
                         "systemd-sysusers (= 262.1-1+n2d262.3), systemd-tmpfiles (= 262.1-1+n2d262.3)")

    def test_version_sorts_above_debians_and_below_a_point_release(self):
        import subprocess
        def gt(a, b):
            return subprocess.run(["dpkg", "--compare-versions", a, "gt", b]).returncode == 0
        self.assertTrue(gt("262.1-1+n2d262.3", "262.1-1"))
        self.assertTrue(gt("257.13-1+n2d261.3", "257.13-1+n2d257.3"))
        self.assertTrue(gt("262.1-1.1", "262.1-1+n2d262.3"))  # the simulated point release

    def test_canonical_paths(self):
        self.assertEqual(self.m.canonical("./lib/systemd/systemd"), "usr/lib/systemd/systemd")
        self.assertEqual(self.m.canonical("./bin/systemctl"), "usr/bin/systemctl")
        self.assertEqual(self.m.canonical("usr/bin/systemctl"), "usr/bin/systemctl")

    def test_control_roundtrip(self):
        text = "Package: systemd\nVersion: 1\nDescription: x\n line\n .\n more\n"
        f = self.m.parse_control(text)
        self.assertEqual(self.m.format_control(f), text)
        self.m.fields_set(f, "Version", "2")
        self.assertEqual(self.m.fields_get(f, "version"), "2")

    def test_preferences_pin_the_version_suffix(self):
        pref = self.m.preferences(["systemd", "libsystemd0"])
        self.assertIn("Package: libsystemd0 systemd\n", pref)
        self.assertIn("Pin: version /\\+n2d[0-9.]+$/\n", pref)
        self.assertIn("Pin-Priority: 1001\n", pref)

    def test_series_rows(self):
        self.assertEqual(self.m.series_row("sid")["kind"], "sid-patched")
        self.assertEqual(self.m.series_row("trixie")["kind"], "trixie-patched")
        self.assertEqual(self.m.series_row("261.2")["suite"], "trixie")


if __name__ == "__main__":
    unittest.main()
