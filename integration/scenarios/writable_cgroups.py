"""Docker >= 28 `--security-opt writable-cgroups=true` (moby PR 48828): the container keeps a private cgroup
namespace, and its own subtree of the cgroup2 mount is writable.  Run on the Docker 28 engines only.

What the init sees there: cgroup2, writable, private namespace (``/proc/self/cgroup`` = ``0::/``), Docker's
default capabilities (no CAP_SYS_ADMIN, so no PID namespace for relay mode).  Stock systemd is therefore
exec'd as PID 1 (not relayed) and keeps its own signal handling; patched systemd gets a writable cgroup fs,
so the init does not tell it to leave controllers alone, and it files its units in cgroups of their own.
"""

from __future__ import annotations

import time

from harness.docker import BOOTED_STATES
from harness.helpers import boot, stop
from harness.registry import scenario

WCG = ["--security-opt", "writable-cgroups=true"]
DOCKER28 = ["docker28", "docker28-crun"]


def _cgroup_facts(ctx, c, r, label: str) -> dict:
    """Where PID 1 and journald live, and whether the cgroup fs is writable, as the container sees it."""
    out = {}
    p = ctx.docker.exec(c, ["cat", "/proc/1/cgroup"], timeout=30, expect=None)
    # the unified ("0::") line; a hybrid host also lists its v1 hierarchies there
    out["pid1_cgroup"] = next((ln for ln in p.stdout.splitlines() if ln.startswith("0::")), p.stdout.strip())
    p = ctx.docker.exec(c, ["systemctl", "show", "-P", "ControlGroup", "systemd-journald.service"], timeout=30, expect=None)
    out["journald_cgroup"] = p.stdout.strip()
    p = ctx.docker.exec(c, ["sh", "-c", "grep -E ' /sys/fs/cgroup ' /proc/self/mountinfo"], timeout=30, expect=None)
    out["cgroup_mount"] = p.stdout.strip()
    p = ctx.docker.exec(c, ["sh", "-c", "pid=$(systemctl show -P MainPID systemd-journald.service); "
                            "cat /sys/fs/cgroup$(systemctl show -P ControlGroup systemd-journald.service)"
                            "/cgroup.procs 2>&1; echo main=$pid"], timeout=30, expect=None)
    out["journald_procs"] = p.stdout.strip()
    r.extra[f"cgroups_{label}"] = out
    return out


def _kill_term(ctx, r, c, label: str, wait_s: float = 8.0):
    """`docker kill -s TERM` (what Kubernetes sends); returns (exited, exit code or None, seconds)."""
    t0 = time.monotonic()
    p = ctx.docker.cli(["kill", "-s", "TERM", c.name], timeout=30, expect=None)
    r.check(f"docker kill -s TERM accepted ({label})", p.ok, p.output().strip())
    code = ctx.docker.wait_exit(c, timeout=wait_s)
    return code is not None, code, time.monotonic() - t0


@scenario("wcg-stock", images=["sid"], engines=DOCKER28, order=80,
          doc="STOCK systemd with only --security-opt writable-cgroups=true + the 3 --tmpfs flags (Docker >= 28): "
              "the init execs it (no relay: no CAP_SYS_ADMIN), it boots to running with Docker's default "
              "capabilities; docker stop (image StopSignal SIGRTMIN+3) → exit 0; docker kill -s TERM → stock "
              "systemd re-executes and keeps running (recorded), so SIGTERM-only stops need the grace period")
def wcg_stock(ctx, img, r):
    flags = ctx.TMPFS_FLAGS + WCG
    p = ctx.docker.run_once(img, flags, ["doctor"], timeout=60, expect=None)
    r.evidence(p.output(), "doctor with writable-cgroups")
    r.check("doctor with writable-cgroups exits 0 (boots)", p.returncode == 0, f"exit {p.returncode}")
    r.check("doctor sees a writable cgroup2 in a private namespace",
            "writable, private cgroup namespace" in p.output(), p.output()[-400:])
    r.check("doctor says stock systemd is exec'd (no relay without CAP_SYS_ADMIN)",
            "exec'd as PID 1" in p.output(), p.output()[-400:])

    c, r.boot_s, state = boot(ctx, img, r, flags)
    if state not in BOOTED_STATES:
        return
    ctx.check_capeff(c, r)
    pc = ctx.docker.exec(c, ["cat", "/proc/1/comm"], timeout=30, expect=None)
    r.check("PID 1 is systemd (exec, not the relay)", pc.stdout.strip() == "systemd", pc.output().strip())
    facts = _cgroup_facts(ctx, c, r, "stock")
    r.check("PID 1 in its own init.scope (systemd made cgroups)", facts["pid1_cgroup"] == "0::/init.scope",
            facts["pid1_cgroup"])
    r.check("cgroup2 mounted read-write", " rw," in facts["cgroup_mount"] or " rw " in facts["cgroup_mount"],
            facts["cgroup_mount"])
    want_sig = ctx.profile["image"]["stopSignal"]
    r.stop_s, r.exit_code = ctx.docker.timed_stop(c)
    r.check(f"docker stop ({want_sig}) → exit 0", r.exit_code == 0, f"exit {r.exit_code} after {r.stop_s:.2f}s")

    c2, boot2, state2 = boot(ctx, img, r, flags, label="kill -s TERM")
    if state2 not in BOOTED_STATES:
        return
    exited, code, dt = _kill_term(ctx, r, c2, "stock")
    r.extra.update({"kill_term_exited": exited, "kill_term_exit_code": code, "kill_term_s": round(dt, 2)})
    r.check("docker kill -s TERM: stock systemd does not stop (it re-executes), still running after 8 s",
            not exited, f"exited with {code} after {dt:.2f}s" if exited else "still running")
    if not exited:
        dt2, st = ctx.docker.wait_booted(c2, timeout=60)
        r.check("…and is back to running after the re-execution", st == "running", f"{st} after {dt2:.2f}s")
        s2, code2 = ctx.docker.timed_stop(c2)
        r.check("docker stop afterwards → exit 0", code2 == 0, f"exit {code2} after {s2:.2f}s")
    r.note(f"writable-cgroups, stock: boot {r.boot_s:.2f}s, stop {r.stop_s:.2f}s exit {r.exit_code}; "
           f"kill -s TERM: {'exit ' + str(code) if exited else 'ignored (re-exec), still running'}")


@scenario("wcg-patched", images=["sid-patched"], engines=DOCKER28, order=81,
          doc="PATCHED systemd with --security-opt writable-cgroups=true + the 3 --tmpfs flags: boots to running, "
              "uses the writable subtree (PID 1 in /init.scope, journald in its own service cgroup listing its PID; "
              "without the flag the same image keeps everything in the root cgroup), docker stop and docker kill "
              "-s TERM each → exit 0")
def wcg_patched(ctx, img, r):
    flags = ctx.TMPFS_FLAGS + WCG
    c, r.boot_s, state = boot(ctx, img, r, flags)
    if state not in BOOTED_STATES:
        return
    ctx.check_capeff(c, r)
    facts = _cgroup_facts(ctx, c, r, "writable")
    r.check("PID 1 in /init.scope", facts["pid1_cgroup"] == "0::/init.scope", facts["pid1_cgroup"])
    r.check("journald in its own cgroup /system.slice/systemd-journald.service",
            facts["journald_cgroup"] == "/system.slice/systemd-journald.service", facts["journald_cgroup"])
    procs = facts["journald_procs"].splitlines()
    main = procs[-1].removeprefix("main=") if procs else ""
    r.check("that cgroup's cgroup.procs lists journald's MainPID", bool(main) and main in procs[:-1],
            facts["journald_procs"])
    stop(ctx, c, r)

    # The same image on Docker's default read-only cgroup: no subtree to use (the contrast the flag makes).
    c0, _, st0 = boot(ctx, img, r, ctx.TMPFS_FLAGS, label="read-only cgroup")
    if st0 in BOOTED_STATES:
        ro = _cgroup_facts(ctx, c0, r, "read-only")
        r.check("without the flag PID 1 stays in the namespace root cgroup (read-only fs)",
                ro["pid1_cgroup"] == "0::/", ro["pid1_cgroup"])
        r.check("without the flag journald has no cgroup of its own", ro["journald_cgroup"] in ("", "/"),
                ro["journald_cgroup"])
        ctx.docker.timed_stop(c0)

    c2, boot2, state2 = boot(ctx, img, r, flags, label="kill -s TERM")
    if state2 not in BOOTED_STATES:
        return
    exited, code, dt = _kill_term(ctx, r, c2, "patched", wait_s=30)
    r.extra.update({"kill_term_exit_code": code, "kill_term_s": round(dt, 2)})
    r.check("docker kill -s TERM → clean shutdown, exit 0", exited and code == 0,
            f"exit {code} after {dt:.2f}s" if exited else "still running after 30 s")
    r.note(f"writable-cgroups, patched: boot {r.boot_s:.2f}s, stop {r.stop_s:.2f}s; kill -s TERM exit {code} "
           f"in {dt:.2f}s")
