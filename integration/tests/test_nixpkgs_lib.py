"""module/check's third way to nixpkgs' lib: the pinned download (module/fetch-nixpkgs-lib)."""
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FETCH = os.path.join(REPO, "module", "fetch-nixpkgs-lib")
CHECK = os.path.join(REPO, "module", "check")


def tarball(path, files):
    with tarfile.open(path, "w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


class FetchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.env = dict(os.environ)
        self.env.pop("NIXPKGS_LIB", None)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_fetch(self, url, *args):
        env = dict(self.env, NIXOS2DOCKER_NIXPKGS_LIB_URL=url)
        return subprocess.run([FETCH, *args], capture_output=True, text=True, env=env)

    def test_the_tree_hash_is_the_documented_one(self):
        root = os.path.join(self.tmp, "t")
        os.makedirs(os.path.join(root, "lib"))
        open(os.path.join(root, "lib", "default.nix"), "w").write("{ }\n")
        line = f"lib/default.nix f {hashlib.sha256(b'{ }' + bytes([10])).hexdigest()}\n"
        r = subprocess.run([FETCH, "--hash", root], capture_output=True, text=True)
        self.assertEqual(r.stdout.strip(), hashlib.sha256(line.encode()).hexdigest())

    def test_a_tree_that_is_not_the_pinned_one_is_not_installed(self):
        archive = os.path.join(self.tmp, "lib.tar.gz")
        tarball(archive, {"nixpkgs.lib-x/lib/default.nix": b"{ }\n"})
        dest = os.path.join(self.tmp, "cache", "nixpkgs-lib")
        r = self.run_fetch("file://" + archive, dest)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not the pinned", r.stderr)
        self.assertFalse(os.path.exists(dest))

    def test_a_failed_download_names_the_url(self):
        url = "file://" + os.path.join(self.tmp, "absent.tar.gz")
        r = self.run_fetch(url, os.path.join(self.tmp, "dest"))
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"download of {url} failed", r.stderr)

    def test_module_check_names_all_three_ways(self):
        if shutil.which("nix-instantiate") is None:
            self.fail("nix-instantiate not found (Debian: apt-get install nix-bin); module/check needs it")
        env = dict(self.env, NIXOS2DOCKER_CACHE=os.path.join(self.tmp, "cache"),
                   NIXOS2DOCKER_NIXPKGS_LIB_URL="file://" + os.path.join(self.tmp, "absent.tar.gz"))
        r = subprocess.run([CHECK], capture_output=True, text=True, env=env, cwd=REPO)
        self.assertEqual(r.returncode, 1)
        pin = json.load(open(os.path.join(REPO, "module", "nixpkgs-lib.json")))
        for expected in ("1. $NIXPKGS_LIB: not set", "2. the cache copy", f"3. the pinned download of {pin['repo']}@{pin['rev']}"):
            self.assertIn(expected, r.stderr)


if __name__ == "__main__":
    unittest.main()
