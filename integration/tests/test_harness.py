"""Unit tests of the harness itself (no Docker, no root): python3 -m unittest discover -s integration/tests"""

from __future__ import annotations

import sys as _sys
_sys.dont_write_bytecode = True
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.dirname(HERE)
REPO = os.path.dirname(INTEGRATION)
sys.path.insert(0, INTEGRATION)

from harness import registry  # noqa: E402
from harness.docker import DOCKER_DEFAULT_CAPEFF, caps_mask, mask_names  # noqa: E402
from harness.images import ImageBuilder, kind_boot_flags, STOCK_RW_FLAGS, TMPFS_FLAGS  # noqa: E402
from harness.report import FAIL, PASS, SKIPPED, Result, counts, table  # noqa: E402
from scenarios.core import mentions, strip_tmpfs  # noqa: E402


class Ctx:
    def __init__(self, cache_dir):
        self.cache_dir = cache_dir
        self.run_id = "test"
        self.repo = REPO
        with open(os.path.join(REPO, "module", "profile.json")) as f:
            self.profile = json.load(f)


class CapsTest(unittest.TestCase):
    def test_docker_default_set(self):
        # Docker's documented default list; the hex value is what every Docker on Linux shows.
        self.assertEqual(DOCKER_DEFAULT_CAPEFF, 0xA80425FB)
        self.assertEqual(len(mask_names(DOCKER_DEFAULT_CAPEFF)), 14)
        self.assertNotIn("CAP_SYS_ADMIN", mask_names(DOCKER_DEFAULT_CAPEFF))

    def test_mask_roundtrip(self):
        names = ["CAP_SYS_ADMIN", "CAP_BPF", "CAP_CHOWN"]
        self.assertEqual(sorted(mask_names(caps_mask(names))), sorted(names))


class FlagsTest(unittest.TestCase):
    def test_strip_tmpfs(self):
        self.assertEqual(strip_tmpfs(TMPFS_FLAGS + STOCK_RW_FLAGS), STOCK_RW_FLAGS)
        self.assertEqual(strip_tmpfs(["--tmpfs=/run", "--init"]), ["--init"])

    def test_boot_flags(self):
        stock = registry.IMAGE_KINDS["sid"]
        patched = registry.IMAGE_KINDS["sid-patched"]
        self.assertEqual(kind_boot_flags(stock), TMPFS_FLAGS + STOCK_RW_FLAGS)
        self.assertEqual(kind_boot_flags(patched), TMPFS_FLAGS)

    def test_mentions(self):
        self.assertTrue(mentions("fix: add --tmpfs /run", ["--TMPFS /run"]))
        self.assertFalse(mentions("nothing", ["--init"]))


class RegistryTest(unittest.TestCase):
    def test_duplicate_rejected_and_replace(self):
        sc = registry.Scenario("t-dup", lambda *a: None, ["sid"])
        registry.register_scenario(sc)
        try:
            with self.assertRaises(ValueError):
                registry.register_scenario(registry.Scenario("t-dup", lambda *a: None, []))
            registry.register_scenario(registry.Scenario("t-dup", lambda *a: None, []), replace=True)
            self.assertEqual(registry.SCENARIOS["t-dup"].instances(), [("t-dup", None)])
            registry.add_images("t-dup", ["trixie", "trixie"])
            self.assertEqual(registry.SCENARIOS["t-dup"].images, ["trixie"])
        finally:
            registry.SCENARIOS.pop("t-dup", None)

    def test_builtin_scenarios_listed(self):
        import harness.cli
        harness.cli.load_scenario_modules()
        for name in ("stock-ro", "stock-rw", "no-tmpfs", "init-flag", "user-flag", "read-only",
                     "doctor", "exec-path", "restart"):
            self.assertIn(name, registry.SCENARIOS)
            self.assertIn("sid", registry.SCENARIOS[name].images)
            self.assertIn("trixie", registry.SCENARIOS[name].images)

    def test_opt_in_scenario_runs_only_when_named(self):
        import argparse
        import harness.cli
        registry.register_scenario(registry.Scenario("t-opt", lambda *a: None, ["sid"], default=False))
        try:
            args = argparse.Namespace(images=None, scenarios=[])
            self.assertNotIn("t-opt", [sc.name for sc, _, _ in harness.cli.select(args)])
            args.scenarios = ["t-opt"]
            self.assertEqual([key for _, key, _ in harness.cli.select(args)], ["t-opt@sid"])
            registry.register_scenario(registry.Scenario("t-opt", lambda *a: None, ["sid", "trixie"],
                                                         default=["sid"]), replace=True)
            self.assertEqual([key for _, key, _ in harness.cli.select(argparse.Namespace(
                images=None, scenarios=[], engine=None)) if key.startswith("t-opt")], ["t-opt@sid"])
            self.assertEqual([key for _, key, _ in harness.cli.select(args)], ["t-opt@sid", "t-opt@trixie"])
        finally:
            registry.SCENARIOS.pop("t-opt", None)


class ImagesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.ctx = Ctx(self.tmp.name)
        self.b = ImageBuilder(self.ctx)
        self.b._start_interval = True  # an engine with API >= 1.44 (no daemon asked)

    def tearDown(self):
        self.tmp.cleanup()

    def test_rootfs_key_ignores_order_not_content(self):
        k = self.b.rootfs_key("sid", ["systemd", "dbus"])
        self.assertEqual(k, self.b.rootfs_key("sid", ["dbus", "systemd"]))
        self.assertNotEqual(k, self.b.rootfs_key("trixie", ["systemd", "dbus"]))
        self.assertNotEqual(k, self.b.rootfs_key("sid", ["systemd", "dbus", "procps"]))

    def test_dockerfile_from_profile(self):
        img = self.ctx.profile["image"]
        df = self.b.dockerfile("n2d-base:sid-x", ["overlay0.tar"], True, registry.IMAGE_KINDS["sid"])
        lines = df.splitlines()
        self.assertEqual(lines[0], "FROM n2d-base:sid-x")
        self.assertIn("ADD overlay0.tar /", lines)
        self.assertIn("ADD nixos2docker-layer.tar /", lines)
        self.assertIn('ENTRYPOINT ["/init"]', lines)
        self.assertIn(f"STOPSIGNAL {img['stopSignal']}", lines)
        self.assertIn('VOLUME ["/run", "/run/lock", "/tmp"]', lines)
        hc = [ln for ln in lines if ln.startswith("HEALTHCHECK ")]
        self.assertEqual(len(hc), 1, df)
        self.assertIn('CMD ["nixos2docker", "wait", "--timeout", "0"]', hc[0])
        self.assertIn("--start-interval=1s", hc[0])
        self.b._start_interval = False  # Docker < 25 rejects the flag
        old = self.b.dockerfile("n2d-base:sid-x", [], True, registry.IMAGE_KINDS["sid"])
        self.assertNotIn("--start-interval", old)
        self.assertIn("--start-period=90s", old)
        self.assertIn(f'PATH={json.dumps(img["env"]["PATH"])}', df)
        self.assertIn('"org.nixos2docker.systemd"="true"', df)
        novol = self.b.dockerfile("b", [], False, registry.IMAGE_KINDS["sid"])
        self.assertNotIn("VOLUME", novol)

    def test_a_patched_image_reports_the_systemd_its_repository_installs(self):
        repo = os.path.join(self.tmp.name, "repo")
        os.makedirs(repo)
        with open(os.path.join(repo, "Packages"), "w") as f:
            f.write("Package: libsystemd0\nVersion: 1\n\nPackage: systemd\nVersion: 262.1-1+n2d262.5\n"
                    "Architecture: amd64\n\n")
        kind = registry.IMAGE_KINDS["sid-patched"]
        self.b._repos[kind.systemd] = repo
        img = type("Img", (), {"kind": kind, "rootfs": os.path.join(self.tmp.name, "none.tar")})()
        self.assertEqual(self.b.image_systemd_version(img), "262.1-1+n2d262.5")
        stock = type("Img", (), {"kind": registry.IMAGE_KINDS["sid"], "rootfs": img.rootfs})()
        self.assertEqual(self.b.image_systemd_version(stock), self.b.systemd_version(img.rootfs))

    def test_cache_state_is_cold_only_when_nothing_can_be_reused(self):
        from harness.cli import cache_state
        self.assertTrue(cache_state(os.path.join(self.tmp.name, "missing"))["cold"])
        os.makedirs(os.path.join(self.tmp.name, "logs", "x"))  # logs are not reused
        self.assertTrue(cache_state(self.tmp.name)["cold"])
        os.makedirs(os.path.join(self.tmp.name, "systemd", "ccache"))
        st = cache_state(self.tmp.name)
        self.assertFalse(st["cold"])
        self.assertEqual(st["systemd"], 1)

    def test_systemd_is_built_ahead_for_every_patched_version_in_run_order(self):
        from harness.images import ahead_versions
        fake = {"t-a": "252.39", "t-b": "257.13"}
        for name, version in fake.items():
            registry.IMAGE_KINDS[name] = registry.ImageKind(name=name, suite="sid", systemd=version, patched=True,
                                                            description="test")
        try:
            kinds = ["sid", "sid-patched", "trixie", "t-a", "sid-patched", "t-b", "t-a"]
            self.assertEqual(ahead_versions(kinds), [registry.IMAGE_KINDS["sid-patched"].systemd, "252.39", "257.13"])
            self.assertEqual(ahead_versions(["sid", "trixie", "nonesuch"]), [])
        finally:
            for name in fake:
                del registry.IMAGE_KINDS[name]

    def test_binary_layer(self):
        binary = os.path.join(self.tmp.name, "bin")
        with open(binary, "wb") as f:
            f.write(b"\x7fELF fake")
        self.ctx.binary = binary
        out = os.path.join(self.tmp.name, "layer.tar")
        self.b._binary_layer(out)
        with tarfile.open(out) as t:
            m = {x.name: x for x in t}
            self.assertTrue(m["usr/local/bin/nixos2docker"].isreg())
            self.assertEqual(m["usr/local/bin/nixos2docker"].mode & 0o777, 0o755)
            self.assertEqual(m["usr/local/bin/nixos2docker"].uid, 0)
            self.assertTrue(m["init"].issym())
            self.assertEqual(m["init"].linkname, "/usr/local/bin/nixos2docker")

    def test_overlay_normalised_for_usrmerge(self):
        src = os.path.join(self.tmp.name, "o.tar.gz")
        with tarfile.open(src, "w:gz") as t:
            for name, kind in ((".", "dir"), ("./lib", "dir"), ("./lib/systemd", "dir"),
                               ("./lib/systemd/systemd", "file"), ("./usr/bin/x", "file"),
                               ("./sbin/init", "sym"), ("./lib/systemd/hard", "hard")):
                ti = tarfile.TarInfo(name)
                data = None
                if kind == "dir":
                    ti.type = tarfile.DIRTYPE
                elif kind == "sym":
                    ti.type, ti.linkname = tarfile.SYMTYPE, "/lib/systemd/systemd"
                elif kind == "hard":
                    ti.type, ti.linkname = tarfile.LNKTYPE, "./lib/systemd/systemd"
                else:
                    data = b"x"
                    ti.size = 1
                t.addfile(ti, io.BytesIO(data) if data else None)
        out = self.b.normalised_overlay(src)
        with tarfile.open(out) as t:
            m = {x.name: x for x in t}
        self.assertNotIn("lib", m)  # the /lib → usr/lib symlink of the image must survive
        self.assertIn("usr/lib/systemd/systemd", m)
        self.assertIn("usr/bin/x", m)
        self.assertIn("usr/sbin/init", m)
        self.assertEqual(m["usr/sbin/init"].linkname, "/lib/systemd/systemd")  # symlinks unchanged
        self.assertEqual(m["usr/lib/systemd/hard"].linkname, "usr/lib/systemd/systemd")
        self.assertEqual(self.b.normalised_overlay(src), out)  # cached


class PodmanBuildFlagsTest(unittest.TestCase):
    def test_nproc_capped_at_pid_max(self):
        import resource
        from unittest import mock
        from harness.images import podman_build_flags
        inf = resource.RLIM_INFINITY
        limits = {resource.RLIMIT_NOFILE: (1024, 20000), resource.RLIMIT_NPROC: (96362, 96362)}
        with mock.patch("resource.getrlimit", lambda r: limits[r]):
            self.assertEqual(podman_build_flags(pid_max=32768), [
                "--format", "docker", "--ulimit", "nofile=1024:20000", "--ulimit", "nproc=32768:32768"])
            self.assertIn("nproc=96362:96362", podman_build_flags(pid_max=4194304))  # never raised
            limits[resource.RLIMIT_NPROC] = (100, inf)
            self.assertIn("nproc=100:32768", podman_build_flags(pid_max=32768))
            limits[resource.RLIMIT_NPROC] = (inf, inf)
            self.assertIn("nproc=32768:32768", podman_build_flags(pid_max=32768))


class RuncHostcapsTest(unittest.TestCase):
    def test_strips_caps_the_host_lacks(self):
        with open("/proc/self/status") as f:
            bnd = int([ln for ln in f if ln.startswith("CapBnd:")][0].split()[1], 16)
        with tempfile.TemporaryDirectory() as d:
            allcaps = mask_names((1 << 41) - 1)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump({"process": {"capabilities": {"bounding": allcaps, "effective": allcaps}}}, f)
            fake = os.path.join(d, "bin")
            os.mkdir(fake)
            with open(os.path.join(fake, "runc"), "w") as f:
                f.write("#!/bin/sh\necho \"$@\"\n")
            os.chmod(os.path.join(fake, "runc"), 0o755)
            env = dict(os.environ, PATH=fake + os.pathsep + os.environ["PATH"])
            p = subprocess.run([sys.executable, os.path.join(INTEGRATION, "harness", "runc-hostcaps"),
                                "--root", "/x", "create", "--bundle", d, "cid"],
                               capture_output=True, text=True, env=env, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.split(), ["--root", "/x", "create", "--bundle", d, "cid"])
            with open(os.path.join(d, "config.json")) as f:
                caps = json.load(f)["process"]["capabilities"]
            self.assertEqual(caps["bounding"], [n for n in allcaps if bnd >> caps_mask([n]).bit_length() - 1 & 1])


class WorkloadTest(unittest.TestCase):
    def test_config_tarball_cached_by_content(self):
        from scenarios import workload
        with tempfile.TemporaryDirectory() as tmp:
            a = workload.config_tarball(tmp)
            self.assertEqual(a, workload.config_tarball(tmp))
            with tarfile.open(a) as t:
                names = {m.name: m for m in t}
            self.assertIn("etc/postfix/main.cf", names)
            link = names["etc/systemd/system/sockets.target.wants/systemd-journal-gatewayd.socket"]
            self.assertTrue(link.issym())
            self.assertTrue(all(m.uid == 0 and m.mtime == 0 for m in names.values()))

    def test_packages_and_kinds(self):
        from scenarios import workload
        pk = workload.workload_packages()
        self.assertEqual(pk[:3], ["systemd", "dbus", "procps"])
        self.assertGreaterEqual(len(workload.DAEMONS), 12)
        for kind in ("sid-workload", "trixie-workload", "sid-workload-patched", "trixie-workload-patched"):
            self.assertEqual(registry.IMAGE_KINDS[kind].packages, pk)

    def test_one_instance_per_patched_version(self):
        from harness.images import patched_versions
        from scenarios import workload
        sc = registry.SCENARIOS["workload"]
        self.assertEqual(len(workload.INSTANCES), len(patched_versions()))
        for kind in workload.INSTANCES:
            self.assertIn(kind, sc.images)
            self.assertTrue(sc.by_default(kind))
            ours = kind if registry.IMAGE_KINDS[kind].patched else kind + "-patched"
            self.assertTrue(registry.IMAGE_KINDS[ours].patched)
            self.assertIn(ours, workload.VERSION_OF)
        self.assertEqual(sorted(workload.VERSION_OF.values()), sorted(v for v, _, _ in patched_versions()))

    def test_engine_missing(self):
        from scenarios import workload
        from types import SimpleNamespace as NS
        wc = [m for m in workload.MODES if m.name == "stock-writable-cgroups"][0]
        ours = [m for m in workload.MODES if m.name == "ours"][0]

        def eng(kind, version):
            return NS(name=f"{kind}{version}", kind=kind, version=version, is_docker=kind == "docker",
                      version_at_least=lambda major: int(version.split(".")[0]) >= major)
        self.assertEqual(workload.engine_missing(NS(engine=eng("docker", "28.5.1")), wc), "")
        self.assertIn("engine missing", workload.engine_missing(NS(engine=eng("docker", "20.10.24")), wc))
        self.assertIn("engine missing", workload.engine_missing(NS(engine=eng("podman", "5.8.0")), wc))
        self.assertEqual(workload.engine_missing(NS(engine=eng("docker", "20.10.24")), ours), "")

    def test_tables(self):
        from scenarios import workload
        rows = {workload.SYSTEM_ROW: {"running": [True, ""]},
                "nginx": {c: [c != "stop", ""] for c in workload.CHECKS}}
        t = workload.mode_table(rows)
        self.assertRegex(t, r"nginx\s+pass\s+pass\s+pass\s+pass\s+FAIL")
        self.assertEqual(workload.passed(rows), (5, 6))
        s = workload.side_by_side({"ours": {"rows": rows}, "stock-rw": {"rows": {}}})
        self.assertIn("| nginx", s)
        self.assertIn("4/5 (fails: stop)", s)
        self.assertIn("not run", s)
        self.assertIn("**5/6**", s)


class ReportTest(unittest.TestCase):
    def test_status(self):
        r = Result("a@sid", "a", "sid")
        r.finish()
        self.assertEqual(r.status, FAIL)  # no check ran → fail, never a silent pass
        r = Result("b@sid", "b", "sid")
        r.check("x", True)
        r.finish()
        self.assertEqual(r.status, PASS)
        r2 = Result("c@sid", "c", "sid")
        r2.check("x", True)
        r2.check("y", False, "why")
        r2.finish()
        self.assertEqual(r2.status, FAIL)
        self.assertIn("y: why", r2.first_failure())
        r3 = Result("d", "d", None, status=SKIPPED, reason="no root")
        r3.finish()
        self.assertEqual(counts([r, r2, r3]), (1, 1, 1))
        self.assertIn("SKIPPED", table([r, r2, r3]))


if __name__ == "__main__":
    unittest.main()


class EnginesTest(unittest.TestCase):
    def test_parse_engines(self):
        from harness import engines as eng
        self.assertEqual(eng.parse_engines(None), [eng.DEFAULT_ENGINE])
        every = eng.parse_engines(["all"])
        self.assertEqual(sorted(every), sorted(set(eng.ENGINES) - set(eng.NOT_IN_ALL)))
        for n in ("docker28", "docker28-crun", "docker26", "docker20", "podman58", "podman43"):
            self.assertIn(n, every)  # `all` is the whole matrix (integration/test-all)
        self.assertEqual(every[0], eng.DEFAULT_ENGINE)  # the default engine runs first
        self.assertEqual(eng.parse_engines(["podman43,docker20", "docker20"]), ["docker20", "podman43"])
        with self.assertRaises(SystemExit):
            eng.parse_engines(["docker99"])

    def test_all_leaves_out_not_in_all_and_says_why(self):
        from unittest import mock
        from harness import engines as eng
        err = io.StringIO()
        with mock.patch.dict(eng.NOT_IN_ALL, {"podman43": "a reason"}), mock.patch("sys.stderr", err):
            every = eng.parse_engines(["all"])
            self.assertEqual(eng.parse_engines(["podman43"]), ["podman43"])  # named, it runs
        self.assertNotIn("podman43", every)
        self.assertIn("docker20", every)
        self.assertIn("leaves out podman43: a reason", err.getvalue())

    def test_matrix_has_the_required_engines(self):
        from harness import engines as eng
        kinds = {(e.kind, e.root.suite if e.root else "host", e.runtime) for e in eng.ENGINES.values()}
        for want in [("docker", "sid", None), ("docker", "sid", "crun"), ("docker", "trixie", None),
                     ("docker", "host", None), ("podman", "sid", None), ("podman", "host", None)]:
            self.assertIn(want, kinds)

    def test_root_key_depends_on_inputs(self):
        from harness.engines import EngineRoot
        a = EngineRoot("sid", ("docker.io", "runc"))
        self.assertEqual(a.key(), EngineRoot("sid", ("runc", "docker.io")).key())
        self.assertNotEqual(a.key(), EngineRoot("sid", ("docker.io",)).key())
        self.assertNotEqual(a.key(), EngineRoot("trixie", ("docker.io", "runc")).key())
        self.assertTrue(a.path("/c").startswith("/c/engines/sid-"))

    def test_runs_on(self):
        sc = registry.Scenario("x", lambda *a: None, ["sid", "sid-patched"], core=["sid-patched"])
        self.assertTrue(sc.runs_on("sid", "docker28", "docker28"))
        self.assertFalse(sc.runs_on("sid", "podman58", "docker28"))
        self.assertTrue(sc.runs_on("sid-patched", "podman58", "docker28"))
        only = registry.Scenario("y", lambda *a: None, ["sid"], engines=["docker28"])
        self.assertTrue(only.runs_on("sid", "docker28", "docker20"))
        self.assertFalse(only.runs_on("sid", "docker20", "docker20"))
        registry.add_core("z@sid")
        try:
            self.assertTrue(registry.Scenario("z", lambda *a: None, ["sid"]).runs_on("sid", "podman43", "docker28"))
        finally:
            registry.CORE_KEYS.discard("z@sid")

    def test_dpkg_versions(self):
        from harness.engines import dpkg_versions
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "var/lib/dpkg"))
            with open(os.path.join(d, "var/lib/dpkg/status"), "w") as f:
                f.write("Package: runc\nStatus: install ok installed\nVersion: 1.3.6\n\n"
                        "Package: crun\nStatus: deinstall ok config-files\nVersion: 1.2\n")
            self.assertEqual(dpkg_versions(d, ("runc", "crun")), {"runc": "1.3.6"})


class CrunHostcgroupTest(unittest.TestCase):
    def test_strips_resources_of_missing_controllers(self):
        path = os.path.join(INTEGRATION, "harness", "crun-hostcgroup")
        src = open(path).read().split("\nargs = sys.argv")[0]  # the functions, not the exec
        mod = {}
        exec(compile(src, path, "exec"), mod)
        res = {"pids": {"limit": -1}, "blockIO": {}, "memory": {"limit": 1}, "devices": [],
               "unified": {"pids.max": "max", "hugetlb.2MB.max": "1", "cgroup.freeze": "0"}}
        mod["strip"](res, {"hugetlb"})
        self.assertEqual(sorted(res), ["devices", "unified"])
        self.assertEqual(sorted(res["unified"]), ["cgroup.freeze", "hugetlb.2MB.max"])
        full = {"pids": {"limit": 10}, "blockIO": {}}
        mod["strip"](full, {"pids", "io"})
        self.assertEqual(sorted(full), ["blockIO", "pids"])  # nothing removed where controllers exist


class RunExpectsExitCode(unittest.TestCase):
    """util.run asserts exit 0 unless the caller names another code, or None for any."""

    def test_default_expects_zero(self):
        from harness.util import HarnessError, run
        self.assertTrue(run(["true"], timeout=10).ok)
        with self.assertRaises(HarnessError) as e:
            run(["false"], timeout=10)
        self.assertIn("expected exit 0", str(e.exception))

    def test_named_code_and_none(self):
        from harness.util import HarnessError, run
        self.assertEqual(run(["false"], timeout=10, expect=1).returncode, 1)
        self.assertEqual(run(["false"], timeout=10, expect=None).returncode, 1)
        with self.assertRaises(HarnessError):
            run(["true"], timeout=10, expect=1)
        with self.assertRaises(HarnessError):
            run(["sleep", "5"], timeout=0.2)  # a timeout is never exit 0


class ExpectedMarkerTest(unittest.TestCase):
    """apt-upgrade compares PID 1's marker with the one patch 0001 adds, not one its message names."""

    def test_the_added_marker_not_the_message(self):
        from scenarios.apt import expected_marker
        with tempfile.TemporaryDirectory() as repo:
            os.makedirs(os.path.join(repo, "patches", "v262"))
            with open(os.path.join(repo, "patches", "v262", "0001-core-add-a-marker.patch"), "w") as f:
                f.write('Subject: marker\n\n"NIXOS2DOCKER_PATCHED_SYSTEMD=262.5" in src/core/main.c\n---\n'
                        '+const char nixos2docker_patched_systemd[] = "NIXOS2DOCKER_PATCHED_SYSTEMD=262.6";\n')
            self.assertEqual(expected_marker(repo, "262"), "NIXOS2DOCKER_PATCHED_SYSTEMD=262.6")
