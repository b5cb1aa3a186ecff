"""Every older patch series against the newest one, its source (patches/sync --check)."""
import os
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

    def test_retarget_keeps_the_revision(self):
        self.assertEqual(self.sync.retarget("x NIXOS2DOCKER_PATCHED_SYSTEMD=262.3 y", "257"),
                         "x NIXOS2DOCKER_PATCHED_SYSTEMD=257.3 y")


if __name__ == "__main__":
    unittest.main()
