"""Unit tests of the user-namespaced engines' pure parts (harness.userns): account files, the bind
wrapper, the engine list; the anchors table of harness.anchors."""

from __future__ import annotations

import sys as _sys
_sys.dont_write_bytecode = True
import os
import subprocess
import sys
import tempfile
import unittest

INTEGRATION = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, INTEGRATION)

from harness import engines as eng  # noqa: E402
from harness import userns  # noqa: E402


class AccountFilesTest(unittest.TestCase):
    def test_adds_accounts_and_keeps_the_roots_lines(self):
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "etc"))
            with open(os.path.join(root, "etc", "passwd"), "w") as f:
                f.write("root:x:0:0:root:/root:/bin/bash\ncontainers:x:999:999::/x:/bin/sh")  # no final newline
            files = userns.account_files(root, "/home/rl")
        lines = files["passwd"].splitlines()
        self.assertEqual(lines[0], "root:x:0:0:root:/root:/bin/bash")
        self.assertIn(f"{userns.ROOTLESS_USER}:x:{userns.ROOTLESS_UID}:{userns.ROOTLESS_UID}::/home/rl:/bin/sh",
                      lines)
        self.assertEqual([ln for ln in lines if ln.startswith("containers:")], ["containers:x:999:999::/x:/bin/sh"])
        self.assertTrue(any(ln.startswith("dockremap:") for ln in lines))
        self.assertIn(f"{userns.ROOTLESS_USER}:x:{userns.ROOTLESS_UID}:", files["group"].splitlines())
        self.assertEqual(files["subuid"], files["subgid"])
        ranges = sorted((int(a), int(a) + int(n)) for _, a, n in
                        (ln.split(":") for ln in files["subuid"].splitlines()))
        self.assertEqual(len(ranges), 3)
        for (_, end), (start, _) in zip(ranges, ranges[1:]):
            self.assertLessEqual(end, start)  # subordinate ranges never overlap
        self.assertGreater(ranges[0][0], 65535)  # nor the ids of the root's own accounts

    def test_bind_wrapper_binds_then_execs(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "src")
            open(src, "w").close()
            cmd = userns.bind_wrapper([(src, "/nonexistent/a b")], ["echo", "x"])
            self.assertEqual(cmd[-3:], ["--", "echo", "x"])
            # without root the mount fails and the command must not run
            if os.geteuid() != 0:
                p = subprocess.run(cmd, capture_output=True, text=True)
                self.assertNotEqual(p.returncode, 0)
                self.assertNotIn("x", p.stdout)

    def test_engines_registered(self):
        userns.register_engines()
        got = {n: (s.kind, s.userns) for n, s in eng.ENGINES.items() if s.userns}
        self.assertEqual(got, {"podman58-rootless": ("podman", "rootless"), "docker28-rootless": ("docker", "rootless"),
                               "docker28-userns": ("docker", "remap"), "podman58-userns": ("podman", "auto")})
        for n in got:
            self.assertIn(n, eng.parse_engines(["all"]))
            self.assertIs(eng.ENGINES[n].root, eng.SID_ROOT)
        for pkg in ("uidmap", "rootlesskit", "passt"):
            self.assertIn(pkg, eng.SID_ROOT.packages)

    def test_every_userns_engine_has_its_anchors(self):
        from harness.anchors import ANCHORS
        userns.register_engines()
        for s in eng.ENGINES.values():
            if s.userns:
                self.assertTrue(ANCHORS.get((s.kind, s.userns)), s.name)


if __name__ == "__main__":
    unittest.main()
