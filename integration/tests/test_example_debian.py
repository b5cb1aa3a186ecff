"""examples/debian/Dockerfile against module/profile.json (no Docker, no root): python3 -m unittest discover -s integration/tests"""

from __future__ import annotations

import sys as _sys
_sys.dont_write_bytecode = True
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.dirname(HERE)
REPO = os.path.dirname(INTEGRATION)
sys.path.insert(0, INTEGRATION)

from harness.images import EXAMPLE_DOCKERFILE, profile_instructions  # noqa: E402


def instructions(text: str) -> list:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        cur += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            out.append(cur.strip())
            cur = ""
    return out


class ExampleDockerfileTest(unittest.TestCase):
    def test_image_settings_are_the_profiles(self):
        with open(os.path.join(REPO, "module", "profile.json")) as f:
            profile = json.load(f)
        with open(EXAMPLE_DOCKERFILE) as f:
            lines = instructions(f.read())
        want = profile_instructions(profile)
        keywords = {w.split()[0] for w in want}
        self.assertEqual(sorted(keywords), ["ENTRYPOINT", "ENV", "HEALTHCHECK", "LABEL", "STOPSIGNAL", "VOLUME"])
        got = [ln for ln in lines if ln.split()[0] in keywords]
        self.assertEqual(got, want)

    def test_base_and_packages(self):
        with open(EXAMPLE_DOCKERFILE) as f:
            lines = instructions(f.read())
        self.assertIn("FROM ${BASE}:${SUITE}", lines)
        self.assertIn("ARG BASE=debian", lines)
        run = [ln for ln in lines if ln.startswith("RUN ")]
        self.assertEqual(len(run), 1)
        for pkg in ("systemd", "systemd-sysv", "nixos2docker", "nixos2docker.pref", "[trusted=yes]"):
            self.assertIn(pkg, run[0])


if __name__ == "__main__":
    unittest.main()
