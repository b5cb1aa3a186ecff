"""Fault injection on the real engine: PID 1 under faults never hangs and never loses a stop signal.

Each case starts a container under one fault, lets it boot or fail, then sends `docker kill -s TERM`; the
container must have ended by then or end within STOP_LIMIT_S. What the user sees (boot state or exit code,
the last log line, the stop time) is recorded in the result's `extra["faults"]`, from which README's fault
table is written. Modes: patched systemd in exec mode (sid-patched, the three --tmpfs flags) and stock
systemd relayed (sid, --cap-add SYS_ADMIN with a writable cgroup fs, the least capability set for relay).
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time

from harness.docker import BOOTED_STATES
from harness.helpers import failed_units, kill_and_wait
from harness.registry import scenario

MODES = ("sid-patched", "sid")
STOP_LIMIT_S = 15.0
BOOT_LIMIT_S = 45.0
SIGRTMIN_PLUS_3 = 37   # glibc systemd's and Docker's SIGRTMIN+3
STORM_TRIES = 100
STORM_WORKERS = 4
RESTART_CYCLES = 50
ENOSYS, EPERM = 38, 1


def mode_flags(ctx, img) -> list:
    if img.kind.patched:
        return list(ctx.TMPFS_FLAGS)
    return ["--cap-add", "SYS_ADMIN"] + list(ctx.TMPFS_FLAGS) + list(ctx.STOCK_RW_FLAGS)


def mode_name(img) -> str:
    return "exec (patched)" if img.kind.patched else "relay (stock)"


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:240] if lines else "(no output)"


def settle(ctx, c, t0, limit=BOOT_LIMIT_S) -> str:
    """Boot state ("running", "degraded", …), "exited(N)", or "timeout(…)" after `limit` seconds."""
    _, state = ctx.docker.wait_booted(c, t0, timeout=limit)
    return state


def fault_case(ctx, img, r, label, flags, args=(), allowed_exit=None, booted=None) -> dict:
    """Run one fault: boot or fail, then docker kill -s TERM; checks that it ended, records what was seen.

    `allowed_exit`: exit codes accepted when the container ends on its own (a clear error); None = any
    non-zero code with a message from the init or systemd. `booted(c)`: more checks on a booted container."""
    c, t0 = ctx.docker.run_detached(img, flags, list(args))
    state = settle(ctx, c, t0)
    failed = " ".join(failed_units(ctx, c)) if state in BOOTED_STATES else ""
    if booted and state in BOOTED_STATES:
        booted(c)
    logs = ctx.docker.logs(c, tail=80)
    stop_s, code = kill_and_wait(ctx, c, timeout=STOP_LIMIT_S)
    row = {"fault": label, "mode": mode_name(img), "state": state, "failed": failed, "exit": code,
           "stop_s": round(stop_s, 2), "last_line": last_line(logs)}
    r.extra.setdefault("faults", []).append(row)
    r.check(f"{label}: the container ends on docker kill -s TERM within {STOP_LIMIT_S:.0f} s (no hang)",
            code is not None, f"state {state}; still running {stop_s:.1f}s after docker kill -s TERM")
    if state in BOOTED_STATES:
        r.check(f"{label}: booted, then a clean stop (exit 0)", code == 0, f"exit {code} after {stop_s:.2f}s")
    elif state.startswith("exited("):
        ok = code in allowed_exit if allowed_exit is not None else code not in (0, None)
        r.check(f"{label}: ended on its own with a documented code", ok, f"exit {code}: {row['last_line']}")
        r.check(f"{label}: a message says why", "nixos2docker:" in logs or "systemd" in logs, row["last_line"])
    else:
        r.check(f"{label}: boots or ends within {BOOT_LIMIT_S:.0f} s", False, f"state {state}")
    if state not in BOOTED_STATES or code != 0:
        r.evidence(ctx.docker.logs(c, tail=60), f"docker logs ({label})")
    ctx.docker.cli(["rm", "-f", "-v", c.name], timeout=60, expect=None)
    return row


def seccomp_profile(ctx, name: str, errno: int) -> str:
    """A profile that allows everything but `name`, which fails with `errno` (what an older kernel or an older
    runtime's profile answers)."""
    d = ctx.mkdtemp("n2d-seccomp-")
    path = os.path.join(d, f"deny-{name}-{errno}.json")
    with open(path, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]}, f)
    return path


@scenario("faults-seccomp", images=MODES, order=300,
          doc="seccomp profiles answering ENOSYS or EPERM for close_range, pidfd_open, clone3: exec and relay mode "
              "boot (or fail with a message) and end on `docker kill -s TERM` — never a hang; in relay mode "
              "`docker exec systemctl` still reaches systemd (the proxy serves without threads)")
def faults_seccomp(ctx, img, r):
    for syscall in ("close_range", "pidfd_open", "clone3"):
        for errno, ename in ((ENOSYS, "ENOSYS"), (EPERM, "EPERM")):
            label = f"seccomp: {syscall} → {ename}"
            flags = mode_flags(ctx, img) + ["--security-opt", f"seccomp={seccomp_profile(ctx, syscall, errno)}"]

            def systemctl(c, label=label):
                p = ctx.docker.exec(c, ["systemctl", "is-system-running"], timeout=30, expect=None)
                r.check(f"{label}: docker exec systemctl reaches systemd", p.stdout.strip() in BOOTED_STATES,
                        p.output().strip()[-200:])

            fault_case(ctx, img, r, label, flags, booted=systemctl, allowed_exit=[])


def init_took_over(pid: int) -> bool:
    """The container's PID 1 (host PID `pid`) is no longer the runtime's helper: the init with its stop signals
    blocked, or already what it exec'd. Before that the runtime's own helper (runc init) is PID 1, and a
    signal the kernel drops there is outside the init's reach."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
    except OSError:
        return True  # it ended already
    name = status.get("Name", "").strip()
    if name in ("init", "nixos2docker"):  # the image runs it as /init
        if (int(status.get("SigBlk", "0").strip(), 16) >> 14) & 1:  # SIGTERM blocked
            return True
        # The relay waits in sigtimedwait, during which the kernel shows its mask as empty: it has a child then.
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return f.read().strip() != ""
        except OSError:
            return True
    return name not in ("runc:[2:INIT]", "runc", "runc:[1:CHILD]", "runc:[0:PARENT]", "")


def storm_try(ctx, img, flags, rng_seed, out, lock):
    """`docker start`; as soon as the init has taken over PID 1 (watched from the host), wait `delay` and send
    SIGTERM or SIGRTMIN+3 with kill(2) from the host, as the runtime's `kill` does. Every other try waits at
    most 5 ms, so the signal lands in the preamble, the hand-over or systemd's first moments."""
    rng = random.Random(rng_seed)
    delay = rng.uniform(0, 0.005 if rng_seed % 2 else 0.2)
    sig = rng.choice([signal.SIGTERM, SIGRTMIN_PLUS_3])
    c = ctx.docker.create(img, flags)
    starter = threading.Thread(target=ctx.docker.start, args=(c,))
    starter.start()
    pid, t0 = 0, time.monotonic()
    while not pid and time.monotonic() - t0 < STOP_LIMIT_S:
        p = ctx.docker.cli(["inspect", "--format", "{{.State.Pid}}", c.name], timeout=30, expect=None)
        pid = int(p.stdout.strip() or 0) if p.ok else 0
    while pid and not init_took_over(pid) and time.monotonic() - t0 < STOP_LIMIT_S:
        time.sleep(0.0002)
    time.sleep(delay)
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    starter.join()
    code = ctx.docker.wait_exit(c, timeout=STOP_LIMIT_S)
    logs = ctx.docker.logs(c, tail=15) if code not in (0, 143, 128 + SIGRTMIN_PLUS_3) else ""
    ctx.docker.cli(["rm", "-f", "-v", c.name], timeout=60, expect=None)
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGRTMIN+3"
    with lock:
        out.append((round(delay * 1000, 1), name, code, logs))


@scenario("faults-stop-storm", images=MODES, order=301,
          doc=f"{STORM_TRIES}× `docker start`, then SIGTERM or SIGRTMIN+3 from the host at a random moment 0–200 ms "
              "(every other try 0–5 ms) after the init took over PID 1 from the runtime: before, during and right "
              "after the hand-over to systemd the container stops every time, with "
              "exit 0 (systemd halted) or 128+signal (stopped before systemd started) — never lost")
def faults_stop_storm(ctx, img, r):
    flags = mode_flags(ctx, img)
    seed = int(os.environ.get("FAULTS_SEED") or time.time_ns() % 1_000_000)
    r.note(f"mode {mode_name(img)}; FAULTS_SEED={seed}")
    out, lock = [], threading.Lock()
    seeds = iter(range(seed, seed + STORM_TRIES))
    seeds_lock = threading.Lock()

    def worker():
        while True:
            with seeds_lock:
                s = next(seeds, None)
            if s is None:
                return
            try:
                storm_try(ctx, img, flags, s, out, lock)
            except Exception as e:  # a harness error is a failed try, not a crashed worker
                with lock:
                    out.append((None, None, f"error: {e}", ""))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(STORM_WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok_codes = {0, 143, 128 + SIGRTMIN_PLUS_3}
    lost = [o for o in out if o[2] is None]
    bad = [o for o in out if o[2] not in ok_codes]
    codes = {}
    for o in out:
        codes[str(o[2])] = codes.get(str(o[2]), 0) + 1
    r.extra.update({"storm_tries": len(out), "storm_exit_codes": codes, "storm_s": round(time.monotonic() - t0, 1)})
    r.check(f"{STORM_TRIES} tries ran", len(out) == STORM_TRIES, f"{len(out)} tries")
    r.check("every stop signal honoured (no container left running)", not lost,
            f"{len(lost)} of {len(out)} kept running: " + ", ".join(f"{o[1]} after {o[0]} ms" for o in lost[:10]))
    r.check("exit 0 or 128+signal every time", not bad,
            "; ".join(f"{o[1]} after {o[0]} ms → {o[2]}" for o in bad[:10]))
    for o in bad[:3]:
        r.evidence(o[3], f"docker logs ({o[1]} after {o[0]} ms → {o[2]})")
    r.note(f"exit codes {codes} in {r.extra['storm_s']} s")
    r.extra.setdefault("faults", []).append({
        "fault": f"stop signal in the first 200 ms ({STORM_TRIES} tries)", "mode": mode_name(img),
        "state": "stopped" if not lost else f"{len(lost)} lost", "exit": codes, "stop_s": None, "last_line": ""})


@scenario("faults-run-and-flags", images=MODES, order=302,
          doc="a /run tmpfs of 4 KiB and of 256 KiB, `docker run -t`, `-i`, `--cap-drop ALL`, an unknown "
              "argument: each boots, or ends with a documented exit code and a message naming the fix; "
              "`docker kill -s TERM` ends every one of them — never a hang")
def faults_run_and_flags(ctx, img, r):
    base = mode_flags(ctx, img)
    no_run = [f for i, f in enumerate(base) if not (f == "/run" or (f == "--tmpfs" and base[i + 1] == "/run"))]
    row = fault_case(ctx, img, r, "/run tmpfs of 4 KiB", no_run + ["--tmpfs", "/run:size=4k"], allowed_exit=[18])
    if row["state"].startswith("exited("):
        r.check("/run tmpfs of 4 KiB: the message names the size flag", "--tmpfs /run:size=" in row["last_line"],
                row["last_line"])
    fault_case(ctx, img, r, "/run tmpfs of 256 KiB", no_run + ["--tmpfs", "/run:size=256k"], allowed_exit=[18])
    fault_case(ctx, img, r, "docker run -t", base + ["-t"])
    fault_case(ctx, img, r, "docker run -i", base + ["-i"])
    fault_case(ctx, img, r, "--cap-drop ALL", base + ["--cap-drop", "ALL"])
    fault_case(ctx, img, r, "unknown argument (--no-such-option)", base, args=["--no-such-option"])


@scenario("faults-restart-cycles", images=["sid-patched"], order=303,
          doc=f"{RESTART_CYCLES} cycles of `docker start` and SIGTERM or SIGRTMIN+3 at a random moment in the "
              "first 1.5 s, on one container whose /run is the image's VOLUME (stale /run emptied at each start): "
              "every cycle stops (exit 0 or 128+signal); then it boots to running")
def faults_restart_cycles(ctx, img, r):
    seed = int(os.environ.get("FAULTS_SEED") or time.time_ns() % 1_000_000)
    rng = random.Random(seed)
    r.note(f"FAULTS_SEED={seed}")
    c = ctx.docker.create(img, [])
    codes, bad = {}, []
    t0 = time.monotonic()
    for i in range(RESTART_CYCLES):
        ctx.docker.start(c)
        delay = rng.uniform(0, 1.5)
        sig = rng.choice(["TERM", "SIGRTMIN+3"])
        time.sleep(delay)
        ctx.docker.cli(["kill", "-s", sig, c.name], timeout=30, expect=None)
        code = ctx.docker.wait_exit(c, timeout=STOP_LIMIT_S)
        codes[str(code)] = codes.get(str(code), 0) + 1
        if code not in (0, 143, 128 + SIGRTMIN_PLUS_3):
            bad.append(f"cycle {i}: {sig} after {delay * 1000:.0f} ms → {code}")
            if code is None:
                ctx.docker.cli(["kill", "-s", "KILL", c.name], timeout=30, expect=None)
                ctx.docker.wait_exit(c, timeout=30)
    r.extra.update({"cycles": RESTART_CYCLES, "exit_codes": codes, "cycles_s": round(time.monotonic() - t0, 1)})
    r.check(f"all {RESTART_CYCLES} cycles stopped with exit 0 or 128+signal", not bad, "; ".join(bad[:10]))
    ctx.docker.start(c)
    _, state = ctx.docker.wait_booted(c, timeout=90)
    r.check("boots to running after the cycles", state == "running", f"state {state}")
    if state != "running":
        r.evidence(ctx.docker.logs(c, tail=60), "docker logs (last boot)")
    r.note(f"exit codes {codes} in {r.extra['cycles_s']} s")
    r.extra.setdefault("faults", []).append({
        "fault": f"{RESTART_CYCLES} kill/restart cycles", "mode": mode_name(img),
        "state": "running after the cycles" if state == "running" else state, "exit": codes, "stop_s": None,
        "last_line": ""})


RACE_TRIES = 8
RACE_FILES = 200
# Keeps swapping /run/stale/dir for a symlink to /srv/outside (a directory outside /run in the init's
# container); perl-base is in every Debian image.
RACER = ('chdir "/run/stale" or die; while (1) { rename "dir", "dir.away"; symlink "/srv/outside", "dir"; '
         'unlink "dir"; rename "dir.away", "dir"; }')
FILL = ('rm -rf /run/stale && mkdir -p /run/stale/dir /srv/outside && '
        f'for i in $(seq 1 {RACE_FILES}); do echo x > /run/stale/dir/f$i; echo keep > /srv/outside/f$i; done')


@scenario("faults-symlink-race", images=["sid-patched"], order=304,
          doc=f"/run is a named volume shared with a sidecar that keeps swapping a stale directory for a symlink to "
              f"a directory outside /run while the init empties the stale /run ({RACE_TRIES} starts): no file "
              "outside /run is ever deleted; the init boots or stops with exit 18 naming the path")
def faults_symlink_race(ctx, img, r):
    vols = [f"n2d-{ctx.run_id}-race-run", f"n2d-{ctx.run_id}-race-out"]
    for v in vols:
        ctx.docker.cli(["volume", "create", "--label", ctx.docker.label, v], timeout=30, expect=None)
    mounts = ["-v", f"{vols[0]}:/run", "-v", f"{vols[1]}:/srv/outside"]
    sh = ["--entrypoint", "sh"] + mounts
    outcomes = {}
    try:
        for i in range(RACE_TRIES):
            p = ctx.docker.run_once(img, sh, ["-c", FILL], timeout=60, expect=None)
            r.check(f"try {i}: stale /run and the outside directory filled", p.ok, p.describe())
            racer = ctx.docker.create(img, ["--entrypoint", "perl"] + mounts, ["-e", RACER])
            ctx.docker.start(racer)
            c, t0 = ctx.docker.run_detached(img, mounts + ["--tmpfs", "/run/lock", "--tmpfs", "/tmp"])
            state = settle(ctx, c, t0, limit=20)
            logs = ctx.docker.logs(c, tail=20)
            _, code = kill_and_wait(ctx, c, timeout=STOP_LIMIT_S)
            ctx.docker.cli(["rm", "-f", racer.name, c.name], timeout=60, expect=None)
            p = ctx.docker.run_once(img, sh, ["-c", "ls /srv/outside | wc -l"], timeout=60, expect=None)
            left = int(p.stdout.strip() or -1) if p.ok else -1
            outcomes[str(code)] = outcomes.get(str(code), 0) + 1
            r.check(f"try {i}: nothing outside /run deleted", left == RACE_FILES,
                    f"{left} of {RACE_FILES} files left outside /run (state {state}, exit {code})")
            r.check(f"try {i}: booted and stopped (0) or a clear error (18)", code in (0, 18),
                    f"state {state}, exit {code}: {last_line(logs)}")
            if code not in (0, None) or left != RACE_FILES:
                r.evidence(logs, f"docker logs (try {i})")
    finally:
        ctx.docker.cli(["volume", "rm", "-f"] + vols, timeout=60, expect=None)
    r.extra["race_exit_codes"] = outcomes
    r.extra.setdefault("faults", []).append({
        "fault": f"symlink race against the stale-/run cleanup ({RACE_TRIES} starts)", "mode": mode_name(img),
        "state": "nothing outside /run deleted", "exit": outcomes, "stop_s": None, "last_line": ""})
