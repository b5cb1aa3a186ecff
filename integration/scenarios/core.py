"""The core scenarios (stock Debian systemd; most also work on patched kinds)."""

from __future__ import annotations

import json
import time

from harness import contract as C
from harness.anchors import stock_remedy
from harness.docker import BOOTED_STATES
from harness.helpers import boot, stop
from harness.registry import scenario

STOCK = ("sid", "trixie")

STOCK_RO_REMEDIES = [["patched"], ["writable-cgroups=true"], ["podman"], ["--cgroupns=host"]]


def check_remedy_order(r, text: str, what: str) -> None:
    """The safe one-flag fix for stock systemd (Docker >= 28) is named before the insecure bind mount."""
    a, b = text.find("writable-cgroups=true"), text.find("--cgroupns=host")
    r.check(f"{what} names writable-cgroups before the insecure --cgroupns=host", 0 <= a < b,
            f"positions {a} / {b}")


def strip_tmpfs(flags) -> list:
    out, skip = [], False
    for f in flags:
        if skip:
            skip = False
            continue
        if f == "--tmpfs":
            skip = True
            continue
        if f.startswith("--tmpfs="):
            continue
        out.append(f)
    return out


def mentions(text: str, alternatives) -> bool:
    low = text.lower()
    return any(a.lower() in low for a in alternatives)


def check_message(r, text: str, groups, what: str) -> None:
    for alts in groups:
        r.check(f"{what} names {' / '.join(alts)}", mentions(text, alts),
                text.strip().splitlines()[-1] if text.strip() else "(no output)")


def expect_fail_fast(ctx, image, r, flags, expected: int, groups, label: str = "") -> int | None:
    """Run detached, wait (≤ 30 s) for the init to exit; check code, prefix and remedy words."""
    c, t0 = ctx.docker.run_detached(image, flags)
    r.extra["container" + label] = c.name
    code = ctx.docker.wait_exit(c, timeout=30)
    dt = time.monotonic() - t0
    logs = ctx.docker.logs(c, tail=40)
    r.evidence(logs, f"docker logs{label}")
    r.extra["exit_s" + label] = round(dt, 3)
    sfx = f" {label}" if label else ""
    if code is None:
        r.check(f"exits within 30 s{sfx}", False, "still running after 30 s")
        return None
    r.check(f"exit code {expected}{sfx}", code == expected, f"exit {code} after {dt:.2f}s")
    r.check(f"not the silent exit 255{sfx}", code != 255, f"exit {code}")
    r.check(f"stderr line prefixed {C.MESSAGE_PREFIX}{sfx}", C.MESSAGE_PREFIX in logs,
            logs.strip().splitlines()[-1] if logs.strip() else "(empty docker logs)")
    check_message(r, logs, groups, "message" + sfx)
    return code


@scenario("stock-ro", images=STOCK, order=10,
          doc="stock systemd with only the 3 --tmpfs flags (Docker's read-only cgroup2): the init fails "
              "fast with exit 15 and a message naming the read-only cgroup fs and the remedies, "
              "never the silent exit 255")
def stock_ro(ctx, img, r):
    want = stock_remedy(ctx.engine)  # podman, user namespaces: exactly the fixes that engine accepts
    r.exit_code = expect_fail_fast(ctx, img, r, ctx.TMPFS_FLAGS, C.EXIT_STOCK_RO_CGROUP,
                                   [["read-only", "readonly"], ["cgroup"]]
                                   + (STOCK_RO_REMEDIES if want is None else [[f"fix: {want}"]]))


@scenario("stock-rw", images=STOCK, order=20,
          doc="INSECURE baseline (--cgroupns=host + rw bind of the host cgroup tree): stock systemd boots "
              "to running, no failed units listed as evidence, CapEff = Docker default, docker stop with "
              "the image StopSignal exits 0; with SIGTERM as stop signal (= an image without StopSignal) "
              "stock systemd re-executes and Docker SIGKILLs after 10 s (exit 137)")
def stock_rw(ctx, img, r):
    flags = ctx.TMPFS_FLAGS + ctx.STOCK_RW_FLAGS
    want_sig = ctx.profile["image"]["stopSignal"]
    p = ctx.docker.cli(["image", "inspect", "--format", "{{.Config.StopSignal}}", img.tag], timeout=30, expect=None)
    r.check(f"image StopSignal is {want_sig}", p.stdout.strip() == want_sig, p.output().strip())
    c, r.boot_s, state = boot(ctx, img, r, flags)
    if state in BOOTED_STATES:
        ctx.check_capeff(c, r)
    r.stop_s, r.exit_code = ctx.docker.timed_stop(c)
    r.check(f"docker stop ({want_sig}) → exit 0", r.exit_code == 0,
            f"exit {r.exit_code} after {r.stop_s:.2f}s")
    r.evidence(ctx.docker.logs(c), "docker logs")

    # Without a StopSignal Docker sends SIGTERM; the image declares one, so override it.
    c2, boot2, state2 = boot(ctx, img, r, flags + ["--stop-signal", "SIGTERM"], label="SIGTERM")
    p = ctx.docker.cli(["inspect", "--format", "{{.Config.StopSignal}}", c2.name], timeout=30, expect=None)
    r.check("container stop signal overridden to SIGTERM", p.stdout.strip() == "SIGTERM",
            p.output().strip())
    if state2 in BOOTED_STATES:
        ctx.check_capeff(c2, r, "SIGTERM container")
    s2, code2 = ctx.docker.timed_stop(c2, timeout=60)
    r.extra.update({"boot_s_sigterm": round(boot2, 3), "stop_s_sigterm": round(s2, 3),
                    "exit_code_sigterm": code2})
    r.check("docker stop with SIGTERM → stock systemd ignores it, SIGKILL after the grace (137)",
            code2 == 137, f"exit {code2} after {s2:.2f}s")
    r.note(f"INSECURE flags; {want_sig}: exit {r.exit_code} in {r.stop_s:.2f}s; "
           f"SIGTERM: exit {code2} in {s2:.1f}s")


@scenario("no-tmpfs", images=STOCK, order=30,
          doc="an image without VOLUMEs run without --tmpfs flags: /run is not a mount → exit 12 and a "
              "message naming --tmpfs /run")
def no_tmpfs(ctx, img, r):
    novol = ctx.image(img.kind.name, volumes=False)
    r.image = novol.tag
    r.exit_code = expect_fail_fast(ctx, novol, r, strip_tmpfs(img.boot_flags), C.EXIT_RUN_NOT_MOUNT,
                                   [["--tmpfs /run"]])


@scenario("init-flag", images=STOCK, order=31,
          doc="`docker run --init` (our init is not PID 1) → exit 10 and a message naming --init")
def init_flag(ctx, img, r):
    r.exit_code = expect_fail_fast(ctx, img, r, img.boot_flags + ["--init"], C.EXIT_NOT_PID1,
                                   [["--init"]])


@scenario("user-flag", images=STOCK, order=32,
          doc="`docker run --user 1000` → exit 11 and a message naming --user")
def user_flag(ctx, img, r):
    r.exit_code = expect_fail_fast(ctx, img, r, img.boot_flags + ["--user", "1000"], C.EXIT_NOT_ROOT,
                                   [["--user"]])


@scenario("read-only", images=STOCK, order=33,
          doc="`docker run --read-only` (with the tmpfs flags) → exit 16 and a message naming --read-only")
def read_only(ctx, img, r):
    r.exit_code = expect_fail_fast(ctx, img, r, img.boot_flags + ["--read-only"],
                                   C.EXIT_READ_ONLY_ROOT, [["--read-only"]])


@scenario("doctor", images=STOCK, order=40,
          doc="`docker run --rm IMG doctor` and `doctor --json` with the 3 --tmpfs flags exit with the code "
              "init would (15 for stock systemd, 0 for patched) and name the remedies; valid JSON; "
              "doctor with booting flags exits 0; `docker exec C nixos2docker doctor` in a booted "
              "container exits 0")
def doctor(ctx, img, r):
    expected = C.EXIT_OK if img.kind.patched else C.EXIT_STOCK_RO_CGROUP
    p = ctx.docker.run_once(img, ctx.TMPFS_FLAGS, ["doctor"], timeout=60, expect=None)
    r.exit_code = p.returncode
    r.evidence(p.output(), "doctor (text)")
    r.check(f"doctor exits {expected}", p.returncode == expected, f"exit {p.returncode}")
    r.check("doctor prints a report", bool(p.output().strip()), "(no output)")
    # the engine's own default capabilities are no finding (podman's set lacks audit_write, mknod, net_raw)
    r.check("doctor asks for no --cap-drop change under the engine's default capabilities",
            "--cap-drop" not in p.output(), next((ln.strip() for ln in p.output().splitlines() if " caps " in ln), ""))
    want = stock_remedy(ctx.engine)
    if not img.kind.patched and want is None:
        check_message(r, p.output(), STOCK_RO_REMEDIES, "doctor report")
        check_remedy_order(r, p.output(), "doctor report")
    elif not img.kind.patched:
        r.check(f"doctor names exactly the fix {ctx.engine.name} accepts", f"fix: {want}\n" in p.output(),
                next((ln.strip() for ln in p.output().splitlines() if "fix: use an image" in ln), "(no such fix)"))

    pj = ctx.docker.run_once(img, ctx.TMPFS_FLAGS, ["doctor", "--json"], timeout=60, expect=None)
    r.evidence(pj.stdout[-3000:], "doctor --json (stdout)")
    r.check(f"doctor --json exits {expected}", pj.returncode == expected, f"exit {pj.returncode}")
    try:
        doc = json.loads(pj.stdout)
        r.check("doctor --json prints one JSON object on stdout", isinstance(doc, dict), type(doc))
    except ValueError as e:
        r.check("doctor --json prints one JSON object on stdout", False, f"{e}: {pj.stdout[:200]!r}")

    pb = ctx.docker.run_once(img, img.boot_flags, ["doctor"], timeout=60, expect=None)
    r.evidence(pb.output(), "doctor with booting flags")
    if not img.kind.patched and ctx.engine.userns:
        # a user namespace never writes the host's cgroup tree: stock systemd's booting flags do not boot
        r.check("doctor with booting flags exits 15 in a user namespace", pb.returncode == C.EXIT_STOCK_RO_CGROUP,
                f"exit {pb.returncode}")
        r.stop_s = None
        return
    r.check("doctor with booting flags exits 0", pb.returncode == 0, f"exit {pb.returncode}")

    c, r.boot_s, state = boot(ctx, img, r, img.boot_flags)
    if state in BOOTED_STATES:
        ctx.check_capeff(c, r)
        pe = ctx.docker.exec(c, ["nixos2docker", "doctor"], timeout=60, expect=None)
        r.evidence(pe.output(), "docker exec C nixos2docker doctor")
        r.check("docker exec C nixos2docker doctor exits 0 (reports systemd's state)",
                pe.returncode == 0, f"exit {pe.returncode}")
        pej = ctx.docker.exec(c, ["nixos2docker", "doctor", "--json"], timeout=60, expect=None)
        try:
            ok = isinstance(json.loads(pej.stdout), dict)
        except ValueError:
            ok = False
        r.check("docker exec C nixos2docker doctor --json is a JSON object", ok, pej.stdout[:200])
    r.stop_s, code = ctx.docker.timed_stop(c)


@scenario("exec-path", images=STOCK, order=50,
          doc="`docker exec C systemctl is-system-running` works without -e PATH (the image Env PATH), "
              "and the binary is on PATH")
def exec_path(ctx, img, r):
    want = ctx.profile["image"]["env"]["PATH"]
    p = ctx.docker.cli(["image", "inspect", "--format", "{{json .Config.Env}}", img.tag], timeout=30, expect=None)
    env = json.loads(p.stdout or "[]") or []
    r.check("image Env has the profile's PATH", f"PATH={want}" in env, env)
    r.check("image Env has container=docker", "container=docker" in env, env)
    c, r.boot_s, state = boot(ctx, img, r, img.boot_flags)
    if state in BOOTED_STATES:
        ctx.check_capeff(c, r)
    pe = ctx.docker.exec(c, ["systemctl", "is-system-running"], timeout=30, expect=None)
    r.evidence(pe.output(), "docker exec C systemctl is-system-running")
    r.check("docker exec C systemctl is-system-running → running, exit 0",
            pe.returncode == 0 and pe.stdout.strip() == "running",
            f"exit {pe.returncode}: {pe.output().strip()}")
    pv = ctx.docker.exec(c, ["nixos2docker", "--version"], timeout=30, expect=None)
    r.check("docker exec C nixos2docker --version (on PATH)", pv.returncode == 0,
            f"exit {pv.returncode}: {pv.output().strip()}")
    stop(ctx, c, r)


@scenario("restart", images=STOCK, order=60,
          doc="5× `docker restart` of a booted container whose /run, /run/lock, /tmp are the image's "
              "VOLUMEs (no --tmpfs, so /run survives restarts): boots to running every time, a marker "
              "left in /run is gone (stale /run emptied), CapEff = Docker default each time")
def restart(ctx, img, r):
    flags = strip_tmpfs(img.boot_flags)
    c, r.boot_s, state = boot(ctx, img, r, flags, label="first boot")
    if state not in BOOTED_STATES:
        return
    ctx.check_capeff(c, r, "first boot")
    cycles = []
    started = ctx.docker.state(c).get("StartedAt")
    for i in range(1, 6):
        m = ctx.docker.exec(c, ["sh", "-c", "echo stale > /run/n2d-stale-marker"], timeout=30, expect=None)
        r.check(f"restart {i}: marker written to /run", m.returncode == 0, m.output().strip())
        t0 = time.monotonic()
        ctx.docker.cli(["restart", c.name], timeout=90)
        dt, state = ctx.docker.wait_booted(c, t0, timeout=90)
        cycles.append(round(dt, 3))
        r.check(f"restart {i}: boots to running", state == "running", f"state {state} after {dt:.2f}s")
        st = ctx.docker.state(c)
        r.check(f"restart {i}: a new start", st.get("StartedAt") != started, st.get("StartedAt"))
        started = st.get("StartedAt")
        if state not in BOOTED_STATES:
            r.evidence(ctx.docker.logs(c), f"docker logs after restart {i}")
            break
        m = ctx.docker.exec(c, ["test", "!", "-e", "/run/n2d-stale-marker"], timeout=30, expect=None)
        r.check(f"restart {i}: stale /run content removed", m.returncode == 0,
                "/run/n2d-stale-marker survived the restart")
        ctx.check_capeff(c, r, f"restart {i}")
    r.extra["restart_cycle_s"] = cycles
    r.note("restart→running s: " + ", ".join(f"{x:.2f}" for x in cycles))
    stop(ctx, c, r, "final docker stop → exit 0")
    r.evidence(ctx.docker.logs(c), "docker logs")
