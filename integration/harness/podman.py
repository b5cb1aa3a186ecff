"""podman (rootful): an engine of its own (harness.engines: podman58, podman43), and the podman next to
a Docker engine (``ctx.podman()``, for the `podman --systemd=always` remedy).

Recipe (shared/notes/container-engines-on-hybrid-hosts.md): podman must see cgroup2 at
/sys/fs/cgroup.  With the private dockerd, every podman command runs inside dockerd's mount namespace
(``nsenter -t <dockerd pid> -m``), where /sys/fs/cgroup is cgroup2; on a cgroup-v2 host it runs as is.
Config under ``<cache>/engine-state/<engine>/[podman/]``: containers.conf (``cgroup_manager = "cgroupfs"``, ``default_ulimits =
[]`` — this host lacks CAP_SYS_RESOURCE, so setting RLIMITs fails), storage.conf with a private
graphroot/runroot; containers get ``--network=none --pids-limit=-1`` (no pids controller in the
unified hierarchy here).  Next to Docker, images come from it (``docker save | podman load``); as an
engine, podman builds them itself.  Containers and loaded images are removed at exit.
"""

from __future__ import annotations

import json
import os
import subprocess

from .docker import PODMAN_DEFAULT_CAPS, Docker
from .runtimes import CRUN_RUNTIME
from .util import HarnessError, Skip, log, run, which


def _is_cgroup2(path: str = "/sys/fs/cgroup") -> bool:
    p = run(["stat", "-f", "-c", "%T", path], timeout=10, expect=None)
    return p.ok and p.stdout.strip() == "cgroup2fs"


class Podman(Docker):
    """Same helpers as harness.docker.Docker (create/start/exec/wait_booted/timed_stop/…)."""

    RUN_FLAGS = ["--pids-limit=-1"]

    def __init__(self, ctx):
        """The podman next to the run's Docker engine (ctx.podman()): it shares the engine's
        namespace (the host's podman for a host engine, the engine root's podman otherwise)."""
        if ctx.daemon_skip:
            raise Skip(ctx.daemon_skip)
        engine_prefix = list(getattr(ctx.docker, "prefix", []))
        if not engine_prefix and not which("podman"):
            ctx.apt_install(["podman"])
            if not which("podman"):
                raise Skip("podman is not installed and could not be installed (apt-get install podman)")
        if engine_prefix:
            prefix = engine_prefix
        elif ctx.daemon.private and ctx.daemon.proc is not None:
            prefix = ["nsenter", "-t", str(ctx.daemon.proc.pid), "-m", "--"]
        elif _is_cgroup2():
            prefix = []
        else:
            raise Skip("podman needs cgroup2 at /sys/fs/cgroup (or the harness's private dockerd)")
        # an engine root's podman runs crun: through the wrapper
        self._setup(ctx, prefix, os.path.join(os.path.realpath(ctx.cache_dir), "engine-state",
                                              ctx.engine.name, "podman"),
                    runtime=CRUN_RUNTIME if engine_prefix else None)
        self.docker = ctx.docker

    @classmethod
    def in_namespace(cls, ctx, prefix: list, state_dir: str, runtime: str | None = None,
                     env: dict | None = None) -> "Podman":
        """podman as an engine of its own (harness.engines): PREFIX enters its namespace; RUNTIME,
        if given, is the OCI runtime executable (registered as `n2d-crun`); ENV adds variables (a
        rootless podman's HOME and XDG_RUNTIME_DIR)."""
        self = cls.__new__(cls)
        self._setup(ctx, prefix, state_dir, runtime, env)
        self.docker = None
        return self

    def _setup(self, ctx, prefix: list, d: str, runtime: str | None = None, env: dict | None = None) -> None:
        self.prefix = prefix
        os.makedirs(d, exist_ok=True)
        conf, storage = os.path.join(d, "containers.conf"), os.path.join(d, "storage.conf")
        with open(conf, "w") as f:
            # CONTAINERS_CONF replaces the distribution's containers.conf: restate its capability list
            caps = ", ".join(f'"{c.removeprefix("CAP_")}"' for c in PODMAN_DEFAULT_CAPS)
            f.write(f'[containers]\ndefault_ulimits = []\nlog_driver = "k8s-file"\npids_limit = 0\n'
                    f'default_capabilities = [{caps}]\n\n'
                    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                    + (f'runtime = "n2d-crun"\n\n[engine.runtimes]\nn2d-crun = ["{runtime}"]\n'
                       if runtime else ""))
        with open(storage, "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{d}/graph"\nrunroot = "{d}/run"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage)
        self.env.pop("DOCKER_HOST", None)
        self.env.update(env or {})
        self.bin = "podman"
        self.run_id = ctx.run_id
        self.label = f"org.nixos2docker.harness.run={ctx.run_id}"
        self.containers = []
        import itertools
        self._n = itertools.count(1)
        self.loaded: dict = {}
        p = self.cli(["version", "--format", "{{.Client.Version}}"], timeout=60, expect=None)
        if not p.ok:
            raise Skip("podman does not work here:\n" + p.describe())
        self.version = p.stdout.strip()

    def facts(self) -> dict:
        """What the result file records about this podman (podman info)."""
        p = self.cli(["info", "--format", "json"], timeout=60, expect=None)
        try:
            i = json.loads(p.stdout) if p.ok else {}
        except ValueError:
            i = {}
        host = i.get("host") or {}
        rt = host.get("ociRuntime") or {}
        return {"version": self.version, "server_version": self.version,
                "cgroup_version": (host.get("cgroupVersion") or "").lstrip("v"),
                "cgroup_driver": host.get("cgroupManager"), "default_runtime": rt.get("name"),
                "runc_version": (rt.get("version") or "").splitlines()[0] if rt.get("version") else None,
                "kernel": host.get("kernel"), "os": host.get("distribution", {}).get("distribution"),
                "security_options": host.get("security"), "storage_driver": (i.get("store") or {}).get("graphDriverName"),
                "private": True, "docker_host": None}


    def _run_args(self, image, flags, name):
        return (["--name", name, "--label", self.label, "--network=none"] + self.RUN_FLAGS
                + list(flags) + [image])

    def load(self, image) -> str:
        """docker save | podman load; returns podman's name for the image."""
        tag = image if isinstance(image, str) else image.tag
        if tag in self.loaded:
            return self.loaded[tag]
        save = subprocess.Popen(self.docker.prefix + [self.docker.bin, "save", tag], stdout=subprocess.PIPE,
                                env=self.docker.env, stderr=subprocess.DEVNULL)
        try:
            cp = subprocess.run(self.prefix + [self.bin, "load"], stdin=save.stdout,
                                capture_output=True, text=True, env=self.env, timeout=600)
        finally:
            save.stdout.close()
            try:
                save.wait(timeout=60)
            except subprocess.TimeoutExpired:
                save.kill()
        if cp.returncode != 0 or save.returncode != 0:
            raise HarnessError(f"docker save {tag} | podman load failed: {cp.stderr.strip()}")
        name = None
        for line in cp.stdout.splitlines():
            if line.startswith("Loaded image"):
                name = line.split(":", 1)[1].strip().split(",")[0].strip()
        name = name or f"localhost/{tag}"
        self.loaded[tag] = name
        return name

    def cleanup(self) -> None:
        self.remove_tracked()
        self.remove_labelled()
        for name in self.loaded.values():
            p = self.cli(["rmi", "-f", name], timeout=120, expect=None)
            if not p.ok:
                log(f"could not remove podman image {name}: {p.output().strip()}")
        self.loaded.clear()
