"""podman (rootful) next to the harness's Docker daemon, for the `podman --systemd=always` remedy.

Recipe (shared/notes/container-engines-on-hybrid-hosts.md): podman must see cgroup2 at
/sys/fs/cgroup.  With the private dockerd, every podman command runs inside dockerd's mount namespace
(``nsenter -t <dockerd pid> -m``), where /sys/fs/cgroup is cgroup2; on a cgroup-v2 host it runs as is.
Config under ``<cache>/podman``: containers.conf (``cgroup_manager = "cgroupfs"``, ``default_ulimits =
[]`` — this host lacks CAP_SYS_RESOURCE, so setting RLIMITs fails), storage.conf with a private
graphroot/runroot; containers get ``--network=none --pids-limit=-1`` (no pids controller in the
unified hierarchy here).  Images come from Docker (``docker save | podman load``); containers and
loaded images are removed at exit.
"""

from __future__ import annotations

import os
import subprocess

from .docker import Docker
from .util import HarnessError, Proc, Skip, log, run, which


def _is_cgroup2(path: str = "/sys/fs/cgroup") -> bool:
    p = run(["stat", "-f", "-c", "%T", path], timeout=10)
    return p.ok and p.stdout.strip() == "cgroup2fs"


class Podman(Docker):
    """Same helpers as harness.docker.Docker (create/start/exec/wait_booted/timed_stop/…)."""

    RUN_FLAGS = ["--pids-limit=-1"]

    def __init__(self, ctx):
        if ctx.daemon_skip:
            raise Skip(ctx.daemon_skip)
        if not which("podman"):
            ctx.apt_install(["podman"])
        if not which("podman"):
            raise Skip("podman is not installed and could not be installed (apt-get install podman)")
        if ctx.daemon.private and ctx.daemon.proc is not None:
            self.prefix = ["nsenter", "-t", str(ctx.daemon.proc.pid), "-m", "--"]
        elif _is_cgroup2():
            self.prefix = []
        else:
            raise Skip("podman needs cgroup2 at /sys/fs/cgroup (or the harness's private dockerd)")
        d = os.path.join(ctx.cache_dir, "podman")
        os.makedirs(d, exist_ok=True)
        conf, storage = os.path.join(d, "containers.conf"), os.path.join(d, "storage.conf")
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\n')
        with open(storage, "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{d}/graph"\nrunroot = "{d}/run"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage)
        self.env.pop("DOCKER_HOST", None)
        self.bin = "podman"
        self.docker = ctx.docker
        self.run_id = ctx.run_id
        self.label = f"org.nixos2docker.harness.run={ctx.run_id}"
        self.containers = []
        import itertools
        self._n = itertools.count(1)
        self.loaded: dict = {}
        p = self.cli(["version", "--format", "{{.Client.Version}}"], timeout=60)
        if not p.ok:
            raise Skip("podman does not work here:\n" + p.describe())
        self.version = p.stdout.strip()

    def cli(self, args, timeout: float = 60, input: str | None = None) -> Proc:
        return run(self.prefix + [self.bin] + list(args), timeout=timeout, env=self.env, input=input)

    def _run_args(self, image, flags, name):
        return (["--name", name, "--label", self.label, "--network=none"] + self.RUN_FLAGS
                + list(flags) + [image])

    def load(self, image) -> str:
        """docker save | podman load; returns podman's name for the image."""
        tag = image if isinstance(image, str) else image.tag
        if tag in self.loaded:
            return self.loaded[tag]
        save = subprocess.Popen([self.docker.bin, "save", tag], stdout=subprocess.PIPE,
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
            p = self.cli(["rmi", "-f", name], timeout=120)
            if not p.ok:
                log(f"could not remove podman image {name}: {p.output().strip()}")
        self.loaded.clear()
