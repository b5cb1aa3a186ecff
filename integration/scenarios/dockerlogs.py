"""What `docker logs` shows in each dockerLogs mode (profile `dockerLogs`, `-e NIXOS2DOCKER_DOCKER_LOGS=…`).

The init writes the drop-ins (README "The init", step 4); what reaches `docker logs` then depends on journald
forwarding to the container log (mode `all`) and on where PID 1 logs (mode `pid1`: LogTarget=console), so
this scenario checks the patched systemd and the init together.
"""

from __future__ import annotations

import json
import time
import uuid

from harness import contract as C
from harness.registry import scenario

ENV = "NIXOS2DOCKER_DOCKER_LOGS"
JOURNALD_CONF = "/run/systemd/journald.conf.d/50-nixos2docker.conf"
JOURNALD_UNIT = "/run/systemd/system.control/systemd-journald.service.d/50-nixos2docker.conf"
MANAGER_CONF = "/run/systemd/system.conf.d/50-nixos2docker.conf"


def _boot_and_log(ctx, img, r, mode):
    """Boot with MODE (None = the image's default); a oneshot service and `systemd-cat` print unique
    markers after the boot. Returns (marker tag, docker logs before, docker logs after, /run files)."""
    flags = list(img.boot_flags) + (["-e", f"{ENV}={mode}"] if mode else [])
    c, t0 = ctx.docker.run_detached(img, flags)
    w = ctx.docker.exec(c, ["nixos2docker", "wait"], timeout=120, expect=None)
    label = mode or "default"
    r.check(f"[{label}] boots: nixos2docker wait → 0", w.returncode == 0, w.output().strip()[-300:])
    p = ctx.docker.exec(c, ["sh", "-c", f"for f in {MANAGER_CONF} {JOURNALD_CONF} {JOURNALD_UNIT}; do "
                                        "[ -e $f ] && { echo \"== $f\"; cat $f; }; done; true"], timeout=30, expect=None)
    files = p.stdout
    before = ctx.docker.logs(c, tail=100000)
    tag = uuid.uuid4().hex[:10]
    svc = f"n2d-logs-{tag}"
    # A description of its own: systemd-run's default is the command line, which PID 1 repeats ("Started …").
    p = ctx.docker.exec(c, ["systemd-run", "--wait", "--unit", svc, "--description", "n2d docker-logs test",
                            "/bin/echo", f"service-line-{tag}"], timeout=60, expect=None)
    r.check(f"[{label}] test service ran", p.returncode == 0, p.output().strip()[-200:])
    ctx.docker.exec(c, ["systemd-cat", "-t", "n2d-logs", "/bin/echo", f"cat-line-{tag}"], timeout=30, expect=None)
    time.sleep(1.0)
    after = ctx.docker.logs(c, tail=100000)
    r.evidence(files, f"[{label}] drop-ins under /run")
    r.evidence(after[-3000:], f"[{label}] docker logs")
    ctx.docker.timed_stop(c)
    return tag, svc, before, after[len(before):] if after.startswith(before) else after, files


@scenario("docker-logs", images=["sid-patched", "trixie-patched"], order=125,
          doc="dockerLogs modes as a user sees them: all (default) → a service's own line and a systemd-cat "
              "line are in `docker logs`; -e NIXOS2DOCKER_DOCKER_LOGS=pid1 → the service's line is not, PID 1's "
              "line about the service is; off → neither after boot. The drop-ins under /run match the mode; "
              "`init --dry-run` shows them; an unknown mode → exit 17 naming the variable")
def docker_logs(ctx, img, r):
    # Init side, no boot: dry run and a bad value.
    p = ctx.docker.run_once(img, list(img.boot_flags) + ["-e", f"{ENV}=pid1"], args=["--dry-run"], timeout=60, expect=None)
    try:
        plan = json.loads(p.stdout)
        mgr = [a for a in plan["actions"] if a.get("path") == MANAGER_CONF]
    except (ValueError, KeyError, TypeError):
        plan, mgr = None, []
    r.check("init --dry-run (pid1) shows the manager drop-in with LogTarget=console",
            bool(mgr) and "LogTarget=console" in mgr[0].get("content", ""), p.output()[-400:])
    r.check("init --dry-run (pid1) writes no journald drop-in",
            bool(plan) and not any(a.get("path") in (JOURNALD_CONF, JOURNALD_UNIT) for a in plan["actions"]),
            p.output()[-400:])
    p = ctx.docker.run_once(img, list(img.boot_flags) + ["-e", f"{ENV}=loud"], timeout=60, expect=None)
    r.check(f"{ENV}=loud → exit {C.EXIT_BAD_CONFIG}, message names the fix",
            p.returncode == C.EXIT_BAD_CONFIG and f"-e {ENV}=all" in p.output(),
            f"exit {p.returncode}: {p.output().strip()[-300:]}")

    # all (the image's default)
    tag, svc, before, new, files = _boot_and_log(ctx, img, r, None)
    r.check("[all] journald forwards (ForwardToConsole=yes) and its stdout is PID 1's stderr",
            "ForwardToConsole=yes" in files and "StandardOutput=file:/proc/1/fd/2" in files, files[-400:])
    r.check("[all] LogTarget=journal, status lines left on", "LogTarget=journal" in files and "ShowStatus=no" not in files,
            files[-400:])
    r.check("[all] docker logs has the service's own line", f"service-line-{tag}" in new, new[-400:])
    r.check("[all] docker logs has the systemd-cat line", f"cat-line-{tag}" in new, new[-400:])

    # pid1
    tag, svc, before, new, files = _boot_and_log(ctx, img, r, "pid1")
    r.check("[pid1] LogTarget=console, no journald forwarding",
            "LogTarget=console" in files and "ForwardToConsole" not in files, files[-400:])
    r.check("[pid1] docker logs lacks the service's own line", f"service-line-{tag}" not in new, new[-400:])
    r.check("[pid1] docker logs lacks the systemd-cat line", f"cat-line-{tag}" not in new, new[-400:])
    r.check("[pid1] docker logs has PID 1's line about the service", svc in new, new[-400:])

    # off
    tag, svc, before, new, files = _boot_and_log(ctx, img, r, "off")
    r.check("[off] no journald forwarding, LogTarget=journal",
            "ForwardToConsole" not in files and "LogTarget=journal" in files, files[-400:])
    r.check("[off] the boot's start is in docker logs (init line)", C.MESSAGE_PREFIX in before, before[:300])
    r.check("[off] after boot: no service line, no PID 1 line about it",
            f"service-line-{tag}" not in new and svc not in new, new[-400:] or "(nothing new)")
