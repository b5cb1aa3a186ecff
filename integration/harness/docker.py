"""Container helpers for scenarios: every container is labelled with the run id, has
``--network none`` and is removed (with its anonymous volumes) after each scenario and at exit."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from .util import HarnessError, Proc, log, run

# Docker's documented default capability set (docs: "Runtime privilege and Linux capabilities",
# moby oci/caps/defaults.go) and the capability numbers of linux/capability.h.
DOCKER_DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
# podman's default set: the `default_capabilities` of containers-common's containers.conf (podman ≥ 4
# ships it without MKNOD, NET_RAW and AUDIT_WRITE).  The harness's containers.conf restates it, because
# CONTAINERS_CONF replaces the distribution's file.
PODMAN_DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
]
CAP_NUMBERS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}
CAP_NAMES = {v: k for k, v in CAP_NUMBERS.items()}


def caps_mask(names) -> int:
    m = 0
    for n in names:
        m |= 1 << CAP_NUMBERS[n]
    return m


def mask_names(mask: int) -> list:
    return [CAP_NAMES.get(i, f"cap{i}") for i in range(64) if mask >> i & 1]


DOCKER_DEFAULT_CAPEFF = caps_mask(DOCKER_DEFAULT_CAPS)

BOOTED_STATES = ("running", "degraded", "maintenance", "stopping")


@dataclass
class Container:
    name: str
    image: str
    flags: list
    args: list


class Docker:
    """An engine's CLI (Docker's; harness.podman.Podman is podman's). Which kind the engine under test is,
    is ``ctx.engine.kind`` (its EngineSpec): the clients do not store it again."""

    def __init__(self, daemon, run_id: str):
        self.env = daemon.env
        self.bin = daemon.docker_bin
        self.prefix: list = []  # e.g. nsenter into an engine's namespace (harness.engines)
        self.run_id = run_id
        self.label = f"org.nixos2docker.harness.run={run_id}"
        self.containers: list = []
        self._n = itertools.count(1)

    def cli(self, args, timeout: float = 60, input: str | None = None, env: dict | None = None,
            expect: int | None = 0) -> Proc:
        """Run the engine's CLI (inside the engine's namespace when it has one); ENV adds variables.
        Raises unless it exits with `expect` (see util.run)."""
        return run(self.prefix + [self.bin] + list(args), timeout=timeout,
                   env=dict(self.env, **env) if env else self.env, input=input, expect=expect)

    # -- lifecycle --------------------------------------------------------------------------------
    def _run_args(self, image, flags, name):
        return ["--name", name, "--label", self.label, "--network", "none"] + list(flags) + [image]

    def _image_tag(self, image) -> str:
        return image if isinstance(image, str) else image.tag

    def create(self, image, flags=(), args=(), timeout: float = 60) -> Container:
        name = f"n2d-{self.run_id}-{next(self._n)}"
        tag = self._image_tag(image)
        self.containers.append(name)
        self.cli(["create"] + self._run_args(tag, flags, name) + list(args), timeout=timeout)
        return Container(name, tag, list(flags), list(args))

    def start(self, c: Container, timeout: float = 60) -> float:
        t0 = time.monotonic()
        self.cli(["start", c.name], timeout=timeout)
        return time.monotonic() - t0

    def run_detached(self, image, flags=(), args=()) -> tuple:
        """create + start; returns (container, monotonic time just before `docker start`)."""
        c = self.create(image, flags, args)
        t0 = time.monotonic()
        self.start(c)
        return c, t0

    def run_once(self, image, flags=(), args=(), timeout: float = 60, expect: int | None = 0) -> Proc:
        """`docker run --rm` in the foreground (output captured); returns the Proc."""
        name = f"n2d-{self.run_id}-{next(self._n)}"
        self.containers.append(name)
        return self.cli(["run", "--rm"] + self._run_args(self._image_tag(image), flags, name)
                        + list(args), timeout=timeout, expect=expect)

    def wait_exit(self, c: Container, timeout: float = 30) -> int | None:
        """Wait for the container to exit; its exit code, or None on timeout."""
        p = self.cli(["wait", c.name], timeout=timeout, expect=None)
        if p.timed_out:
            return None
        try:
            return int(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise HarnessError("docker wait failed:\n" + p.describe())

    def state(self, c: Container) -> dict:
        p = self.cli(["inspect", "--format", "{{json .State}}", c.name], timeout=30)
        import json
        return json.loads(p.stdout)

    def exit_code(self, c: Container) -> int:
        return int(self.state(c).get("ExitCode"))

    def logs(self, c: Container, tail: int = 25) -> str:
        p = self.cli(["logs", "--tail", str(tail), c.name], timeout=30, expect=None)
        return p.output()

    def exec(self, c: Container, cmd, timeout: float = 30, flags=(), expect: int | None = 0) -> Proc:
        """`docker exec`. When the runtime itself failed to start the process ("OCI runtime exec failed",
        seen once in ~160 runs with runc 1.1 under load: "read init-p: connection reset by peer") the
        command never ran: it is retried once, and the retry's result counts."""
        args = ["exec"] + list(flags) + [c.name] + list(cmd)
        p = self.cli(args, timeout=timeout, expect=None)
        if p.returncode == 126 and "OCI runtime exec failed" in p.output():
            log(f"docker exec: the runtime failed to start the process, retrying once: {p.output().strip()[-200:]}")
            time.sleep(0.5)
            p = self.cli(args, timeout=timeout, expect=None)
        if expect is not None and (p.timed_out or p.returncode != expect):
            raise HarnessError(f"expected exit {expect}:\n" + p.describe())
        return p

    def wait_booted(self, c: Container, t0: float | None = None, timeout: float = 90) -> tuple:
        """Poll `docker exec C systemctl is-system-running --wait` until it answers a final state.

        Returns (seconds since t0, state); state is e.g. "running", "degraded",
        "exited(N)" when the container stopped, or "timeout(last answer)"."""
        t0 = time.monotonic() if t0 is None else t0
        deadline = t0 + timeout
        last = ""
        runtime_errors = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return time.monotonic() - t0, f"timeout({last.strip()[:200]})"
            p = self.exec(c, ["systemctl", "is-system-running", "--wait"], timeout=left, expect=None)
            out = p.stdout.strip().splitlines()
            ans = out[-1].strip() if out else ""
            if ans in BOOTED_STATES:
                return time.monotonic() - t0, ans
            last = p.output()
            # `exec` itself failing (not systemctl) over and over will not get better by waiting
            runtime_errors = runtime_errors + 1 if "OCI runtime exec failed" in last else 0
            if runtime_errors >= 20:
                return time.monotonic() - t0, f"exec-failed({last.strip()[:200]})"
            if p.timed_out:
                continue
            st = self.state(c)
            if not st.get("Running"):
                return time.monotonic() - t0, f"exited({st.get('ExitCode')})"
            time.sleep(0.05)

    def timed_stop(self, c: Container, grace: int | None = None, timeout: float = 120) -> tuple:
        """`docker stop` wall time and the exit code afterwards."""
        args = ["stop"] + (["-t", str(grace)] if grace is not None else []) + [c.name]
        t0 = time.monotonic()
        self.cli(args, timeout=timeout)
        dt = time.monotonic() - t0
        return dt, self.exit_code(c)

    def capeff(self, c: Container, pid: int = 1) -> int | None:
        p = self.exec(c, ["cat", f"/proc/{pid}/status"], timeout=30, expect=None)
        for line in p.stdout.splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
        return None

    # -- cleanup ----------------------------------------------------------------------------------
    def remove_tracked(self) -> None:
        names, self.containers = self.containers, []
        if names:
            p = self.cli(["rm", "-f", "-v"] + names, timeout=120, expect=None)
            if not p.ok and "No such container" not in p.output():
                log(f"could not remove containers: {p.output().strip()}")

    def remove_labelled(self, label: str | None = None) -> None:
        p = self.cli(["ps", "-aq", "--filter", f"label={label or self.label}"], timeout=60, expect=None)
        ids = p.stdout.split()
        if ids:
            self.cli(["rm", "-f", "-v"] + ids, timeout=120, expect=None)
