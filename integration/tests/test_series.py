"""Every older patch series against the newest one, its source (patches/sync --check)."""
import difflib
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from scripts import REPO, load_script

SYNC = os.path.join(REPO, "patches", "sync")


class SeriesTest(unittest.TestCase):
    def setUp(self):
        self.sync = load_script("patches/sync", "patches_sync")
        self.tmp = tempfile.mkdtemp()
        self.here = os.path.join(self.tmp, "patches")
        shutil.copytree(os.path.join(REPO, "patches"), self.here,
                        ignore=shutil.ignore_patterns("resolutions"))
        self.source = self.sync.versions(self.here)[0][1]

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_every_series_is_in_sync_with_the_source(self):
        r = subprocess.run([SYNC, "--check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_the_hash_is_gits(self):
        name = self.sync.series(self.source, REPO + "/patches")[0]
        path = os.path.join(REPO, "patches", f"v{self.source}", name)
        git = subprocess.run(["git", "hash-object", path], capture_output=True, text=True, check=True).stdout.strip()
        self.assertEqual(self.sync.patch_hash(self.source, name, REPO + "/patches"), git)

    def test_a_changed_source_patch_makes_every_port_out_of_date(self):
        self.assertEqual(self.sync.check(here=self.here), [])
        name = self.sync.series(self.source, self.here)[-1]
        with open(os.path.join(self.here, f"v{self.source}", name), "a", encoding="utf-8") as f:
            f.write("\n")
        problems = self.sync.check(here=self.here)
        ports = [m for _, m, _ in self.sync.versions(self.here)[1:]]
        self.assertEqual(len(problems), len(ports), problems)
        for m, p in zip(ports, problems):
            self.assertIn(f"v{m}: v{self.source}'s {name} changed", p)

    def test_a_new_source_patch_is_not_ported(self):
        d = os.path.join(self.here, f"v{self.source}")
        shutil.copy(os.path.join(d, self.sync.series(self.source, self.here)[0]), os.path.join(d, "0099-new.patch"))
        with open(os.path.join(d, "series"), "a", encoding="utf-8") as f:
            f.write("0099-new.patch\n")
        self.assertTrue(all("0099-new.patch is not ported" in p for p in self.sync.check(here=self.here)))

    def test_a_patch_outside_the_record(self):
        major = self.sync.versions(self.here)[1][1]
        with open(os.path.join(self.here, f"v{major}", "series"), "a", encoding="utf-8") as f:
            f.write("0099-by-hand.patch\n")
        problems = self.sync.check(here=self.here)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("0099-by-hand.patch is in the series but not in ported-from", problems[0])

    def test_record_by_subject_reproduces_the_records(self):
        for _, major, _ in self.sync.versions(self.here)[1:]:
            _, rows = self.sync.read_record(major, self.here)
            self.assertEqual(self.sync.record_by_subject(major, self.source, self.here), rows)

    # A file of the source whose code an older version keeps elsewhere (v252: exec-invoke.c's code is in
    # execute.c): patches/paths maps it, and sync carries a change to it by its hunks' context.
    A = ["int a(void) {\n", "        x();\n", "        return 0;\n", "}\n", "\n"]
    MID = [f"int m{i}(void);\n" for i in range(8)] + ["\n"]
    B = ["int b(void) {\n", "        prepare();\n", "        FOREACH_ELEMENT(o, options)\n",
         "                if (o->lost) {\n", "                        y(o);\n", "                }\n",
         "        return 1;\n", "}\n"]
    B252 = ["int b(void) {\n", "        prepare();\n", "        for (size_t i = 0; i < ELEMENTSOF(options); i++)\n",
            "                if (options[i].lost) {\n", "                        y(options + i);\n",
            "                }\n", "        return 1;\n", "}\n"]
    COMMENT = "        /* named once */\n"
    CHANGED = "                if (o->lost && !z(o)) {\n"

    def texts(self):
        old = self.A + self.MID + self.B
        new = self.A[:2] + [self.COMMENT] + self.A[2:] + self.MID + self.B[:3] + [self.CHANGED] + self.B[4:]
        filler = [f"int filler{i}(void);\n" for i in range(30)] + ["\n"]
        target = filler + self.B252 + ["\n"] + self.A + ["int c(void);\n"]
        return old, new, target

    def test_the_path_map(self):
        paths = self.sync.read_paths(REPO + "/patches")
        self.assertEqual(paths.get("252"), {"src/core/exec-invoke.c": "src/core/execute.c"})
        ports = [m for _, m, _ in self.sync.versions(self.here)[1:]]
        self.assertTrue(set(paths) <= set(ports), paths)

        # Every port of a source patch that changes a mapped file changes the file it is mapped to.
        def files(major, name):
            with open(os.path.join(REPO, "patches", f"v{major}", name), encoding="utf-8") as f:
                return set(re.findall(r"^diff --git a/(\S+) ", f.read(), re.M))
        for major, m in paths.items():
            _, rows = self.sync.read_record(major, REPO + "/patches")
            for t, s, _ in rows:
                if t != "-" and s != "-":
                    want = {m[p] for p in files(self.source, s) if p in m}
                    self.assertTrue(want <= files(major, t), (major, t, want))

    def test_a_change_is_carried_to_the_mapped_file_by_its_context(self):
        old, new, target = self.texts()
        diff = "".join(difflib.unified_diff(old, new, "a/f", "b/f"))
        self.assertEqual([(h[0], len(h[1]), len(h[2])) for h in self.sync.hunks(diff)], [(1, 5, 6), (15, 7, 7)])
        merged, base, theirs, conflicts = self.sync.carry_hunks("".join(target), diff)
        self.assertEqual(conflicts, 1)
        lines = merged.splitlines(keepends=True)
        # The hunk whose context is the same lands in a(), which moved 40 lines down.
        at = lines.index("int a(void) {\n")
        self.assertEqual(lines[at:], self.A[:2] + [self.COMMENT] + self.A[2:] + ["int c(void);\n"])
        # The one whose lines differ is a conflict in b(), around the lines that differ only.
        start, end = lines.index("<<<<<<< target\n"), lines.index(">>>>>>> new source\n")
        self.assertEqual(lines[:start], target[:31 + 2])
        self.assertEqual(lines[start + 1:start + 4], self.B252[2:5])
        self.assertEqual(lines[end - 3:end], self.B[2:3] + [self.CHANGED] + self.B[4:5])
        self.assertEqual(lines[end + 1:at], self.B252[5:] + ["\n"])
        # The stages git rerere is given: the target with the old and with the new source lines in place.
        self.assertIn("".join(self.B[2:5]), base)
        self.assertIn("".join(self.B[2:3] + [self.CHANGED]), theirs)
        self.assertNotIn("<<<<<<<", base + theirs)
        # A change whose context is all there applies without a conflict.
        same = "".join(difflib.unified_diff(old, new[:3] + old[2:], "a/f", "b/f"))
        merged, _, _, conflicts = self.sync.carry_hunks("".join(target), same)
        self.assertEqual((conflicts, merged.count(self.COMMENT)), (0, 1))
        lines = merged.splitlines(keepends=True)
        at = lines.index("int a(void) {\n")
        self.assertEqual((at, lines[at:at + 3]), (len(target) - 6, self.A[:2] + [self.COMMENT]))

    def test_retarget_keeps_the_revision(self):
        self.assertEqual(self.sync.retarget("x NIXOS2DOCKER_PATCHED_SYSTEMD=262.3 y", "257"),
                         "x NIXOS2DOCKER_PATCHED_SYSTEMD=257.3 y")


if __name__ == "__main__":
    unittest.main()
