"""The user-namespaced engines: the engines where a container's root is not the host's root, so nothing
in the container may write the cgroup tree (issue 20; recipe: shared notes
"container-engines-on-hybrid-hosts", section "User-namespaced engines").

  podman58-rootless  Debian sid's podman 5.8 run by an unprivileged user (newuidmap from uidmap, subordinate
                     ids, --network none, no user systemd session: podman cannot delegate a cgroup)
  docker28-rootless  Debian sid's Docker 28.5 rootless: rootlesskit run by that user with dockerd in it
                     (--net=host: dockerd-rootless.sh's slirp4netns/pasta need /dev/net/tun, which is
                     root-only on some hosts, and the containers have --network none anyway)
  docker28-userns    Debian sid's Docker 28.5 with --userns-remap=default
  podman58-userns    Debian sid's podman 5.8, rootful, every container with --userns=auto:size=65536 (the
                     default size maps only the ids the image's files use, at least 1024: sshd's setgroups
                     to nogroup (65534) and DynamicUser= units (61184-65519) fail)

They run from the sid engine root (harness.engines.SID_ROOT) in the same kind of namespace as the rootful
engines.  Accounts are never written into the shared root: the namespace bind-mounts generated copies of
/etc/passwd, /etc/group, /etc/subuid and /etc/subgid (the root's own lines + ACCOUNTS) from the engine's
state dir over the root's files before the engine starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from . import engines as eng
from .engines import SID_ROOT, EngineSpec, EngineState, PodmanNamespace, RootDockerDaemon, host_binds
from .namespace import Namespace
from .runtimes import CRUN_RUNTIME
from .podman import Podman
from .util import HarnessError, log, run, tail_file

# name, uid (= gid), home (None: the state dir's home/), first subordinate id, count
AUTO_SIZE = 65536  # ids per --userns=auto container: a whole Debian system (nobody, DynamicUser=)
ROOTLESS_USER = "n2d-rootless"
ROOTLESS_UID = 2000
ACCOUNTS = [
    (ROOTLESS_USER, ROOTLESS_UID, None, 200000, 65536),   # runs rootless podman / rootlesskit + dockerd
    ("dockremap", 2001, "/nonexistent", 300000, 65536),    # --userns-remap=default looks this user up
    ("containers", 2002, "/nonexistent", 400000, 1000000),  # podman --userns=auto allocates from its ranges
]

# first process of an engine namespace: bind-mount pairs SRC DST, then `--`, then exec the command
BIND_SH = 'while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done; shift; exec "$@"'


def account_files(root: str, home: str) -> dict:
    """/etc/{passwd,group,subuid,subgid} of ROOT with ACCOUNTS added (pure: returns name → text)."""
    out = {}
    for name in ("passwd", "group"):
        try:
            with open(os.path.join(root, "etc", name)) as f:
                text = f.read()
        except OSError:
            text = ""
        have = {ln.split(":", 1)[0] for ln in text.splitlines()}
        if text and not text.endswith("\n"):
            text += "\n"
        for user, uid, h, _first, _count in ACCOUNTS:
            if user in have:
                continue
            text += (f"{user}:x:{uid}:{uid}::{h or home}:/bin/sh\n" if name == "passwd"
                     else f"{user}:x:{uid}:\n")
        out[name] = text
    sub = "".join(f"{user}:{first}:{count}\n" for user, _uid, _h, first, count in ACCOUNTS)
    out["subuid"] = out["subgid"] = sub
    return out


def bind_wrapper(pairs, cmd) -> list:
    """CMD preceded by the bind mounts PAIRS [(src, dst), …] (run as the namespace's first process)."""
    args = []
    for src, dst in pairs:
        args += [src, dst]
    return ["sh", "-c", BIND_SH, "sh"] + args + ["--"] + list(cmd)


class _Accounts:
    """Writes the account files and the rootless user's home under the state dir."""

    def prepare_accounts(self, state_dir: str, root: str) -> list:
        etc = os.path.join(state_dir, "etc")
        os.makedirs(etc, exist_ok=True)
        self.home = os.path.join(state_dir, "home")
        os.makedirs(self.home, exist_ok=True)
        os.chown(self.home, ROOTLESS_UID, ROOTLESS_UID)
        pairs = []
        for name, text in account_files(root, self.home).items():
            path = os.path.join(etc, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            pairs.append((path, f"/etc/{name}"))
        # a runtime dir owned by the user, emptied at each start (sockets, pids, rootlesskit state)
        self.xdg = os.path.join(state_dir, "xdg")
        if os.path.isdir(self.xdg):
            run(["rm", "-rf", "--one-file-system", self.xdg], timeout=120, expect=None)
        os.makedirs(self.xdg, mode=0o700)
        os.chown(self.xdg, ROOTLESS_UID, ROOTLESS_UID)
        return pairs

    def wait_accounts(self, ns) -> None:
        """Wait until the holder of NS runs with the account files bound."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if run(ns.prefix + ["grep", "-q", f"^{ROOTLESS_USER}:", "/etc/subuid"], timeout=10, expect=None).ok:
                return
            if not ns.alive():
                break
            time.sleep(0.1)
        raise HarnessError(f"{self.spec.name}: the engine namespace did not come up; see "
                           f"{ns.logfile}\n{tail_file(ns.logfile)}")

    def user_env(self) -> dict:
        return {"HOME": self.home, "XDG_RUNTIME_DIR": self.xdg, "USER": ROOTLESS_USER, "LOGNAME": ROOTLESS_USER}


def _as_user(prefix: list) -> list:
    """An `nsenter … --` prefix that also drops to the rootless user (and no supplementary groups)."""
    return prefix[:-1] + ["-S", str(ROOTLESS_UID), "-G", str(ROOTLESS_UID), "--"]


class _HeldDockerDaemon(RootDockerDaemon, _Accounts):
    """dockerd started by nsenter into a namespace held by `sleep infinity` whose /etc has the account
    files (RootDockerDaemon's interface: summary, env, prefix, stop)."""

    as_user = False

    def __init__(self, ctx, spec, start_timeout: float = 90):
        super().__init__(ctx, spec, start_timeout)
        self.daemon_proc: subprocess.Popen | None = None

    def ensure(self) -> None:
        self._require_namespaces()
        self.root = self.spec.root.ensure(self.ctx.cache_dir, self.ctx.apt_install)
        self.state = EngineState(self.ctx, self.spec)
        d = self.state.dir
        pairs = self.prepare_accounts(d, self.root)
        self.ns = Namespace(self.root, host_binds(self.ctx), bind_wrapper(pairs, ["sleep", "infinity"]),
                                f"{d}/namespace.log", d)
        self.state.record_pid(self.ns.pid)
        self.wait_accounts(self.ns)
        sock, cmd = self.command(d)
        if os.path.exists(sock):
            os.unlink(sock)
        logfile = f"{d}/dockerd.log"
        log(f"starting {self.spec.name}: {' '.join(cmd[:2])} … from {self.root} (state {d})")
        with open(logfile, "ab") as lf:
            lf.write(f"\n==== {time.ctime()} integration/run: {' '.join(cmd)} ====\n".encode())
            lf.flush()
            self.daemon_proc = subprocess.Popen(
                (_as_user(self.ns.prefix) if self.as_user else self.ns.prefix) + cmd, stdin=subprocess.DEVNULL,
                stdout=lf, stderr=lf, start_new_session=True, cwd="/",
                env=dict(os.environ, **self.user_env()) if self.as_user else None)
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.daemon_proc.poll() is not None:
                raise HarnessError(f"{self.spec.name}: dockerd exited with {self.daemon_proc.returncode}; "
                                   f"see {logfile}\n{tail_file(logfile)}")
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.spec.name}: dockerd did not answer within {self.start_timeout:.0f}s; "
                                   f"see {logfile}\n{tail_file(logfile)}")
            p = run(self.prefix + ["docker", "info", "--format", "{{json .}}"], timeout=20, env=self.env,
                    expect=None)
            try:
                self.info = json.loads(p.stdout) if p.ok else {}
            except ValueError:
                self.info = {}
            if self.info.get("ServerVersion"):
                break
            time.sleep(0.3)
        if str(self.info.get("CgroupVersion")) != "2":
            raise HarnessError(f"{self.spec.name}: dockerd reports cgroup version {self.info.get('CgroupVersion')}")

    def command(self, d: str) -> tuple:
        """(socket path, the daemon's command line)."""
        raise NotImplementedError

    def _log_stop(self) -> None:
        proc, self.daemon_proc = self.daemon_proc, None
        if proc is not None and proc.poll() is None:
            log(f"stopping {self.spec.name} (pid {proc.pid})")
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"pid {proc.pid} ignored SIGTERM for 30s: SIGKILL to its process group")
        if proc is not None:
            try:  # containerd and the shims live in its session
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class RemapDockerDaemon(_HeldDockerDaemon):
    """dockerd --userns-remap=default (its user `dockremap` and ranges come from the bound account files)."""

    def command(self, d: str) -> tuple:
        sock = f"{d}/docker.sock"
        return sock, ["dockerd", "--data-root", f"{d}/data", "--exec-root", f"{d}/exec", "-H", f"unix://{sock}",
                      "--pidfile", f"{d}/docker.pid", "--iptables=false", "--ip6tables=false", "--bridge=none",
                      "--log-level=warn", "--userns-remap=default"]


class RootlessDockerDaemon(_HeldDockerDaemon):
    """rootlesskit run by the unprivileged user, dockerd inside it (rootless mode)."""

    as_user = True

    def command(self, d: str) -> tuple:
        data = os.path.join(self.home, "docker")
        os.makedirs(data, exist_ok=True)
        os.chown(data, ROOTLESS_UID, ROOTLESS_UID)
        x = self.xdg
        sock = f"{x}/docker.sock"
        inner = (f"rm -f /run/docker /run/containerd; exec dockerd --data-root {data} -H unix://{sock} "
                 f"--exec-root {x}/dexec --pidfile {x}/docker.pid --iptables=false --ip6tables=false "
                 "--bridge=none --log-level=warn")
        return sock, ["rootlesskit", "--net=host", "--port-driver=none", "--copy-up=/etc", "--copy-up=/run",
                      "--propagation=rslave", f"--state-dir={x}/rk", "sh", "-c", inner]


class UsernsPodmanNamespace(PodmanNamespace, _Accounts):
    """podman in a namespace whose /etc carries the bound account files: rootful with --userns=auto, or
    (``rootless``) run by the unprivileged user."""

    def ensure(self) -> None:
        self._require_namespaces()
        self.root = self.spec.root.ensure(self.ctx.cache_dir, self.ctx.apt_install)
        self.state = EngineState(self.ctx, self.spec)
        pairs = self.prepare_accounts(self.state.dir, self.root)
        self.ns = Namespace(self.root, host_binds(self.ctx), bind_wrapper(pairs, ["sleep", "infinity"]),
                                os.path.join(self.state.dir, "namespace.log"), self.state.dir)
        self.state.record_pid(self.ns.pid)
        self.wait_accounts(self.ns)

    def client(self):
        if self.spec.userns == "rootless":
            d = os.path.join(self.state.dir, "podman")  # storage owned by the user
            os.makedirs(d, exist_ok=True)
            os.chown(d, ROOTLESS_UID, ROOTLESS_UID)
            run(["rm", "-rf", "--one-file-system", os.path.join(d, "run")], timeout=120, expect=None)  # as at boot
            c = Podman.in_namespace(self.ctx, _as_user(self.prefix), d, runtime=CRUN_RUNTIME, env=self.user_env())
        else:
            c = Podman.in_namespace(self.ctx, self.prefix, os.path.join(self.state.dir, "podman"),
                                    runtime=CRUN_RUNTIME)
            c.RUN_FLAGS = list(c.RUN_FLAGS) + [f"--userns=auto:size={AUTO_SIZE}"]
        return c


def register_engines() -> None:
    """Add the user-namespaced engines to harness.engines.ENGINES (after the rootful ones)."""
    pk = eng.PODMAN_PKGS + ("uidmap",)
    dk = eng.DOCKER_PKGS + ("uidmap", "rootlesskit")
    for spec in (
        EngineSpec("podman58-rootless", "podman", SID_ROOT,
                   f"Debian sid podman 5.8 (crun), rootless: user {ROOTLESS_USER}, newuidmap, no user session",
                   packages=pk, userns="rootless", backend=UsernsPodmanNamespace),
        EngineSpec("docker28-userns", "docker", SID_ROOT, "Debian sid docker.io 28.5 with --userns-remap=default",
                   packages=dk, userns="remap", backend=RemapDockerDaemon),
        EngineSpec("docker28-rootless", "docker", SID_ROOT,
                   f"Debian sid docker.io 28.5 rootless: rootlesskit (--net=host) + dockerd as {ROOTLESS_USER}",
                   packages=dk, userns="rootless", backend=RootlessDockerDaemon),
        EngineSpec("podman58-userns", "podman", SID_ROOT, f"Debian sid podman 5.8 (crun), rootful, --userns=auto:size={AUTO_SIZE}",
                   packages=pk, userns="auto", backend=UsernsPodmanNamespace),
    ):
        eng.ENGINES.setdefault(spec.name, spec)
