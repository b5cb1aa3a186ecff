"""Unit tests of the CRI client's pieces (no containerd, no root): the protobuf wire format, the manifest
reader, the messages built from examples/kubernetes/pod.yaml, the containerd configuration."""

from __future__ import annotations

import sys as _sys
_sys.dont_write_bytecode = True
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.dirname(HERE)
REPO = os.path.dirname(INTEGRATION)
sys.path.insert(0, INTEGRATION)

from harness import protowire as pw  # noqa: E402
from harness.containerd import cni_conflist, config_toml  # noqa: E402
from harness.cri import (DEFAULT_MASKED_PATHS, NODE, POD, PodRun, PodSpec, container_config,  # noqa: E402
                         parse_yaml, sandbox_config)

POD_YAML = os.path.join(REPO, "examples", "kubernetes", "pod.yaml")


class WireTest(unittest.TestCase):
    def test_varints(self):
        self.assertEqual(pw.varint(0), b"\x00")
        self.assertEqual(pw.varint(300), b"\xac\x02")          # the protobuf documentation's example
        self.assertEqual(len(pw.varint(-1)), 10)                # negative int64: ten bytes
        m = pw.Msg(pw.int64(3, -1) + pw.int64(7, 65536 * 160))
        self.assertEqual(m.int(3), -1)
        self.assertEqual(m.int32(3), -1)
        self.assertEqual(m.int(7), 65536 * 160)

    def test_defaults_left_out_and_sub_messages_kept(self):
        self.assertEqual(pw.int64(1, 0), b"")
        self.assertEqual(pw.string(1, ""), b"")
        self.assertEqual(pw.sub(5, pw.int64(1, 0)), b"\x2a\x00")  # Int64Value{0}: present, empty
        m = pw.Msg(pw.sub(5))
        self.assertTrue(m.has(5))
        self.assertEqual(m.sub(5).int(1), 0)

    def test_strings_maps_repeated(self):
        data = pw.message(pw.string(1, "ünï"), pw.repeated_string(2, ["a", "b"]),
                          pw.string_map(6, {"k2": "v2", "k1": "v1"}))
        m = pw.Msg(data)
        self.assertEqual(m.str(1), "ünï")
        self.assertEqual(m.strs(2), ["a", "b"])
        self.assertEqual(m.map(6), {"k1": "v1", "k2": "v2"})

    def test_truncated_input_is_an_error(self):
        with self.assertRaises(pw.WireError):
            pw.decode(b"\x0a\x05ab")
        with self.assertRaises(pw.WireError):
            pw.decode(b"\x08\x80")


class ManifestTest(unittest.TestCase):
    def test_yaml_subset(self):
        doc = parse_yaml("a: 1\nb:\n  - x\n  - { k: v, n: 2 }\n  - name: y  # comment\n    z: [\"q\", 'r', 3]\n"
                         "c: true\n")
        self.assertEqual(doc, {"a": 1, "b": ["x", {"k": "v", "n": 2}, {"name": "y", "z": ["q", "r", 3]}],
                               "c": True})

    def test_the_example_pod(self):
        s = PodSpec.load(POD_YAML)
        self.assertEqual(s.grace, 30)
        self.assertEqual([(v.path, v.medium) for v in s.volumes],
                         [("/run", "Memory"), ("/run/lock", "Memory"), ("/tmp", "Memory")])
        self.assertEqual(s.readiness_cmd, ["systemctl", "is-system-running", "--quiet"])
        self.assertEqual((s.readiness_period, s.readiness_timeout), (2, 1))
        self.assertEqual((s.run_as_user, s.privileged, s.cap_add), (0, False, []))
        self.assertTrue(s.host_users)


class MessagesTest(unittest.TestCase):
    def run_for(self, host_users: bool) -> PodRun:
        s = PodSpec.load(POD_YAML)
        s.host_users = host_users
        run = PodRun(s, log_dir="/logs", userns_base=65536 * 160)
        run.volume_dirs = {v.name: f"/pods/{v.name}" for v in s.volumes}
        return run

    def test_sandbox_user_namespace(self):
        m = pw.Msg(sandbox_config(self.run_for(False), cgroup_parent="/kubepods/besteffort/podX"))
        self.assertEqual(m.sub(1).str(1), "nixos2docker-example")
        linux = m.sub(8)
        self.assertEqual(linux.str(1), "/kubepods/besteffort/podX")
        ns = linux.sub(2).sub(1)
        self.assertEqual((ns.int(1), ns.int(2), ns.int(3)), (POD, 1, POD))  # network POD, pid CONTAINER, ipc POD
        userns = ns.sub(5)
        self.assertEqual(userns.int(1), POD)
        for mapping in (userns.sub(2), userns.sub(3)):
            self.assertEqual((mapping.int(1), mapping.int(2), mapping.int(3)), (65536 * 160, 0, 65536))
        self.assertEqual(pw.Msg(sandbox_config(self.run_for(True))).sub(8).sub(2).sub(1).sub(5).int(1), NODE)

    def test_user_namespace_mounts_are_idmapped(self):
        for host_users in (True, False):
            mounts = pw.Msg(container_config(self.run_for(host_users), "img")).subs(7)
            for mt in mounts:
                self.assertEqual(mt.has(6), not host_users)
                if not host_users:
                    self.assertEqual((mt.sub(6).int(1), mt.sub(6).int(3)), (65536 * 160, 65536))
                    self.assertEqual(mt.sub(7).int(1), 65536 * 160)

    def test_container(self):
        m = pw.Msg(container_config(self.run_for(True), "docker.io/library/img:t"))
        self.assertEqual(m.sub(2).str(1), "docker.io/library/img:t")
        self.assertEqual([(x.str(1), x.str(2)) for x in m.subs(7)],
                         [("/run", "/pods/run"), ("/run/lock", "/pods/run-lock"), ("/tmp", "/pods/tmp")])
        self.assertFalse(m.has(3) or m.has(4))  # the image's ENTRYPOINT, no command/args
        sec = m.sub(15).sub(2)
        self.assertTrue(sec.has(5))             # runAsUser: 0 is sent (Int64Value present)
        self.assertEqual(sec.sub(5).int(1), 0)
        self.assertEqual(sec.strs(13), DEFAULT_MASKED_PATHS)
        self.assertFalse(sec.int(2))            # not privileged
        self.assertEqual(sec.sub(15).int(1), 0)  # seccomp RuntimeDefault


class ContainerdConfigTest(unittest.TestCase):
    def test_config(self):
        text = config_toml("/state", "docker.io/library/n2d-pause:catatonit", restrict_oom=True)
        for want in ("version = 3", "address = '/state/containerd.sock'", "restrict_oom_score_adj = true",
                     "runtimes.runc]", "runtimes.crun]", "runc-hostcgroup'", "crun-hostcgroup'",
                     "sandbox = 'docker.io/library/n2d-pause:catatonit'", "SystemdCgroup = false"):
            self.assertIn(want, text)
        self.assertIn('"type": "loopback"', cni_conflist("/state"))

    def test_runc_wrapper_execs_runc(self):
        # invoked as runc-hostcgroup, the wrapper execs runc (a stub on PATH prints its name)
        with tempfile.TemporaryDirectory() as d:
            for rt in ("runc", "crun"):
                with open(os.path.join(d, rt), "w") as f:
                    f.write(f"#!/bin/sh\necho {rt} \"$@\"\n")
                os.chmod(os.path.join(d, rt), 0o755)
            env = dict(os.environ, PATH=d + ":" + os.environ.get("PATH", ""))
            for name, rt in (("runc-hostcgroup", "runc"), ("crun-hostcgroup", "crun")):
                out = subprocess.run([os.path.join(INTEGRATION, "harness", name), "--version"], env=env,
                                     capture_output=True, text=True, timeout=30).stdout
                self.assertEqual(out.strip(), f"{rt} --version")


if __name__ == "__main__":
    unittest.main()
