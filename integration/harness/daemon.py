"""A Docker daemon with cgroup v2: the ambient one if it has v2, else a private dockerd.

Private daemon (root on a v1/hybrid host): ``unshare -m`` → make / rprivate → lazily unmount
/sys/fs/cgroup → mount cgroup2 there → exec dockerd with its own --data-root, --exec-root, socket and
pidfile under ``<cache>/docker`` and ``--bridge=none --iptables=false``.  dockerd is started in its
own session; it is stopped by PID (SIGTERM, then SIGKILL to its process group) at exit, also when the
harness fails or is interrupted.  An flock on ``<cache>/docker/lock`` keeps two harness runs from
sharing the data-root at the same time.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time

from .host import packages_giving
from .namespace import INFO_FORMAT, Namespace, start_dockerd
from .runtimes import HOSTCAPS_RUNTIME
from .util import HarnessError, Skip, is_root, log, run, which


class Daemon:
    def __init__(self, cache_dir: str, install: bool = True, lock_timeout: float = 1800,
                 start_timeout: float = 60):
        self.cache_dir = cache_dir
        self.install = install
        self.lock_timeout = lock_timeout
        self.start_timeout = start_timeout
        self.private = False
        self.ns: Namespace | None = None
        self.proc: subprocess.Popen | None = None   # the namespace's first process: dockerd
        self.env = dict(os.environ)
        self.info: dict = {}
        self.lock_fd = None
        self.dir = os.path.join(cache_dir, "docker")
        self.docker_bin = which("docker") or "docker"

    # -- discovery -------------------------------------------------------------------------
    def _query_info(self, env, timeout=20) -> dict | None:
        p = run([self.docker_bin, "info", "--format", INFO_FORMAT], timeout=timeout, env=env, expect=None)
        if not p.ok:
            return None
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None

    def ensure(self) -> None:
        """Make a cgroup-v2 daemon available or raise Skip (with the reason)."""
        if not which("docker") and not which("dockerd"):
            self._install_docker()
            self.docker_bin = which("docker") or "docker"
        info = self._query_info(self.env) if which("docker") else None
        if info and str(info.get("CgroupVersion")) == "2":
            log(f"using the existing Docker daemon ({self.env.get('DOCKER_HOST', 'default socket')}): "
                "cgroup v2")
            self.info = info
            return
        if info:
            log(f"the existing Docker daemon reports cgroup version {info.get('CgroupVersion')}: "
                "starting a private cgroup-v2 dockerd")
        if not is_root():
            raise Skip("no Docker daemon with cgroup v2, and starting a private dockerd needs root")
        if not which("unshare"):
            raise Skip("no Docker daemon with cgroup v2, and `unshare` (util-linux) is missing")
        if not which("dockerd"):
            self._install_docker()
        if not which("dockerd"):
            raise Skip("dockerd is not installed and could not be installed (apt-get install docker.io)")
        self.docker_bin = which("docker") or "docker"
        self._start_private()

    def _install_docker(self) -> None:
        if not self.install:
            raise Skip("docker is not installed (and --no-install was given)")
        if not is_root() or not which("apt-get"):
            raise Skip("docker is not installed and cannot be installed here (needs root + apt-get)")
        pkgs = packages_giving(["docker", "dockerd"])   # docker.io, and docker-cli from Debian 13 on
        log(f"installing Debian's {' '.join(pkgs)} with apt-get …")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-q"], timeout=600, env=env, expect=None)
        p = run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                 "-o", "DPkg::Lock::Timeout=600"] + pkgs, timeout=1200, env=env, expect=None)
        if not p.ok:
            raise Skip(f"apt-get install {' '.join(pkgs)} failed:\n" + p.describe())

    # -- private daemon ----------------------------------------------------------------------
    def _lock(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        self.lock_fd = open(os.path.join(self.dir, "lock"), "w")
        deadline = time.monotonic() + self.lock_timeout
        said = False
        while True:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not said:
                    log(f"another integration/run holds {self.dir}/lock; waiting "
                        f"(up to {self.lock_timeout:.0f}s)")
                    said = True
                if time.monotonic() > deadline:
                    raise HarnessError(f"timed out waiting for {self.dir}/lock")
                time.sleep(2)

    def _kill_stale(self, pidfile: str) -> None:
        try:
            pid = int(open(pidfile).read().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            os.unlink(pidfile)
            return
        if cmdline and os.path.basename(cmdline[0].decode()) == "dockerd" and \
                self.dir.encode() in b" ".join(cmdline):
            log(f"stopping a stale private dockerd (pid {pid}) left by an earlier run")
            self._terminate(pid)
        try:
            os.unlink(pidfile)
        except OSError:
            pass

    def _start_private(self) -> None:
        self._lock()
        d = self.dir
        sock, pidfile = f"{d}/docker.sock", f"{d}/docker.pid"
        for p in (f"{d}/data", f"{d}/exec"):
            os.makedirs(p, exist_ok=True)
        self._kill_stale(pidfile)
        args = ["--data-root", f"{d}/data", "--exec-root", f"{d}/exec", "-H", f"unix://{sock}", "--pidfile",
                pidfile, "--iptables=false", "--bridge=none", "--log-level=warn",
                "--add-runtime", f"n2d-hostcaps={HOSTCAPS_RUNTIME}"]
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
        self.ns, self.info = start_dockerd("private dockerd", None, [], args, d, sock, f"{d}/dockerd.log",
                                           lambda ns: [self.docker_bin], self.env, self.start_timeout)
        self.proc = self.ns.proc
        self.private = True

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie child counts as gone
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def _terminate(self, pid: int, timeout: float = 30) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(pid):
            if self.proc is not None and self.proc.pid == pid:
                self.proc.poll()
            time.sleep(0.2)
        if self._alive(pid):
            log(f"dockerd pid {pid} ignored SIGTERM for {timeout:.0f}s: SIGKILL to its process group")
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop(self) -> None:
        """Stop the private daemon (no-op for an ambient one). Safe to call twice."""
        if self.ns is not None:
            log(f"stopping private dockerd pid {self.ns.pid}")
            self.ns.stop(timeout=30)  # dockerd's own containerd runs in its session: nothing is left
            self.ns = None
            self.proc = None
        if self.lock_fd is not None:
            self.lock_fd.close()
            self.lock_fd = None

    # -- reporting ------------------------------------------------------------------------------
    def summary(self) -> dict:
        i = self.info or {}
        runc = None
        rc = i.get("RuncCommit") or {}
        p = run(["runc", "--version"], timeout=10, expect=None) if which("runc") else None
        if p is not None and p.ok:
            runc = p.stdout.splitlines()[0]
        return {
            "private": self.private,
            "docker_host": self.env.get("DOCKER_HOST", "default"),
            "server_version": i.get("ServerVersion"),
            "cgroup_version": i.get("CgroupVersion"),
            "cgroup_driver": i.get("CgroupDriver"),
            "runc_commit": rc.get("ID"),
            "runc_version": runc,
            "default_runtime": i.get("DefaultRuntime"),
            "kernel": i.get("KernelVersion"),
            "os": i.get("OperatingSystem"),
            "security_options": i.get("SecurityOptions"),
            "storage_driver": i.get("Driver"),
        }
