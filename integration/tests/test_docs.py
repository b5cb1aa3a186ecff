"""The generated docs and the facts in every Markdown file against their sources (docs/gen)."""
import os
import subprocess
import unittest

from scripts import REPO, load_script

GEN = os.path.join(REPO, "docs", "gen")


class DocsTest(unittest.TestCase):
    def setUp(self):
        self.gen = load_script("docs/gen", "docs_gen")

    def test_repository_docs_match_their_sources(self):
        r = subprocess.run([GEN], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_stale_marker_is_caught(self):
        v = self.gen.versions()[0]
        right = self.gen.marker(v["major"])
        wrong = f"{v['major']}.{int(right.split('.')[1]) + 1}"
        self.assertEqual(self.gen.stale_facts("x.md", f"marker `NIXOS2DOCKER_PATCHED_SYSTEMD={right}`\n"), [])
        problems = self.gen.stale_facts("x.md", f"text\nmarker `NIXOS2DOCKER_PATCHED_SYSTEMD={wrong}`\n")
        self.assertEqual(len(problems), 1)
        self.assertIn("x.md:2:", problems[0])
        self.assertEqual(len(self.gen.stale_facts("x.md", f"the marker {wrong} since then\n")), 1)

    def test_a_stale_patch_count_is_caught(self):
        v = self.gen.versions()[-1]
        n = len(self.gen.series(v["major"]))
        self.assertEqual(self.gen.stale_facts("x.md", f"`v{v['major']}/`, {n} patches\n"), [])
        self.assertEqual(len(self.gen.stale_facts("x.md", f"`v{v['major']}/`, {n + 1} patches\n")), 1)
        self.assertEqual(len(self.gen.stale_facts("x.md", f"{v['version']} ({n - 1} patches)\n")), 1)
        self.assertEqual(len(self.gen.stale_facts("x.md", "about 12 patches\n")), 1)  # no series named

    def test_generated_blocks_are_exempt_and_rewritten(self):
        doc = ("<!-- series:facts:begin (docs/gen --write) -->\nNIXOS2DOCKER_PATCHED_SYSTEMD=262.0 99 patches\n"
               "<!-- series:facts:end -->\n")
        self.assertEqual(self.gen.stale_facts("x.md", doc), [])
        filled = self.gen.fill(doc, "series:facts", "NEW")
        self.assertEqual(filled, "<!-- series:facts:begin (docs/gen --write) -->\n\nNEW\n\n<!-- series:facts:end -->\n")

    def test_the_engine_table_is_the_registry(self):
        doc = open(os.path.join(REPO, "integration", "README.md")).read()
        names = self.gen.engines()
        self.assertEqual(self.gen.listed_engines(doc), names)
        first = next(ln for ln in doc.split("\n") if ln.startswith(f"| `{names[-1]}`"))
        self.assertEqual(self.gen.listed_engines(doc.replace(first + "\n", "")), names[:-1])
        self.assertIsNone(self.gen.listed_engines("no table"))

    def test_crate_version(self):
        v = self.gen.crate_version()
        self.assertEqual(self.gen.stale_facts("x.md", f"nixos2docker_{v}_amd64.deb\n"), [])
        self.assertEqual(len(self.gen.stale_facts("x.md", "nixos2docker_0.0.0_amd64.deb\n")), 1)


class ResultsTest(unittest.TestCase):
    """docs/results.py: a harness result file → the kept file → the tables."""

    def test_tables_come_from_the_result_file(self):
        import json
        import sys
        import tempfile
        sys.path.insert(0, os.path.join(REPO, "docs"))
        import results
        run = {"run_id": "42", "started": "2026-12-01T10:00:00Z", "wall_s": 99.5, "ci_elapsed_s": 1800.0,
               "machine": {"hostname": "h", "cpus": 2, "cpu_model": "X", "memory_gib": 4, "kernel": "6.1",
                           "loadavg": ["1.0"], "commit": "abc"},
               "engines_selected": ["docker28"], "counts": {"passed": 2, "failed": 0, "skipped": 0},
               "engines": {"docker28": {"server_version": "28.5", "packages": {"runc": "1.3"}, "noise": "x"}},
               "scenarios": {
                   "docker28/patched-boot@sid-patched": {"engine": "docker28", "scenario": "patched-boot",
                                                         "image_kind": "sid-patched", "status": "pass",
                                                         "boot_s": 0.5, "stop_s": 0.2, "seconds": 3},
                   "docker28/workload@sid": {"engine": "docker28", "scenario": "workload", "image_kind": "sid",
                                             "status": "pass", "boot_s": 1.5, "stop_s": 0.4,
                                             "extra": {"modes": {"ours": {"rows": {
                                                 "nginx": {"active": [True, ""], "request": [False, "x"]}}}}}}}}
        with tempfile.TemporaryDirectory() as repo:
            os.makedirs(os.path.join(repo, "docs", "results"))
            with open(os.path.join(repo, "docs", "results", "r.json"), "w") as f:
                json.dump(results.condense(run), f)
            b = results.blocks(repo)
        self.assertIn("| 2026-12-01T10:00:00Z | [r.json](results/r.json) | abc |", b["results:runs"][0])
        self.assertIn("| 99.5 s | 1800 s (0.50) |", b["results:runs"][0])  # the whole CI, ratio to 60 min
        self.assertIn("server_version 28.5, runc 1.3", b["results:engines"][0])
        self.assertNotIn("noise", b["results:engines"][0])
        self.assertIn("| docker28 | `sid-patched` | 1 | 0.50 (0.50–0.50) | 0.20 (0.20–0.20) |",
                      b["results:boot-stop"][0])
        self.assertIn("| docker28/workload@sid | ours | 1/2 | nginx request |", b["results:workload"][0])

    def test_the_boot_bench_table(self):
        import json
        import sys
        import tempfile
        sys.path.insert(0, os.path.join(REPO, "docs"))
        import results
        bench = {"kind": "bench-boot", "started": "2026-12-01T10:00:00Z", "run_id": "x", "runs": 3,
                 "machine": {"hostname": "h"}, "engines": {"docker28": {"server_version": "28.5"}},
                 "podman": "5.8", "image": "sid", "left_out": [],
                 "boot_s": {"ours": [1.0, 2.0, 3.0], "wcg": [4.0, 4.0, 4.0]},
                 "stop_s": {"ours": [0.5, 0.5, 0.5], "wcg": [1.0, 1.0, 1.0]}}
        with tempfile.TemporaryDirectory() as repo:
            os.makedirs(os.path.join(repo, "docs", "results"))
            with open(os.path.join(repo, "docs", "results", "boot.json"), "w") as f:
                json.dump(bench, f)
            t = results.blocks(repo)["results:boot-bench"][0]
        self.assertIn("| ours | 2.00 (1.00–3.00) | 0.50 (0.50–0.50) | – | – |", t)
        self.assertIn("| wcg | 4.00 (4.00–4.00) | 1.00 (1.00–1.00) | 0.50 | 0.50 |", t)
        self.assertIn("engine docker28: server_version 28.5", t)

    def test_density_table_from_a_result_file(self):
        import json
        import sys
        import tempfile
        sys.path.insert(0, os.path.join(REPO, "docs"))
        import results
        bench = {"kind": "bench-density", "started": "2026-12-01T10:00:00Z", "run_id": "x", "n": 2,
                 "machine": {"hostname": "h"}, "engines": {"docker28": {"server_version": "28.5"}},
                 "modes": {"wcg": {"states": ["degraded", "degraded"], "all_up_s": 8.0, "pss_mib_mean": 150.0},
                           "ours": {"states": ["running", "running"], "all_up_s": 6.0, "pss_mib_mean": 180.0}}}
        with tempfile.TemporaryDirectory() as repo:
            os.makedirs(os.path.join(repo, "docs", "results"))
            with open(os.path.join(repo, "docs", "results", "density.json"), "w") as f:
                json.dump(bench, f)
            t = results.blocks(repo)["results:density"][0]
        rows = [ln for ln in t.splitlines() if ln.startswith("| 2026")]
        self.assertIn("| ours | running | 6.0 | 180.0 | – | – |", rows[0])  # ours first
        self.assertIn("| wcg | degraded | 8.0 | 150.0 | 0.75 | 1.20 |", rows[1])

    def test_first_run_and_preamble_tables_from_result_files(self):
        import json
        import sys
        import tempfile
        sys.path.insert(0, os.path.join(REPO, "docs"))
        import results
        first = {"kind": "bench-first-run", "started": "2026-12-03T02:00:00Z", "run_id": "x",
                 "machine": {"hostname": "h", "commit": "abc"}, "engines": {"docker28": {"server_version": "28.5"}},
                 "crates": "downloaded", "exit_code": 0, "demo_status": "pass", "whole_s": 324.0,
                 "target_s": 360.0, "ratio": 0.9,
                 "phases": {"cargo_build": {"seconds": 60.7, "ends_at_s": 61.2},
                            "systemd_build": {"seconds": 275.0}, "demo": {"seconds": 89.4, "ends_at_s": 320.5}}}
        pre = {"kind": "bench-preamble", "started": "2026-12-03T02:10:00Z", "run_id": "y",
               "machine": {"hostname": "h", "commit": "abc"}, "runs": 200, "inprocess_us": [300, 100, 200],
               "added_us": 500, "target_us": 1000, "binary_bytes": 786432, "target_bytes": 1572864}
        with tempfile.TemporaryDirectory() as repo:
            os.makedirs(os.path.join(repo, "docs", "results"))
            for name, doc in (("first-run.json", first), ("preamble.json", pre)):
                with open(os.path.join(repo, "docs", "results", name), "w") as f:
                    json.dump(doc, f)
            b = results.blocks(repo)
        self.assertIn("| 2026-12-03T02:00:00Z | abc | downloaded | 0 (pass) | 60.7 (ends at 61) | – | – | 275.0 | – "
                      "| 89.4 (ends at 320) | 324.0 | 360 | 0.90 |", b["results:first-run"][0])
        self.assertIn("docker28: server_version 28.5", b["results:first-run"][0])
        self.assertIn("| 2026-12-03T02:10:00Z | abc | 200 (100–300) | 500 (200) | 0.20, 0.50 | 786432 | 0.50 |",
                      b["results:preamble"][0])
        self.assertNotIn("first-run", b["results:runs"][0])  # a bench's file is no harness run
        self.assertEqual(results.BENCH_PREFIX["bench-first-run"], "first-run")


if __name__ == "__main__":
    unittest.main()
