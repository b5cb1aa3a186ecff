"""Relay mode (src/relay/): stock systemd as PID 1 of a nested PID namespace.

The init relays when systemd is stock and the container has CAP_SYS_ADMIN (default --relay=auto): it
stays PID 1 of the container, translates SIGTERM → SIGRTMIN+3 and exits with systemd's status.
Stock systemd still needs a writable cgroup fs, so the runs use --privileged (rw cgroup2 in a private
cgroup namespace) or, as the least capability set, --cap-add SYS_ADMIN with the insecure
--cgroupns=host rw bind. Stop timings are printed; a stop must end well before Docker's 10 s grace.

For --privileged runs on this project's private daemon the scenarios enter the container with nsenter
instead of `docker exec` (harness.helpers.in_container says why).
"""

from __future__ import annotations

from harness.docker import BOOTED_STATES
from harness import contract as C
from harness.helpers import boot, failed_units, in_container, privileged, timed_exit, wait_booted
from harness.registry import scenario

STOCK = ("sid", "trixie")
EXIT_RELAY_IMPOSSIBLE = C.EXIT_RELAY_IMPOSSIBLE   # --relay=always without CAP_SYS_ADMIN
EXIT_REBOOT = C.EXIT_REBOOT                       # relay: systemd asked for a reboot (128+SIGHUP)
# Not a speed target (those are benchmarks): the failure these checks catch is waiting out Docker's 10 s
# grace period and SIGKILL. Measured stops take 0.2-0.5 s idle and up to 2.5 s on a loaded 2-core machine.
STOP_LIMIT_S = 8.0
RELAY_LINE = "relay mode"


def least_caps(ctx) -> list:
    return ["--cap-add", "SYS_ADMIN"] + list(ctx.TMPFS_FLAGS) + list(ctx.STOCK_RW_FLAGS)


def exec_mode_failures(ctx, img, r, flags) -> list:
    """Failed units of stock systemd booted with the same flags in exec mode (--relay=never): the baseline
    that tells relay-caused failures from those of the flags (e.g. --privileged lets
    systemd-modules-load.service run, and it fails without the host's /lib/modules)."""
    c, t0 = ctx.docker.run_detached(img, flags, ["--relay=never"])
    dt, state = wait_booted(ctx, c, t0)
    failed = failed_units(ctx, c) if state in BOOTED_STATES else []
    ctx.docker.cli(["kill", "-s", "KILL", c.name], expect=None)
    r.extra["exec_mode_state"] = state
    r.extra["exec_mode_failed_units"] = failed
    return failed


def start_line(ctx, c) -> str:
    logs = ctx.docker.logs(c, tail=400)
    return next((ln for ln in logs.splitlines() if "nixos2docker: starting" in ln), "(no start line)")


def relay_engaged(ctx, c, r) -> bool:
    line = start_line(ctx, c)
    return r.check("init log says relay mode", RELAY_LINE in line, line)


def exec_checks(ctx, c, r):
    """What `docker exec` sees next to the relay."""
    p = in_container(ctx, c, ["cat", "/proc/1/comm"])
    r.check("PID 1 seen by docker exec is the init", p.stdout.strip() in ("init", "nixos2docker"),
            p.output().strip())
    p = in_container(ctx, c, ["systemctl", "is-system-running"])
    r.check("systemctl in docker exec talks to systemd", p.stdout.strip() in BOOTED_STATES, p.output().strip())
    p = in_container(ctx, c, ["systemctl", "show", "-p", "MainPID", "--value", "systemd-journald"])
    r.check("systemctl show in docker exec", p.ok and p.stdout.strip().isdigit(), p.output().strip())
    p = in_container(ctx, c, ["journalctl", "-b", "-n", "1", "--no-pager", "-q"])
    r.check("journalctl in docker exec", p.ok and p.stdout.strip() != "", p.output().strip()[-200:])
    p = in_container(ctx, c, ["sh", "-c", "nsenter -t $(cut -d' ' -f1 /proc/1/task/1/children) -p -m "
                                          "cat /proc/1/comm"])
    r.check("inside its namespace systemd is PID 1", p.stdout.strip() == "systemd", p.output().strip())
    p = in_container(ctx, c, ["sh", "-c", "echo systemd says $(systemctl show -p MainPID --value "
                                          "systemd-journald), docker exec sees $(pidof systemd-journald)"])
    r.note("journald PID: " + p.output().strip())
    p = in_container(ctx, c, ["sh", "-c", "echo controllers: $(cat /sys/fs/cgroup/cgroup.controllers), subtree_control: "
                                          "$(cat /sys/fs/cgroup/cgroup.subtree_control); "
                                          "echo init in: $(cut -d: -f3 /proc/1/cgroup)"])
    r.note("cgroups: " + " ".join(p.output().split()))


def kill_term(ctx, c, r):
    r.stop_s, r.exit_code = timed_exit(ctx, c, lambda: ctx.docker.cli(["kill", "-s", "TERM", c.name], expect=None))
    r.check("docker kill -s TERM → exit 0", r.exit_code == 0, f"exit {r.exit_code} after {r.stop_s:.2f}s")
    r.check(f"… within {STOP_LIMIT_S} s", r.stop_s < STOP_LIMIT_S, f"{r.stop_s:.2f}s")


@scenario("relay-kill-term", images=STOCK, order=200,
          doc="stock systemd, --privileged: the init relays (log line); from docker exec's namespaces PID 1 is "
              "the init, systemctl and journalctl work; systemd is PID 1 inside; `docker kill -s TERM` → "
              "SIGRTMIN+3 → exit 0 well before the 10 s grace")
def relay_kill_term(ctx, img, r):
    baseline = exec_mode_failures(ctx, img, r, privileged(ctx))
    c, r.boot_s, state = boot(ctx, img, r, privileged(ctx), allow_failed=baseline)
    relay_engaged(ctx, c, r)
    if state in BOOTED_STATES:
        exec_checks(ctx, c, r)
    kill_term(ctx, c, r)
    logs = ctx.docker.logs(c, tail=400)
    r.check("the init translated SIGTERM", "relay: SIGTERM → SIGRTMIN+3 to systemd" in logs,
            logs.strip().splitlines()[-1] if logs.strip() else "(no logs)")
    r.evidence(logs, "docker logs")


@scenario("relay-stop-sigterm", images=STOCK, order=201,
          doc="stock systemd, --privileged, stop signal SIGTERM (= an image without StopSignal, or "
              "Kubernetes): `docker stop` → exit 0 well before the 10 s grace instead of SIGKILL and 137; also when "
              "`docker stop` comes right after `docker start`, before systemd handles signals")
def relay_stop_sigterm(ctx, img, r):
    flags = privileged(ctx) + ["--stop-signal", "SIGTERM"]
    c, r.boot_s, state = boot(ctx, img, r, flags, allow_failed=exec_mode_failures(ctx, img, r, flags))
    relay_engaged(ctx, c, r)
    r.stop_s, r.exit_code = ctx.docker.timed_stop(c, timeout=60)
    r.check("docker stop (SIGTERM) → exit 0", r.exit_code == 0, f"exit {r.exit_code} after {r.stop_s:.2f}s")
    r.check(f"… within {STOP_LIMIT_S} s", r.stop_s < STOP_LIMIT_S, f"{r.stop_s:.2f}s")
    r.evidence(ctx.docker.logs(c, tail=30), "docker logs")

    # docker stop right after docker start: the SIGTERM reaches the relay before systemd has its handlers;
    # the relay holds it until systemd accepts SIGRTMIN+3 (the kernel would drop it otherwise).
    c2, _ = ctx.docker.run_detached(img, flags)
    early_s, early_code = ctx.docker.timed_stop(c2, timeout=60)
    r.extra.update({"early_stop_s": round(early_s, 3), "early_exit_code": early_code})
    r.check("docker stop right after start → exit 0", early_code == 0, f"exit {early_code} after {early_s:.2f}s")
    r.check(f"… within {STOP_LIMIT_S} s", early_s < STOP_LIMIT_S, f"{early_s:.2f}s")
    r.evidence(ctx.docker.logs(c2, tail=30), "docker logs (early stop)")


@scenario("relay-exit-code", images=STOCK, order=202,
          doc="stock systemd, relay (--cap-add SYS_ADMIN --cap-add SYS_BOOT + rw cgroup, so reboot(2) reaches "
              "the kernel): `systemctl exit 7` → container exit 7; `systemctl poweroff` → 0; "
              "`systemctl reboot` → 129 (128+SIGHUP, see src/relay/decide.rs); `docker kill -s INT` (ctrl-alt-del) → 129")
def relay_exit_code(ctx, img, r):
    flags = least_caps(ctx) + ["--cap-add", "SYS_BOOT"]
    for verb, want in (("exit 7", 7), ("poweroff", 0), ("reboot", EXIT_REBOOT), ("kill -s INT", EXIT_REBOOT)):
        c, boot_s, state = boot(ctx, img, r, flags, label=verb)
        if state not in BOOTED_STATES:
            continue
        if verb.startswith("kill"):  # SIGINT = ctrl-alt-del.target = reboot, forwarded unchanged
            dt, code = timed_exit(ctx, c, lambda: ctx.docker.cli(verb.split() + [c.name], expect=None))
            verb = "docker " + verb
        else:
            dt, code = timed_exit(ctx, c, lambda: in_container(ctx, c, ["systemctl"] + verb.split()))
        r.extra["sigint_s" if verb.startswith("docker") else f"{verb.split()[0]}_s"] = round(dt, 3)
        r.check(f"{verb if verb.startswith('docker') else 'systemctl ' + verb} → exit {want}", code == want,
                f"exit {code} after {dt:.2f}s")
        if verb == "exit 7":
            r.exit_code = code
        if code != want:
            r.evidence(ctx.docker.logs(c, tail=40), f"docker logs ({verb})")


@scenario("relay-least-caps", images=STOCK, order=203,
          doc="least capability set for relay: --cap-add SYS_ADMIN + a writable cgroup fs (here the insecure "
              "--cgroupns=host rw bind): relays, docker exec systemctl works, docker kill -s TERM → exit 0 in "
              "well before the grace; SYS_ADMIN with Docker's read-only cgroup fs is still exit 15; --relay=always without "
              "SYS_ADMIN → exit 21")
def relay_least_caps(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, least_caps(ctx))
    relay_engaged(ctx, c, r)
    if state in BOOTED_STATES:
        exec_checks(ctx, c, r)
    kill_term(ctx, c, r)

    c2, _ = ctx.docker.run_detached(img, ["--cap-add", "SYS_ADMIN"] + list(ctx.TMPFS_FLAGS))
    code2 = ctx.docker.wait_exit(c2, timeout=30)
    r.check("SYS_ADMIN with the read-only cgroup fs → exit 15", code2 == 15, f"exit {code2}")

    c3, _ = ctx.docker.run_detached(img, list(ctx.TMPFS_FLAGS) + list(ctx.STOCK_RW_FLAGS), ["--relay=always"])
    code3 = ctx.docker.wait_exit(c3, timeout=30)
    logs3 = ctx.docker.logs(c3, tail=10)
    last3 = logs3.strip().splitlines()[-1] if logs3.strip() else ""
    r.check(f"--relay=always without SYS_ADMIN → exit {EXIT_RELAY_IMPOSSIBLE}", code3 == EXIT_RELAY_IMPOSSIBLE,
            f"exit {code3}: {last3}")
    r.check("… the message names CAP_SYS_ADMIN", "CAP_SYS_ADMIN" in logs3, last3)


@scenario("relay-not-patched", images=["sid-patched", "trixie-patched"], order=204,
          doc="patched systemd under --privileged (CAP_SYS_ADMIN present): auto never relays — the init's "
              "start line says exec, PID 1 is systemd; docker kill -s TERM stops it (the patches)")
def relay_not_patched(ctx, img, r):
    # This IS exec mode; --privileged lets systemd-modules-load.service run, and it fails on trixie without
    # the host's /lib/modules (relay-kill-term measures the same failure for stock exec mode).
    c, r.boot_s, state = boot(ctx, img, r, privileged(ctx), allow_failed=["systemd-modules-load.service"])
    line = start_line(ctx, c)
    r.check("init log says exec, not relay", RELAY_LINE not in line and "exec, no relay" in line, line)
    r.check("no relay line at all", "nixos2docker: relay:" not in ctx.docker.logs(c, tail=400), "")
    if state in BOOTED_STATES:
        p = in_container(ctx, c, ["cat", "/proc/1/comm"])
        r.check("PID 1 is systemd", p.stdout.strip() == "systemd", p.output().strip())
    r.stop_s, r.exit_code = timed_exit(ctx, c, lambda: ctx.docker.cli(["kill", "-s", "TERM", c.name], expect=None))
    # Exec mode under --privileged: systemd has CAP_SYS_BOOT, so its halt is a reboot(2) in the container's
    # PID namespace and the kernel kills it with SIGINT (exit 130); without CAP_SYS_BOOT it exits 0.
    r.check("docker kill -s TERM stops patched systemd (exit 0, or 130 = halt via reboot(2) under --privileged)",
            r.exit_code in (0, 130), f"exit {r.exit_code} after {r.stop_s:.2f}s")
    r.check(f"… within {STOP_LIMIT_S} s", r.stop_s < STOP_LIMIT_S, f"{r.stop_s:.2f}s")
    if r.exit_code == 130:
        r.note("exec mode, --privileged: halt ends with 130 (SIGINT from reboot(2)), relay mode would map it to 0")


@scenario("relay-tty", images=STOCK, order=205,
          doc="relay with a terminal (`docker run -t`, --cap-add SYS_ADMIN + rw cgroup): boots to running, "
              "systemd's status lines reach docker logs through /dev/console, docker kill -s TERM → exit 0 "
              "well before the 10 s grace")
def relay_tty(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, least_caps(ctx) + ["-t"])
    relay_engaged(ctx, c, r)
    logs = ctx.docker.logs(c, tail=400)
    r.check("systemd's boot status in docker logs", "Reached target" in logs or "Started" in logs,
            logs.strip().splitlines()[-1] if logs.strip() else "(no logs)")
    kill_term(ctx, c, r)
