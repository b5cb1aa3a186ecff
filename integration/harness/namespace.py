"""Private mount namespaces for container engines, and the one way a dockerd is started in one.

``Namespace``: ``unshare -m`` → make / rprivate → cgroup2 at /sys/fs/cgroup → (with a ROOT: bind it onto
itself, proc, /sys, /dev, a tmpfs /run, the bind mounts the engine's CLI needs, ``pivot_root``) → exec the
command (a daemon, or a holder process for podman).  It runs in a session of its own, so stopping it also
ends the daemon's children.  ``start_dockerd`` starts dockerd in one and waits until it answers with cgroup
v2: the host's dockerd for the private daemon (harness.daemon) and an engine root's (harness.engines).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from .util import HarnessError, log, run, tail_file

INFO_FORMAT = "{{json .}}"


NS_SCRIPT = r"""
set -e
mount --make-rprivate /
root=$1; shift
nbind=$1; shift
if [ -z "$root" ]; then
  umount -l /sys/fs/cgroup 2>/dev/null || true
  mount -t cgroup2 none /sys/fs/cgroup
  exec "$@"
fi
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
umount -l "$root/sys/fs/cgroup" 2>/dev/null || true
mount -t cgroup2 none "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
while [ "$nbind" -gt 0 ]; do
  mkdir -p "$root$1"
  mount --rbind "$1" "$root$1"
  shift; nbind=$((nbind - 1))
done
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
exec "$@"
"""


STATE_ENV = "NIXOS2DOCKER_ENGINE_STATE"


class Namespace:
    """A private mount namespace with cgroup2 at /sys/fs/cgroup (and, with ROOT, pivoted into it),
    whose first process is CMD (a daemon or a holder).  ``prefix`` runs commands inside it."""

    def __init__(self, root: str | None, binds, cmd, logfile: str, state_dir: str):
        self.root = root
        lf = open(logfile, "ab")
        lf.write(f"\n==== {time.ctime()} integration/run: {' '.join(cmd)} ====\n".encode())
        lf.flush()
        binds = list(binds) if root else []
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--", "sh", "-c", NS_SCRIPT, "sh", root or "", str(len(binds))] + binds
            + list(cmd), stdin=subprocess.DEVNULL, stdout=lf, stderr=lf, start_new_session=True,
            env=dict(os.environ, **{STATE_ENV: state_dir}))  # marks it for EngineState._kill_stale
        lf.close()
        self.logfile = logfile

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def prefix(self) -> list:
        return ["nsenter", "-t", str(self.proc.pid), "-m", "--"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"pid {self.proc.pid} ignored SIGTERM for {timeout:.0f}s: SIGKILL to its process group")
        try:  # the daemon's children (containerd, shims) live in its session
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def start_dockerd(what: str, root: str | None, binds, args, state_dir: str, sock: str, logfile: str,
                  docker_cli, env: dict, timeout: float, on_start=None) -> tuple:
    """Start `dockerd ARGS` in a Namespace (ROOT: an engine root, None: the host's) and wait until
    `docker info` (the command line `docker_cli(namespace)`, with ENV) answers over SOCK with cgroup v2:
    (Namespace, docker info).  `on_start(namespace)` runs as soon as it exists (to record its PID).  Raises
    HarnessError (the namespace stopped) when dockerd exits, does not answer within TIMEOUT or reports another
    cgroup version."""
    if os.path.exists(sock):
        os.unlink(sock)
    log(f"starting {what}: dockerd from {root or 'the host'} (state {state_dir}, log {logfile})")
    ns = Namespace(root, binds, ["dockerd"] + list(args), logfile, state_dir)
    if on_start is not None:
        on_start(ns)
    docker_cmd = docker_cli(ns)
    try:
        deadline = time.monotonic() + timeout
        info = None
        while info is None:
            if not ns.alive():
                raise HarnessError(f"{what}: dockerd exited with {ns.proc.returncode}; see {logfile}\n"
                                   f"{tail_file(logfile)}")
            if time.monotonic() > deadline:
                raise HarnessError(f"{what}: dockerd did not answer within {timeout:.0f}s; see {logfile}")
            if os.path.exists(sock):
                p = run(docker_cmd + ["info", "--format", INFO_FORMAT], timeout=20, env=env, expect=None)
                try:
                    info = json.loads(p.stdout) if p.ok else None
                except ValueError:
                    info = None
            if info is None:
                time.sleep(0.2)
        if str(info.get("CgroupVersion")) != "2":
            raise HarnessError(f"{what}: dockerd reports cgroup version {info.get('CgroupVersion')}")
    except BaseException:
        ns.stop()
        raise
    log(f"{what}: dockerd pid {ns.pid} is up (cgroup v2)")
    return ns, info
