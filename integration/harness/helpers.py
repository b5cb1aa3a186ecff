"""Steps the scenarios share: boot a container and judge the boot, list its failed units, run a command in
it, end it and time the end.  Scenario modules import these (from ``harness.helpers``), never each other
(integration/tests/test_imports.py checks that).

Every helper takes ``ctx`` (the run context) and a ``harness.docker.Container``; ``client`` is the engine's
CLI (``ctx.docker``) unless given (e.g. ``ctx.podman()`` next to a Docker engine).

On this project's private daemon `docker exec` into a --privileged container fails (the exec process asks
for capabilities the host lacks; the n2d-hostcaps wrapper only rewrites `create`), so for those containers
``in_container`` enters the container's namespaces with nsenter from the host instead: the same namespaces
`docker exec` joins.
"""

from __future__ import annotations

import re
import time

from .docker import BOOTED_STATES
from .util import run

FAILED_UNITS_CMD = ["systemctl", "--failed", "--no-legend", "--plain"]
PREAMBLE_RE = re.compile(r"after (\d+) µs of checks")


def unit_names(listing: str) -> list:
    """Unit names (first column) of a `systemctl --failed --no-legend --plain` (or list-units) listing."""
    return [ln.split()[0] for ln in listing.splitlines() if ln.strip()]


def privileged_runtime(ctx) -> list:
    """On a private daemon of a host that lacks capabilities, --privileged needs the runtime wrapper."""
    return ctx.engine.privileged_runtime() if ctx.engine is not None else []


def privileged(ctx) -> list:
    """--privileged with the 3 --tmpfs flags (and the runtime wrapper this host needs for it)."""
    return ["--privileged"] + list(ctx.TMPFS_FLAGS) + privileged_runtime(ctx)


def exec_works(ctx, flags) -> bool:
    """Whether `docker exec` can run in a container made with FLAGS on this engine."""
    return not ("--privileged" in flags and privileged_runtime(ctx))


def container_pids(ctx, c) -> tuple:
    """(host PID of the container's PID 1, host PID of its first child — systemd in relay mode — or None)."""
    p = ctx.docker.cli(["inspect", "--format", "{{.State.Pid}}", c.name], timeout=30, expect=None)
    try:
        init = int(p.stdout.strip())
        with open(f"/proc/{init}/task/{init}/children") as f:
            kids = f.read().split()
    except (ValueError, OSError):
        return None, None
    return init, (int(kids[0]) if kids else None)


def in_container(ctx, c, cmd, timeout=30, client=None):
    """`docker exec C CMD` (never raises on its exit code), or where that cannot run, nsenter from the host
    into the same namespaces."""
    client = client or ctx.docker
    if client is not ctx.docker or exec_works(ctx, c.flags):
        return client.exec(c, cmd, timeout=timeout, expect=None)
    init, _ = container_pids(ctx, c)
    return run(["nsenter", "-t", str(init or 0), "-a", "--"] + list(cmd), timeout=timeout, expect=None)


def wait_booted(ctx, c, t0, timeout=90, client=None) -> tuple:
    """Poll `systemctl is-system-running --wait` in the container: (seconds since t0, state); state is a
    booted state, "exited(N)" or "timeout(last answer)"."""
    client = client or ctx.docker
    if client is not ctx.docker or exec_works(ctx, c.flags):
        return client.wait_booted(c, t0, timeout=timeout)
    last = ""
    while time.monotonic() - t0 < timeout:
        left = max(1.0, timeout - (time.monotonic() - t0))
        p = in_container(ctx, c, ["systemctl", "is-system-running", "--wait"], timeout=left)
        out = p.stdout.strip().splitlines()
        if out and out[-1].strip() in BOOTED_STATES:
            return time.monotonic() - t0, out[-1].strip()
        last = p.output()
        if not ctx.docker.state(c).get("Running"):
            return time.monotonic() - t0, f"exited({ctx.docker.exit_code(c)})"
        time.sleep(0.05)
    return time.monotonic() - t0, f"timeout({last.strip()[:200]})"


def failed_units(ctx, c, client=None) -> list:
    """The failed units of a booted container, sorted."""
    return sorted(unit_names(in_container(ctx, c, FAILED_UNITS_CMD, client=client).stdout))


def boot(ctx, img, r, flags, label: str = "", args=(), allow_failed=(), timeout: float = 90) -> tuple:
    """Create + start; wait until systemd has booted; check `running` — or `degraded` by exactly units of
    `allow_failed` (failures the same flags give without the change under test, measured by the caller).
    Records the failed units (``extra["failed_units[_LABEL]"]``), the init's preamble time, and the logs of a
    boot that did not reach `running`.  Returns (container, seconds, state)."""
    sfx = f" ({label})" if label else ""
    c, t0 = ctx.docker.run_detached(img, flags, args)
    dt, state = wait_booted(ctx, c, t0, timeout=timeout)
    if not exec_works(ctx, flags):
        r.note("nsenter from the host stands in for docker exec (--privileged on this daemon)")
    failed = failed_units(ctx, c) if state in BOOTED_STATES else []
    r.extra["failed_units" + (f"_{label}" if label else "")] = failed
    if failed:
        r.evidence("\n".join(failed), "systemctl --failed" + sfx)
    ok = state == "running" or (state == "degraded" and bool(failed) and set(failed) <= set(allow_failed))
    allowed = f" (or degraded by {', '.join(allow_failed)} as without relay)" if allow_failed else ""
    r.check(f"boots to running{sfx}{allowed}", ok,
            f"state {state} after {dt:.2f}s" + (f"; failed: {' '.join(failed)}" if failed else ""))
    logs = ctx.docker.logs(c, tail=60)
    if state != "running":
        r.evidence(logs, "docker logs" + sfx)
    us = PREAMBLE_RE.findall(logs)
    if us:  # the init's own figure (informational; no timing asserts)
        r.extra.setdefault("preamble_us", []).append(int(us[-1]))
    return c, dt, state


def timed_exit(ctx, c, action, timeout: float = 60) -> tuple:
    """Run `action()` (a docker kill, a systemctl in the container, …), then `docker wait`: (seconds, exit
    code or None when it did not end within `timeout`)."""
    t0 = time.monotonic()
    action()
    code = ctx.docker.wait_exit(c, timeout=timeout)
    return time.monotonic() - t0, code


def kill_and_wait(ctx, c, sig: str = "TERM", timeout: float = 60) -> tuple:
    """`docker kill -s SIG` (if it still runs), then `docker wait`: (seconds, exit code or None = a hang)."""
    def kill():
        if ctx.docker.state(c).get("Running"):
            ctx.docker.cli(["kill", "-s", sig, c.name], timeout=30, expect=None)
    return timed_exit(ctx, c, kill, timeout=timeout)


def stop(ctx, c, r, check: str = "docker stop → exit 0", client=None) -> tuple:
    """`docker stop` (the image's StopSignal), timed; checks that it ends with exit 0 and records the time
    and code as the result's stop_s and exit_code.  Returns (seconds, exit code)."""
    r.stop_s, r.exit_code = (client or ctx.docker).timed_stop(c)
    r.check(check, r.exit_code == 0, f"exit {r.exit_code} after {r.stop_s:.2f}s")
    return r.stop_s, r.exit_code


def journal(ctx, c, *args, until=None, timeout: float = 5.0, client=None) -> str:
    """`journalctl --no-pager -o cat ARGS` inside C; with `until`, polled (journald takes messages
    asynchronously) until until(output) holds or `timeout` seconds passed."""
    client = client or ctx.docker
    deadline = time.monotonic() + timeout
    while True:
        out = client.exec(c, ["journalctl", "--no-pager", "-o", "cat", *args], timeout=30, expect=None).stdout
        if until is None or until(out) or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def write_file(ctx, c, path: str, text: str, client=None):
    """Write TEXT to PATH inside C (through `sh`, as root); the exec's result."""
    client = client or ctx.docker
    return client.exec(c, ["sh", "-c", 'printf "%s" "$1" > "$2"', "sh", text, path], timeout=30, expect=None)


def unit_props(ctx, c, unit: str, props, client=None) -> dict:
    """`systemctl show -p PROPS UNIT` inside C as a dict (a property systemd does not know is left out)."""
    client = client or ctx.docker
    p = client.exec(c, ["systemctl", "show", "-p", ",".join(props), unit], timeout=30, expect=None)
    return dict(ln.split("=", 1) for ln in p.stdout.splitlines() if "=" in ln)
