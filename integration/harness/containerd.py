"""A standalone containerd with its CRI plugin — the runtime a kubelet talks to — started from the sid engine
root (containerd 2.1, runc 1.3, crun 1.2x) in a mount namespace of its own (harness.engines.Namespace, the
same recipe as the Docker and podman engines), for the CRI scenarios (scenarios/cri.py).

Configuration (written to ``<cache>/engine-state/containerd-cri/config.toml``, config version 3): its own
root, state and sockets under that directory; the CRI runtime handlers ``runc`` (runc, the default) and
``crun``, both ``io.containerd.runc.v2`` with
the cgroupfs driver (``SystemdCgroup = false``: no systemd on the node), both
through harness/crun-hostcgroup (as runc-hostcgroup for runc), which drops resource limits whose cgroup
controller this host's cgroup2 lacks; the pinned sandbox ("pause") image
``n2d-pause``; CNI from ``/usr/lib/cni`` (Debian's containernetworking-plugins) with one network: the
``loopback`` plugin and a ``tap`` device with a host-local address (this kernel has no ``dummy`` driver) —
every pod gets a network namespace of its own, with an address, connected to nothing (the harness's
containers run with ``--network none``); nothing is created in the node's own network namespace.

Images come from the engine under test (Docker 28): ``docker save`` of the test image, ``ctr -n k8s.io
images import`` — there is no registry.  The pause image is catatonit (static, from the sid root) in a
one-layer image made by ``docker import`` with ``ENTRYPOINT ["/catatonit", "-P"]``, as podman's infra
containers run it.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import time

from .engines import SID_ROOT, EngineState, dpkg_versions, host_binds
from .namespace import Namespace
from .runtimes import CRUN_RUNTIME
from .util import HarnessError, Skip, is_root, log, run, tail_file, which

STATE_NAME = "containerd-cri"
HANDLERS = ("runc", "crun")
PAUSE_REPO = "n2d-pause"
CNI_NETWORK = "n2d-isolated"
# runc through the same wrapper as crun (see harness/crun-hostcgroup): the CRI sets CPU shares on every sandbox
RUNC_RUNTIME = os.path.join(os.path.dirname(CRUN_RUNTIME), "runc-hostcgroup")
PACKAGES = ("containerd", "runc", "crun", "containernetworking-plugins", "catatonit")


def lacks_sys_resource() -> bool:
    """This process's bounding set lacks CAP_SYS_RESOURCE (a sandboxed host such as this project's)."""
    try:
        with open("/proc/self/status") as f:
            bnd = int([ln for ln in f if ln.startswith("CapBnd:")][0].split()[1], 16)
    except (OSError, ValueError, IndexError):
        return False
    return not bnd & (1 << 24)


def config_toml(state: str, pause_ref: str, restrict_oom: bool = False) -> str:
    """containerd 2.x configuration (version 3) for the CRI node (see the module docstring).  RESTRICT_OOM
    sets restrict_oom_score_adj: containerd gives the sandbox OOM score adj -998, which needs
    CAP_SYS_RESOURCE; without it in the host's bounding set, the runtime cannot lower the score and every
    RunPodSandbox fails ("write to /proc/self/oom_score_adj: Permission denied")."""
    runtimes = ""
    for name in HANDLERS:
        binary = RUNC_RUNTIME if name == "runc" else CRUN_RUNTIME
        runtimes += f"""
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.{name}]
  runtime_type = 'io.containerd.runc.v2'
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.{name}.options]
    BinaryName = '{binary}'
    SystemdCgroup = false
"""
    return f"""version = 3
root = '{state}/root'
state = '{state}/state'

[grpc]
  address = '{state}/containerd.sock'

[ttrpc]
  address = '{state}/containerd.sock.ttrpc'

[debug]
  level = 'info'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{pause_ref}'

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = {'true' if restrict_oom else 'false'}
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = '{state}/cni/net.d'
    max_conf_num = 1
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
{runtimes}
[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
"""


def cni_conflist(state: str) -> str:
    import json
    return json.dumps({
        "cniVersion": "1.0.0", "name": CNI_NETWORK,
        "plugins": [
            {"type": "loopback"},
            {"type": "tap", "ipam": {"type": "host-local", "dataDir": f"{state}/cni/ipam",
                                       "ranges": [[{"subnet": "192.0.2.0/24"}]]}},
        ]}, indent=1)


class ContainerdNode:
    """The running containerd (``ensure`` starts it, ``stop`` ends it); ``socket`` is its CRI endpoint,
    reachable from the harness at the same path (the state dir is under the cache dir, bind-mounted)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.ns: Namespace | None = None
        self.state: EngineState | None = None
        self.root: str | None = None
        self.dir = ""
        self.socket = ""
        self.imported: dict = {}       # docker tag → image reference in containerd
        self.facts: dict = {}

    @property
    def prefix(self) -> list:
        return self.ns.prefix if self.ns else []

    def ctr(self, args, timeout: float = 120, expect: int | None = 0):
        return run(self.prefix + ["ctr", "--address", self.socket, "--namespace", "k8s.io"] + list(args),
                   timeout=timeout, expect=expect)

    def ensure(self) -> "ContainerdNode":
        if self.ns is not None and self.ns.alive():
            return self
        if not is_root() or not which("unshare") or not which("nsenter"):
            raise Skip("the containerd CRI node needs root, unshare and nsenter")
        self.root = SID_ROOT.ensure(self.ctx.cache_dir, self.ctx.apt_install)
        for rel in ("usr/bin/containerd", "usr/lib/cni/tap", "usr/bin/catatonit"):
            if not os.path.exists(os.path.join(self.root, rel)):
                raise HarnessError(f"the sid engine root {self.root} has no /{rel} (package list: "
                                   "harness.engines.SID_ROOT)")
        self.state = EngineState(self.ctx, _Spec(STATE_NAME))
        d = self.dir = self.state.dir
        for sub in ("state", "cni"):  # per-run state; the image store (root/) is kept between runs
            shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
        os.makedirs(os.path.join(d, "cni", "net.d"), exist_ok=True)
        os.makedirs(os.path.join(d, "pods"), exist_ok=True)
        self.socket = os.path.join(d, "containerd.sock")
        for p in (self.socket, self.socket + ".ttrpc"):
            if os.path.exists(p):
                os.unlink(p)
        with open(os.path.join(d, "cni", "net.d", "10-n2d.conflist"), "w") as f:
            f.write(cni_conflist(d))
        self.pause_ref = f"docker.io/library/{PAUSE_REPO}:catatonit"
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(config_toml(d, self.pause_ref, restrict_oom=lacks_sys_resource()))
        log(f"starting containerd (CRI) from {self.root} (state {d})")
        self.ns = Namespace(self.root, host_binds(self.ctx), ["containerd", "--config", f"{d}/config.toml"],
                            f"{d}/containerd.log", d)
        self.state.record_pid(self.ns.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.ns.alive():
                raise HarnessError(f"containerd exited with {self.ns.proc.returncode}; see {d}/containerd.log\n"
                                   f"{tail_file(f'{d}/containerd.log')}")
            if os.path.exists(self.socket) and self.ctr(["version"], timeout=20, expect=None).ok:
                break
            time.sleep(0.3)
        else:
            raise HarnessError(f"containerd did not answer within 60 s; see {d}/containerd.log")
        v = run(self.prefix + ["containerd", "--version"], timeout=20, expect=None).stdout.strip()
        rv = {h: run(self.prefix + [h, "--version"], timeout=20, expect=None).stdout.splitlines()[:1]
              for h in HANDLERS}
        self.facts = {"containerd": v, "runtimes": {h: (x[0] if x else "") for h, x in rv.items()},
                      "packages": dpkg_versions(self.root, PACKAGES), "root": self.root}
        self._pause_image()
        self._remove_pods("left by an earlier run")
        return self

    def _remove_pods(self, why: str) -> None:
        """Every sandbox the runtime knows (one a killed earlier run left in the kept metadata, or one a failed
        scenario left): stopped and removed, as a kubelet would."""
        from .cri import CriClient, CriError
        cli = CriClient(self.socket)
        try:
            for pod_id in cli.list_pod_sandboxes():
                log(f"containerd: removing pod sandbox {pod_id[:12]} {why}")
                try:
                    cli.stop_pod_sandbox(pod_id)
                    cli.remove_pod_sandbox(pod_id)
                except CriError as e:
                    log(f"containerd: {e}")
        finally:
            cli.close()

    def _pause_image(self) -> None:
        """catatonit -P as the sandbox image (imported once per image store)."""
        if self.ctr(["images", "ls", "-q", f"name=={self.pause_ref}"], timeout=30).stdout.strip():
            return
        tmp = self.ctx.mkdtemp("n2d-pause-")
        layer = os.path.join(tmp, "layer.tar")
        with tarfile.open(layer, "w") as t:
            t.add(os.path.join(self.root, "usr/bin/catatonit"), arcname="catatonit")
        tag = f"{PAUSE_REPO}:catatonit"
        d = self.ctx.docker
        d.cli(["import", "--change", 'ENTRYPOINT ["/catatonit", "-P"]', layer, tag], timeout=120)
        try:
            out = os.path.join(tmp, "pause.tar")
            d.cli(["save", "-o", out, tag], timeout=120)
            self.ctr(["images", "import", "--all-platforms", out], timeout=300)
        finally:
            d.cli(["rmi", tag], timeout=60, expect=None)

    def import_image(self, tag: str) -> str:
        """Import the engine's image TAG (``docker save`` → ``ctr images import``); its containerd ref."""
        if tag in self.imported:
            return self.imported[tag]
        tmp = self.ctx.mkdtemp("n2d-cri-image-")
        out = os.path.join(tmp, "image.tar")
        t0 = time.monotonic()
        self.ctx.docker.cli(["save", "-o", out, tag], timeout=900)
        self.ctr(["images", "import", out], timeout=900)
        os.unlink(out)
        ref = tag if "/" in tag.split(":")[0] else f"docker.io/library/{tag}"
        self.imported[tag] = ref
        log(f"imported {tag} into containerd (k8s.io) in {time.monotonic() - t0:.1f}s")
        return ref

    def remove_images(self) -> None:
        refs = list(self.imported.values())
        if refs and self.ns is not None:
            self.ctr(["images", "rm"] + refs, timeout=120, expect=None)
        self.imported = {}

    def mount_tmpfs(self, path: str) -> None:
        """A tmpfs at PATH inside containerd's namespace — what the kubelet mounts for an emptyDir with
        medium: Memory — with the emptyDir's mode 0777."""
        run(self.prefix + ["mkdir", "-p", path], timeout=30)
        run(self.prefix + ["mount", "-t", "tmpfs", "-o", "mode=0777", "tmpfs", path], timeout=30)

    def umount(self, path: str) -> None:
        run(self.prefix + ["umount", "-l", path], timeout=30, expect=None)

    def stop(self) -> None:
        if self.ns is not None:
            try:
                self._remove_pods("still there at the end of the run")
                self.remove_images()
            except Exception as e:  # cleanup must not mask results
                log(f"containerd: cleanup: {e}")
            log(f"stopping containerd (pid {self.ns.pid})")
            self.ns.stop(timeout=20)
            self.ns = None
        if self.state is not None:
            self.state.release()
            self.state = None


class _Spec:
    """The part of an EngineSpec that EngineState reads."""

    def __init__(self, name: str):
        self.name = name


def node(ctx) -> ContainerdNode:
    """The run's containerd CRI node, started on first use and stopped with the engine (Context.on_engine_stop)."""
    n = getattr(ctx, "_containerd_node", None)
    if n is None:
        n = ContainerdNode(ctx)
        ctx._containerd_node = n
        ctx.on_engine_stop.append(lambda: (n.stop(), setattr(ctx, "_containerd_node", None)))
    return n.ensure()
