"""`nixos2docker wait` and the image HEALTHCHECK built on it (README "Quick start", "Exit codes").

`docker run -d` then at once `docker exec C nixos2docker wait`: while the init preamble or early systemd is
PID 1 there is no bus socket yet and `systemctl is-system-running --wait` fails at once; `wait` must block
until the boot has finished. Timings are printed, never asserted.
"""

from __future__ import annotations

import json
import time

from harness import contract as C
from harness.helpers import in_container, privileged
from harness.registry import scenario

KINDS = ("sid-patched", "trixie-patched", "sid", "trixie")

# A unit that fails during boot, made without changing the image: systemd-run-generator turns
# `systemd.run=` (PID 1's arguments are the kernel command line in a container) into
# kernel-command-line.service. Its output is upper-cased at run time, so the command line shown by
# `systemctl status` cannot pass for the unit's log line.
FAIL_UNIT = "kernel-command-line.service"
FAIL_LINE = "N2D-WAIT-FAILED-UNIT"
FAIL_ARGS = ["systemd.run=/bin/sh -c \"echo n2d-wait-failed-unit | tr a-z A-Z; exit 3\"",
             "systemd.run_failure_action=none", "systemd.run_success_action=none"]


def _wait(ctx, c, args=(), timeout=120, run_in=None):
    """`docker exec C nixos2docker wait --json ARGS` (or through `run_in(ctx, c, cmd, timeout)`):
    (Proc, parsed JSON or None, seconds)."""
    t0 = time.monotonic()
    cmd = ["nixos2docker", "wait", "--json"] + list(args)
    p = run_in(ctx, c, cmd, timeout) if run_in else ctx.docker.exec(c, cmd, timeout=timeout, expect=None)
    dt = time.monotonic() - t0
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = None
    return p, doc, dt


@scenario("wait-boot", images=KINDS, order=120,
          doc="`docker run -d` then at once `docker exec C nixos2docker wait --json`: blocks through the "
              "preamble and the missing bus socket, exit 0, state running, and systemd agrees afterwards; "
              "`systemctl is-system-running --wait` at the same moment is shown for contrast")
def wait_boot(ctx, img, r):
    c, t0 = ctx.docker.run_detached(img, img.boot_flags)
    p, doc, dt = _wait(ctx, c)
    r.boot_s = time.monotonic() - t0
    r.evidence(p.output(), "docker exec C nixos2docker wait --json")
    r.check("nixos2docker wait → exit 0", p.returncode == 0, f"exit {p.returncode}: {p.output().strip()[-300:]}")
    r.check("--json: one object, state running", bool(doc) and doc.get("state") == "running", p.stdout[-300:])
    q = ctx.docker.exec(c, ["systemctl", "is-system-running"], timeout=30, expect=None)
    r.check("afterwards systemctl is-system-running = running", q.stdout.strip() == "running",
            q.output().strip())
    waited = doc.get("seconds") if doc else None
    r.extra.update({"wait_exec_s": round(dt, 3), "wait_reported_s": waited})
    # The same first call with systemctl, on a second container (what CI scripts do today).
    c2, t2 = ctx.docker.run_detached(img, img.boot_flags)
    q = ctx.docker.exec(c2, ["systemctl", "is-system-running", "--wait"], timeout=60, expect=None)
    r.note(f"wait returned after {dt:.2f}s (it waited {waited}s); systemctl is-system-running --wait at the "
           f"same moment: exit {q.returncode} after {time.monotonic() - t2:.2f}s")
    r.evidence(q.output(), "contrast: docker exec C systemctl is-system-running --wait right after docker run -d")
    r.stop_s, r.exit_code = ctx.docker.timed_stop(c)


@scenario("wait-failed-unit", images=KINDS, order=121,
          doc="a unit that fails during boot (systemd.run=… → kernel-command-line.service): `nixos2docker "
              "wait` exits 22 (degraded) and names the unit and its log line, in text and in --json; "
              "`--timeout 0` right after `docker run` exits 24")
def wait_failed_unit(ctx, img, r):
    c, t0 = ctx.docker.run_detached(img, img.boot_flags, args=FAIL_ARGS)
    p = ctx.docker.exec(c, ["nixos2docker", "wait", "--timeout", "0"], timeout=30, expect=None)
    r.evidence(p.output(), "nixos2docker wait --timeout 0 right after docker run")
    early = p.returncode
    p = ctx.docker.exec(c, ["nixos2docker", "wait"], timeout=120, expect=None)
    r.boot_s = time.monotonic() - t0
    text = p.output()
    r.evidence(text, "docker exec C nixos2docker wait")
    r.check(f"wait → exit {C.EXIT_WAIT_DEGRADED} (degraded)", p.returncode == C.EXIT_WAIT_DEGRADED,
            f"exit {p.returncode}: {text.strip()[-300:]}")
    r.check(f"text names {FAIL_UNIT}", FAIL_UNIT in text, text.strip()[-300:])
    r.check("text has the unit's log line", FAIL_LINE in text, text.strip()[-400:])
    p, doc, _ = _wait(ctx, c, ["--timeout", "5"])
    r.evidence(p.stdout, "nixos2docker wait --json")
    units = {u.get("unit"): u for u in (doc or {}).get("failedUnits", [])}
    r.check("--json: state degraded, exitCode 22",
            bool(doc) and doc.get("state") == "degraded" and doc.get("exitCode") == C.EXIT_WAIT_DEGRADED,
            p.stdout[-300:])
    r.check("--json: failedUnits has the unit and its log line",
            FAIL_LINE in "\n".join(units.get(FAIL_UNIT, {}).get("log", [])), json.dumps(units)[-400:])
    if FAIL_UNIT in units:
        r.extra["log_source"] = units[FAIL_UNIT].get("logSource")
    # Checked last: right after `docker run` a single look cannot have seen the end of the boot.
    r.check(f"--timeout 0 right after docker run → exit {C.EXIT_WAIT_TIMEOUT}", early == C.EXIT_WAIT_TIMEOUT,
            f"exit {early}")
    r.stop_s, r.exit_code = ctx.docker.timed_stop(c)


def _api_version(ctx) -> tuple:
    p = ctx.docker.cli(["version", "--format", "{{.Server.APIVersion}}"], timeout=30, expect=None)
    try:
        return tuple(int(x) for x in p.stdout.strip().split("."))
    except ValueError:
        return (0,)


@scenario("wait-healthy", images=["sid-patched"], order=122,
          doc="the image HEALTHCHECK is `nixos2docker wait --timeout 0` with a start interval (Docker ≥ 25, "
              "API 1.44): the container turns healthy soon after `running` (figure printed), and its health "
              "log says running")
def wait_healthy(ctx, img, r):
    hc = ctx.profile["image"]["healthcheck"]
    p = ctx.docker.cli(["image", "inspect", "--format", "{{json .Config.Healthcheck}}", img.tag], timeout=30, expect=None)
    cfg = json.loads(p.stdout or "null") or {}
    r.evidence(p.stdout, "image Healthcheck")
    r.check("image HEALTHCHECK runs nixos2docker wait", "wait" in (cfg.get("Test") or []), p.stdout.strip())
    api = _api_version(ctx)
    has_interval = api >= (1, 44)
    if has_interval:
        r.check(f"image StartInterval = {hc['startIntervalSeconds']}s",
                cfg.get("StartInterval") == int(hc["startIntervalSeconds"] * 1e9), p.stdout.strip())
    else:
        r.note(f"engine API {'.'.join(map(str, api))} < 1.44: no StartInterval, first probe after the interval")
    c, t0 = ctx.docker.run_detached(img, img.boot_flags)
    w = ctx.docker.exec(c, ["nixos2docker", "wait"], timeout=120, expect=None)
    t_running = time.monotonic()
    r.boot_s = t_running - t0
    r.check("wait → exit 0", w.returncode == 0, w.output().strip())
    deadline = t_running + hc["intervalSeconds"] + hc["timeoutSeconds"] + 20
    status = ""
    while time.monotonic() < deadline:
        s = ctx.docker.state(c).get("Health") or {}
        status = s.get("Status", "")
        if status == "healthy":
            break
        time.sleep(0.1)
    lag = time.monotonic() - t_running
    health = ctx.docker.state(c).get("Health") or {}
    r.evidence(json.dumps(health, indent=1)[-1500:], "State.Health")
    r.check("container turns healthy", status == "healthy", f"status {status!r} {lag:.1f}s after running")
    outputs = [e.get("Output", "") for e in health.get("Log", [])]
    r.check("health log: nixos2docker wait said running", any("running" in o for o in outputs), outputs[-1:])
    r.extra.update({"healthy_after_running_s": round(lag, 2), "api": ".".join(map(str, api))})
    r.note(f"healthy {lag:.2f}s after running (boot {r.boot_s:.2f}s; "
           f"start interval {'honoured' if has_interval else 'not supported by this engine'})")
    r.stop_s, r.exit_code = ctx.docker.timed_stop(c)


@scenario("wait-relay", images=["sid"], order=123,
          doc="relay mode (stock systemd, --privileged): PID 1 stays the init and systemd is its child; "
              "`nixos2docker wait` right after `docker run -d` still waits for the boot and exits 0, and "
              "`nixos2docker doctor` finds the same systemd running behind the relay")
def wait_relay(ctx, img, r):
    c, t0 = ctx.docker.run_detached(img, privileged(ctx))
    p, doc, _ = _wait(ctx, c, run_in=in_container)
    r.boot_s = time.monotonic() - t0
    r.evidence(p.output(), "nixos2docker wait --json (relay mode)")
    r.check("wait → exit 0, state running", p.returncode == 0 and bool(doc) and doc.get("state") == "running",
            f"exit {p.returncode}: {p.output().strip()[-300:]}")
    q = in_container(ctx, c, ["cat", "/proc/1/comm"])
    r.check("PID 1 is the init, not systemd (relay mode)", q.stdout.strip() != "systemd", q.output().strip())
    # doctor asks the same question as wait ("is systemd up, as PID 1 or behind the relay?") and must agree
    q = in_container(ctx, c, ["nixos2docker", "doctor", "--json"])
    try:
        mode, state = (lambda d: (d.get("mode"), d.get("systemState")))(json.loads(q.stdout))
    except ValueError:
        mode = state = None
    r.check("doctor next to the relay: mode running, systemd's state running, exit 0",
            (mode, state, q.returncode) == ("running", "running", 0),
            f"mode {mode}, state {state}, exit {q.returncode}")
    r.stop_s, r.exit_code = ctx.docker.timed_stop(c)
