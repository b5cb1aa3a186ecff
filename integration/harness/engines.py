"""Container engines the scenarios run on: which ones exist, how each is started, what a run records.

Engines (``integration/run --engine NAME[,NAME…]`` or ``--engine all``; ``--list`` shows them):

  docker28       Debian sid's docker.io 28.5 + containerd 2.1 + runc 1.3 (the DEFAULT: a current Docker
                 is what users run; nixpkgs' default is 29)
  docker28-crun  the same daemon binaries with ``--default-runtime crun`` (crun 1.2x)
  docker26       Debian trixie's docker.io 26.1 + containerd 1.7 + runc 1.1
  docker20       this host's Debian bookworm docker.io 20.10 + runc 1.1.5 (or an ambient cgroup-v2 daemon)
  podman58       Debian sid's podman 5.8 (crun), rootful
  podman43       this host's Debian bookworm podman 4.3, rootful

Every scenario runs on the default engine; the CORE instances (``scenario(..., core=KINDS)`` or
``registry.add_core``) run on every engine; a scenario may also name engines explicitly
(``scenario(..., engines=[...])``), e.g. the Docker ≥ 28 ``writable-cgroups`` scenarios.

Engine root filesystems: the engines not installed on the host run from a Debian root made by
``mmdebstrap --variant=minbase --format=directory`` and cached at ``<cache>/engines/<suite>-<key>``, key =
sha256 of (recipe version, suite, packages, mirror, apt options) — the same recipe gives the same directory,
so several cache dirs may share one through a symlinked ``engines/``.  An engine is started inside
``unshare -m``: the root is bind-mounted onto itself, gets proc, ``/sys`` (rbind) with a fresh cgroup2 on
``/sys/fs/cgroup``, ``/dev`` (rbind), a tmpfs ``/run``, and bind mounts of the paths the harness hands to the
engine's CLI at the SAME paths (the repo, ``/tmp``, the cache dir and what its symlinks point to); then
``pivot_root`` (Docker ≥ 28 refuses ``docker load``/``import`` in a plain chroot) and ``exec`` of the daemon
(dockerd) or of a holder process (podman has no daemon).  The engine's own CLI runs in that namespace via
``nsenter -t PID -m``.  All engine state (data-root, exec-root, socket, podman graphroot/runroot) lives
under ``<cache>/engine-state/<engine>/``, never in the shared root; an flock there keeps two runs of one
cache dir apart.  Recipe: shared notes "container-engines-on-hybrid-hosts".
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from .daemon import Daemon
from .docker import DOCKER_DEFAULT_CAPS, PODMAN_DEFAULT_CAPS, Docker, caps_mask
from .namespace import STATE_ENV, Namespace, start_dockerd
from .podman import Podman
from .runtimes import CRUN_RUNTIME, HOSTCAPS_RUNTIME, host_lacks_caps
from .util import HarnessError, Skip, is_root, log, run, run_streaming, tail_file, which

ROOT_RECIPE_VERSION = 1
MIRROR = os.environ.get("NIXOS2DOCKER_DEBIAN_MIRROR", "http://deb.debian.org/debian")
ROOT_APT_OPTS = ['Acquire::Check-Valid-Until "false"', 'Acquire::Retries "3"']
ROOT_DPKG_EXCLUDES = ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*"]
# python3-minimal: the n2d-hostcaps runtime wrapper (harness/runc-hostcaps) is a Python script
BASE_ROOT_PACKAGES = ["iproute2", "procps", "ca-certificates", "mount", "python3-minimal"]

@dataclass(frozen=True)
class EngineRoot:
    """A cached Debian root filesystem with an engine's packages (see the module docstring)."""
    suite: str
    packages: tuple

    def key(self) -> str:
        recipe = {"recipe": ROOT_RECIPE_VERSION, "suite": self.suite, "packages": sorted(self.packages),
                  "mirror": MIRROR, "apt": ROOT_APT_OPTS, "dpkg": ROOT_DPKG_EXCLUDES}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]

    def path(self, cache_dir: str) -> str:
        return os.path.join(cache_dir, "engines", f"{self.suite}-{self.key()}")

    def ensure(self, cache_dir: str, apt_install) -> str:
        path = self.path(cache_dir)
        if os.path.isfile(os.path.join(path, ".n2d-complete")):
            return path
        if not which("mmdebstrap"):
            apt_install(["mmdebstrap"])
        if not which("mmdebstrap"):
            raise Skip("mmdebstrap is missing and could not be installed (engine root filesystems)")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".lock", "w") as lk:
            _flock(lk, 1500, path + ".lock")
            if os.path.isfile(os.path.join(path, ".n2d-complete")):
                return path
            tmp = f"{path}.tmp{os.getpid()}"
            logfile = path + ".log"
            cmd = ["mmdebstrap", "--variant=minbase", "--format=directory",
                   "--include=" + ",".join(sorted(self.packages))]
            cmd += [f"--aptopt={o}" for o in ROOT_APT_OPTS]
            cmd += [f"--dpkgopt=path-exclude={e}" for e in ROOT_DPKG_EXCLUDES]
            cmd += [self.suite, tmp, MIRROR]
            log(f"building the {self.suite} engine root filesystem with mmdebstrap (log {logfile}) …")
            t0 = time.monotonic()
            rc = run_streaming(cmd, timeout=1200, logfile=logfile)
            if rc != 0:
                run(["rm", "-rf", "--one-file-system", tmp], timeout=300, expect=None)
                raise HarnessError(f"mmdebstrap {self.suite} (engine root) failed (exit {rc}); see "
                                   f"{logfile}\n{tail_file(logfile)}")
            if os.path.isdir(path):  # an incomplete earlier attempt
                run(["rm", "-rf", "--one-file-system", path], timeout=300, expect=None)
            os.rename(tmp, path)
            with open(os.path.join(path, ".n2d-complete"), "w") as f:
                json.dump({"seconds": round(time.monotonic() - t0, 1), "key": self.key(),
                           "packages": sorted(self.packages)}, f)
            log(f"{self.suite} engine root built in {time.monotonic() - t0:.1f}s: {path}")
        return path


def dpkg_versions(root: str, names) -> dict:
    """Versions of packages NAMES installed in ROOT ('/' = this host), from var/lib/dpkg/status."""
    out = {}
    try:
        text = open(os.path.join(root, "var/lib/dpkg/status"), errors="replace").read()
    except OSError:
        return out
    for para in text.split("\n\n"):
        fields = dict(ln.split(":", 1) for ln in para.splitlines() if ":" in ln and not ln.startswith(" "))
        name = fields.get("Package", "").strip()
        if name in names and "installed" in fields.get("Status", ""):
            out[name] = fields.get("Version", "").strip()
    return out


def _flock(fh, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not said:
                log(f"waiting for {what} (held by another run)")
                said = True
            if time.monotonic() > deadline:
                raise HarnessError(f"timed out waiting for {what}")
            time.sleep(1)


@dataclass(frozen=True)
class EngineSpec:
    name: str
    kind: str                      # "docker" or "podman"
    root: EngineRoot | None        # None: the host's own packages
    description: str
    runtime: str | None = None     # dockerd --default-runtime
    packages: tuple = ()           # packages whose versions are recorded
    userns: str = ""               # "": none; "rootless", "remap" (dockerd --userns-remap), "auto" (podman)
    backend: object = None         # a class (ctx, spec) → backend; None: by kind and root (see start)

    @property
    def default_caps(self) -> list:
        return PODMAN_DEFAULT_CAPS if self.kind == "podman" else DOCKER_DEFAULT_CAPS

    @property
    def default_capeff(self) -> int:
        return caps_mask(self.default_caps)


# uidmap (newuidmap/newgidmap), passt (pasta) and rootlesskit: the user-namespaced engines (harness.userns);
# containernetworking-plugins: the containerd CRI node's pod network (harness.containerd)
SID_ROOT = EngineRoot("sid", tuple(BASE_ROOT_PACKAGES + ["docker-cli",
    "docker.io", "containerd", "runc", "crun", "docker-compose", "podman", "conmon", "catatonit",
    "uidmap", "passt", "rootlesskit", "containernetworking-plugins"]))
TRIXIE_ROOT = EngineRoot("trixie", tuple(BASE_ROOT_PACKAGES + ["docker-cli", "docker.io", "containerd", "runc"]))
DOCKER_PKGS = ("docker.io", "docker-cli", "containerd", "runc", "crun", "docker-compose")
PODMAN_PKGS = ("podman", "crun", "runc", "conmon", "golang-github-containers-common")

ENGINES: dict = {}


def _register(spec: EngineSpec) -> None:
    ENGINES[spec.name] = spec


_register(EngineSpec("docker28", "docker", SID_ROOT,
                     "Debian sid docker.io 28.5 + containerd 2.1 + runc 1.3", packages=DOCKER_PKGS))
_register(EngineSpec("docker28-crun", "docker", SID_ROOT,
                     "Debian sid docker.io 28.5 + containerd 2.1, default runtime crun", runtime="crun",
                     packages=DOCKER_PKGS))
_register(EngineSpec("docker26", "docker", TRIXIE_ROOT,
                     "Debian trixie docker.io 26.1 + containerd 1.7 + runc 1.1", packages=DOCKER_PKGS))
_register(EngineSpec("docker20", "docker", None,
                     "the host's docker.io (Debian bookworm 20.10 + runc 1.1.5), or an ambient cgroup-v2 "
                     "daemon", packages=("docker.io", "containerd", "runc")))
_register(EngineSpec("podman58", "podman", SID_ROOT, "Debian sid podman 5.8 (crun), rootful",
                     packages=PODMAN_PKGS))
_register(EngineSpec("podman43", "podman", None, "the host's podman (Debian bookworm 4.3), rootful",
                     packages=PODMAN_PKGS))

DEFAULT_ENGINE = os.environ.get("NIXOS2DOCKER_ENGINE", "docker28")
# Engines `--engine all` leaves out, name → reason printed on every such run (name one explicitly to run it).
# Empty: every engine runs (podman43 builds the Debian-package images since images.podman_build_flags caps
# RLIMIT_NPROC at kernel.pid_max).
NOT_IN_ALL: dict = {}


def parse_engines(value) -> list:
    """--engine values (repeatable, comma-separated, or `all`) → engine names, default first."""
    names: list = []
    for v in value or [DEFAULT_ENGINE]:
        for n in v.split(","):
            n = n.strip()
            if not n:
                continue
            if n == "all":
                for skipped, why in NOT_IN_ALL.items():
                    print(f"integration/run: --engine all leaves out {skipped}: {why}", file=sys.stderr)
                names += [e for e in ENGINES if e not in NOT_IN_ALL]
            elif n == "default":
                names.append(DEFAULT_ENGINE)
            elif n in ENGINES:
                names.append(n)
            else:
                raise SystemExit(f"integration/run: unknown engine {n!r} (known: {', '.join(ENGINES)}, all)")
    out = []
    for n in sorted(set(names), key=lambda n: (n != DEFAULT_ENGINE, list(ENGINES).index(n))):
        out.append(n)
    return out


def host_binds(ctx) -> list:
    """Host paths the engine's CLI must see at the same path: repo, /tmp, the cache dir and the
    targets of its symlinks (not engines/, which holds the roots themselves)."""
    paths = [ctx.repo, "/tmp", os.path.realpath(ctx.cache_dir)]
    for n in sorted(os.listdir(ctx.cache_dir)):
        p = os.path.join(ctx.cache_dir, n)
        if n != "engines" and os.path.islink(p) and os.path.isdir(p):
            paths.append(os.path.realpath(p))
    out = []
    for p in paths:
        p = os.path.realpath(p)
        if p != "/" and not any(p == q or p.startswith(q + "/") for q in out):
            out = [q for q in out if not q.startswith(p + "/")] + [p]
    return out


class EngineState:
    """Per-cache-dir state of one engine: <cache>/engine-state/<name>/ (+ a lock)."""

    def __init__(self, ctx, spec: EngineSpec):
        self.dir = os.path.join(os.path.realpath(ctx.cache_dir), "engine-state", spec.name)
        os.makedirs(self.dir, exist_ok=True)
        self.lock_fd = open(os.path.join(self.dir, "lock"), "w")
        _flock(self.lock_fd, 1800, os.path.join(self.dir, "lock"))
        self._kill_stale()

    def _kill_stale(self) -> None:
        pidfile = os.path.join(self.dir, "ns.pid")
        try:
            pid = int(open(pidfile).read().strip())
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except (OSError, ValueError):
            return
        if f"{STATE_ENV}={self.dir}".encode() in environ:
            log(f"stopping a stale engine namespace (pid {pid}) left by an earlier run")
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            time.sleep(0.5)

    def record_pid(self, pid: int) -> None:
        with open(os.path.join(self.dir, "ns.pid"), "w") as f:
            f.write(f"{pid}\n")

    def release(self) -> None:
        if self.lock_fd is not None:
            self.lock_fd.close()
            self.lock_fd = None


class _NamespacedEngine:
    """What the two engines that live in a namespace of their own share: the namespace (its holder
    process, and the nsenter prefix of every engine command), the engine's locked state dir, and
    releasing both."""

    private = True
    stop_timeout: float = 30            # seconds the namespace's processes get before SIGKILL

    def __init__(self, ctx, spec: EngineSpec):
        self.ctx, self.spec = ctx, spec
        self.ns: Namespace | None = None
        self.state: EngineState | None = None
        self.info: dict = {}
        self.root = None

    @property
    def proc(self):
        return self.ns.proc if self.ns else None

    @property
    def prefix(self) -> list:
        return self.ns.prefix if self.ns else []

    def _require_namespaces(self) -> None:
        if not is_root() or not which("unshare") or not which("nsenter"):
            raise Skip(f"engine {self.spec.name} needs root, unshare and nsenter")

    def stop(self) -> None:
        if self.ns is not None:
            self._log_stop()
            self.ns.stop(timeout=self.stop_timeout)
            self.ns = None
        if self.state is not None:
            self.state.release()
            self.state = None

    def _log_stop(self) -> None:
        pass


class RootDockerDaemon(_NamespacedEngine):
    """dockerd from an engine root (Daemon's interface: ensure, stop, env, info, summary, prefix)."""

    def __init__(self, ctx, spec: EngineSpec, start_timeout: float = 90):
        super().__init__(ctx, spec)
        self.start_timeout = start_timeout
        self.env = dict(os.environ)
        self.docker_bin = "docker"

    def ensure(self) -> None:
        self._require_namespaces()
        self.root = self.spec.root.ensure(self.ctx.cache_dir, self.ctx.apt_install)
        self.state = EngineState(self.ctx, self.spec)
        d = self.state.dir
        sock = f"{d}/docker.sock"
        args = ["--data-root", f"{d}/data", "--exec-root", f"{d}/exec", "-H", f"unix://{sock}",
                "--pidfile", f"{d}/docker.pid", "--iptables=false", "--ip6tables=false", "--bridge=none",
                "--log-level=warn", "--add-runtime", f"n2d-hostcaps={HOSTCAPS_RUNTIME}"]
        if self.spec.runtime == "crun":
            args += ["--add-runtime", f"n2d-crun={CRUN_RUNTIME}", "--default-runtime", "n2d-crun"]
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
        self.ns, self.info = start_dockerd(self.spec.name, self.root, host_binds(self.ctx), args, d, sock,
                                           f"{d}/dockerd.log", lambda ns: ns.prefix + ["docker"], self.env,
                                           self.start_timeout, on_start=lambda ns: self.state.record_pid(ns.pid))

    def _log_stop(self) -> None:
        log(f"stopping {self.spec.name} (pid {self.ns.pid})")

    def summary(self) -> dict:
        i = self.info or {}
        runtimes = i.get("Runtimes") or {}
        default_rt = i.get("DefaultRuntime")
        rt_version = None
        if self.ns is not None and default_rt in ("runc", "crun", "n2d-crun"):
            p = run(self.prefix + [default_rt.removeprefix("n2d-"), "--version"], timeout=10, expect=None)
            rt_version = p.stdout.splitlines()[0] if p.ok and p.stdout else None
        cv = i.get("ContainerdCommit") or {}
        return {
            "private": True, "docker_host": self.env.get("DOCKER_HOST"),
            "server_version": i.get("ServerVersion"), "cgroup_version": i.get("CgroupVersion"),
            "cgroup_driver": i.get("CgroupDriver"), "runc_commit": (i.get("RuncCommit") or {}).get("ID"),
            "runc_version": rt_version, "default_runtime": default_rt, "runtimes": sorted(runtimes),
            "containerd_commit": cv.get("ID"), "kernel": i.get("KernelVersion"),
            "os": i.get("OperatingSystem"), "security_options": i.get("SecurityOptions"),
            "storage_driver": i.get("Driver"), "root": self.root,
        }


class PodmanNamespace(_NamespacedEngine):
    """A holder process in a namespace with cgroup2 (pivoted into the engine root, if any): podman has
    no daemon, each podman command enters the namespace."""

    stop_timeout = 5

    def ensure(self) -> None:
        self._require_namespaces()
        if self.spec.root is not None:
            self.root = self.spec.root.ensure(self.ctx.cache_dir, self.ctx.apt_install)
        elif not which("podman"):
            self.ctx.apt_install(["podman"])
            if not which("podman"):
                raise Skip("podman is not installed and could not be installed (apt-get install podman)")
        self.state = EngineState(self.ctx, self.spec)
        self.ns = Namespace(self.root, host_binds(self.ctx), ["sleep", "infinity"],
                            os.path.join(self.state.dir, "namespace.log"), self.state.dir)
        self.state.record_pid(self.ns.pid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the holder runs inside the prepared namespace
            p = run(self.prefix + ["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], timeout=10, expect=None)
            if p.ok and p.stdout.strip() == "cgroup2fs":
                return
            if not self.ns.alive():
                break
            time.sleep(0.1)
        raise HarnessError(f"{self.spec.name}: the engine namespace did not come up; see "
                           f"{self.ns.logfile}\n{tail_file(self.ns.logfile)}")


@dataclass
class Engine:
    """A started engine as scenarios see it: ``ctx.engine``."""
    spec: EngineSpec
    backend: object                 # Daemon, RootDockerDaemon or PodmanNamespace
    facts: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def is_docker(self) -> bool:
        return self.spec.kind == "docker"

    @property
    def is_podman(self) -> bool:
        return self.spec.kind == "podman"

    @property
    def version(self) -> str:
        return str(self.facts.get("server_version") or self.facts.get("version") or "")

    def version_at_least(self, major: int, minor: int = 0) -> bool:
        try:
            parts = [int(x) for x in self.version.split(".")[:2]]
        except ValueError:
            return False
        return tuple(parts + [0] * (2 - len(parts))) >= (major, minor)

    @property
    def default_capeff(self) -> int:
        return self.spec.default_capeff

    @property
    def userns(self) -> str:
        """"" when containers run in the engine's user namespace = the host's; else "rootless", "remap"
        (Docker's --userns-remap) or "auto" (podman's --userns=auto)."""
        return self.spec.userns

    def privileged_runtime(self) -> list:
        """Flags every --privileged container needs on a host that lacks capabilities (docker engines
        register the n2d-hostcaps wrapper; podman drops what the host lacks by itself)."""
        if self.is_docker and getattr(self.backend, "private", False) and host_lacks_caps():
            return ["--runtime", "n2d-hostcaps"]
        return []

    def stop(self) -> None:
        self.backend.stop()


def start(ctx, spec: EngineSpec):
    """Start SPEC; returns (Engine, client) where client is a harness.docker.Docker or
    harness.podman.Podman bound to it.  Raises Skip or HarnessError."""
    if spec.backend is not None:
        backend = spec.backend(ctx, spec)
    elif spec.kind == "docker":
        backend = Daemon(ctx.cache_dir, install=not ctx.args.no_install) if spec.root is None \
            else RootDockerDaemon(ctx, spec)
    else:
        backend = PodmanNamespace(ctx, spec)
    if spec.kind == "docker":
        engine = Engine(spec, backend)
        try:
            backend.ensure()
        except BaseException:
            backend.stop()
            raise
        client = Docker(backend, ctx.run_id)
        client.prefix = list(getattr(backend, "prefix", []))
        engine.facts = backend.summary()
    else:
        engine = Engine(spec, backend)
        try:
            backend.ensure()
            make_client = getattr(backend, "client", None)  # e.g. podman run as another user
            client = make_client() if make_client else Podman.in_namespace(ctx, backend.prefix, os.path.join(
                os.path.realpath(ctx.cache_dir), "engine-state", spec.name),
                runtime=CRUN_RUNTIME if spec.root is not None else None)
        except BaseException:
            backend.stop()
            raise
        engine.facts = client.facts()
        engine.facts["root"] = backend.root
    root = getattr(backend, "root", None) or "/"
    engine.facts["packages"] = dpkg_versions(root, spec.packages)
    engine.facts["engine"] = spec.name
    engine.facts["description"] = spec.description
    engine.facts["userns"] = spec.userns or None
    return engine, client
