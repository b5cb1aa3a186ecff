"""crun-hostcgroup lowers OCI rlimits above the host's hard limits (no Docker, no root)."""

from __future__ import annotations

import sys as _sys
_sys.dont_write_bytecode = True
import os
import unittest

INTEGRATION = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wrapper_functions() -> dict:
    path = os.path.join(INTEGRATION, "harness", "crun-hostcgroup")
    src = open(path).read().split("\nargs = sys.argv")[0]  # the functions, not the exec
    mod: dict = {}
    exec(compile(src, path, "exec"), mod)
    return mod


class ClampRlimitsTest(unittest.TestCase):
    def test_lowered_to_the_hard_limit_never_raised(self):
        mod = wrapper_functions()
        mod["hard_limits"] = lambda: {"RLIMIT_NOFILE": 20000}
        mod["clamp_rlimits"].__globals__["hard_limits"] = mod["hard_limits"]
        proc = {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576},
                            {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}]}
        mod["clamp_rlimits"](proc)
        self.assertEqual(proc["rlimits"][0], {"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000})
        self.assertEqual(proc["rlimits"][1], {"type": "RLIMIT_CORE", "hard": 0, "soft": 0})
        low = {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}]}
        mod["clamp_rlimits"](low)
        self.assertEqual(low["rlimits"][0], {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512})

    def test_reads_proc_self_limits(self):
        limits = wrapper_functions()["hard_limits"]()
        self.assertIn("RLIMIT_NOFILE", limits)


if __name__ == "__main__":
    unittest.main()
