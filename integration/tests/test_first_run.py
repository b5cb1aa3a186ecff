"""benches/first-run: the phases read from a cold `integration/run demo`'s output and patches/build's logs."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scripts import load_script  # noqa: E402

bench = load_script("benches/first-run", "first_run")

# A cold run's output as integration/run prints it: the systemd build starts in the background first, the
# demo's lines and the harness's interleave.
OUTPUT = [
    (0.4, "integration: building systemd 262 with patches/build in the background (log /c/logs/patches-build-ahead.log)"),
    (0.5, "integration: cargo build --release (target dir /s/target, log /c/logs/cargo-build.log) …"),
    (61.2, "integration: built /s/target/release/nixos2docker in 60.7s"),
    (61.3, "integration: ==== engine docker28: Docker 28 (Debian sid docker.io)"),
    (140.0, "integration: sid engine root built in 78.6s: /c/engines/sid-abc"),
    (230.9, "integration: sid root filesystem built in 90.1s: /c/rootfs/sid-def"),
    (231.0, "integration: running patches/build --version 262 (log /c/logs/patches-build.log) …"),
    (300.0, "--- docker run -d --tmpfs /run --tmpfs /run/lock --tmpfs /tmp n2d-test:sid-patched"),
    (320.5, "integration: docker28/demo@sid-patched: PASS (89.4s)"),
    (321.0, "docker28/demo@sid-patched   pass   89.4s"),
]
AHEAD = """
==== Thu Dec  3 02:00:00 2026 patches/build --version 262 (ahead) ====
nixos2docker: patches/build: downloading https://example.org/systemd-262.tar.gz
nixos2docker: patches/build: creating sid build chroot with mmdebstrap from http://deb (cached as sid-1.tar.zst)
I: automatically chose mode: root
I: success in 101.2345 seconds
nixos2docker: patches/build: compiling (meson + ninja -j2 in the sid chroot)
nixos2docker: patches/build: built in 275 s: /c/systemd/k/systemd-262-nixos2docker.tar.gz
"""
WAITED = """
==== Thu Dec  3 02:03:51 2026 patches/build --version 262 ====
nixos2docker: patches/build: waiting for another patches/build run (lock /c/systemd/.build.lock)
nixos2docker: patches/build: cached (built meanwhile): /c/systemd/k/systemd-262-nixos2docker.tar.gz
"""


class FirstRunTest(unittest.TestCase):
    def test_phases_of_a_cold_run_with_the_background_build(self):
        p = bench.phases(OUTPUT, AHEAD + WAITED)
        self.assertEqual(list(p), ["cargo_build", "engine_root", "root_filesystem", "systemd_chroot",
                                   "systemd_build", "demo"])
        self.assertEqual(p["cargo_build"]["seconds"], 60.7)
        self.assertEqual(p["cargo_build"]["ends_at_s"], 61.2)
        self.assertEqual(p["engine_root"]["seconds"], 78.6)
        self.assertEqual(p["root_filesystem"]["seconds"], 90.1)
        self.assertEqual(p["systemd_chroot"]["seconds"], 101.2)
        self.assertEqual(p["systemd_build"], {"what": bench.WHAT["systemd_build"], "seconds": 275.0})
        self.assertEqual(p["demo"]["seconds"], 89.4)
        self.assertEqual(p["demo"]["ends_at_s"], 320.5)
        self.assertEqual(bench.background(OUTPUT), "262")
        self.assertEqual(bench.demo_status(OUTPUT), "pass")

    def test_a_failed_background_build_counts_the_image_builds_own(self):
        failed = AHEAD.replace("built in 275 s: /c/systemd/k/systemd-262-nixos2docker.tar.gz",
                               "error: meson failed")
        rebuilt = ("nixos2docker: patches/build: creating sid build chroot with mmdebstrap from http://deb\n"
                   "I: success in 7.0 seconds\nnixos2docker: patches/build: built in 180 s: /c/x.tar.gz\n")
        p = bench.phases(OUTPUT, failed + rebuilt)
        self.assertEqual(p["systemd_build"]["seconds"], 180.0)
        self.assertEqual(p["systemd_chroot"]["seconds"], 7.0)

    def test_what_is_missing_is_left_out(self):
        out = [(t, ln) for t, ln in OUTPUT if "engine root" not in ln and "demo@" not in ln]
        p = bench.phases(out, "")
        self.assertNotIn("engine_root", p)
        self.assertNotIn("demo", p)
        self.assertNotIn("systemd_build", p)
        self.assertIsNone(bench.demo_status(out))

    def test_the_result_file(self):
        harness = {"engines": {"docker28": {"server_version": "28.5"}}, "wall_s": 319.9,
                   "caches_at_start": {"cold": True}}
        r = bench.result("2026-12-03T02:00:00Z", {"hostname": "h"}, harness, OUTPUT, AHEAD, 324.0, 0,
                         "downloaded", ["1.00"])
        self.assertEqual((r["kind"], r["run_id"], r["whole_s"], r["target_s"]),
                         ("bench-first-run", "2026-12-03T020000Z", 324.0, 360.0))
        self.assertEqual(r["ratio"], 0.9)
        self.assertEqual(r["engines"], {"docker28": {"server_version": "28.5"}})
        self.assertEqual(r["systemd_built_in_background"], "262")


if __name__ == "__main__":
    unittest.main()
