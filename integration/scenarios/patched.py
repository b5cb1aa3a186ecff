"""Patched systemd (every version in patches/versions, one image kind each: the Debian packages of
``packaging/build-repo`` installed by ``examples/debian/Dockerfile``)
on Docker's read-only cgroup2 with ONLY ``--tmpfs /run --tmpfs /run/lock --tmpfs /tmp``
(default capabilities, default seccomp, no --privileged, no --cgroupns=host).

Timings (boot_s, stop_s) are recorded and printed, never asserted (project rule); the checks are on
states, exit codes and log contents.
"""

from __future__ import annotations

import json
import time
import uuid

from harness.docker import BOOTED_STATES
from harness.helpers import boot, failed_units, journal, kill_and_wait, stop, write_file
from harness.images import DEFAULT_PACKAGES, IMAGE_KINDS, patched_versions
from harness.registry import ImageKind, add_images, register_image_kind, scenario


# One image kind per patched systemd version: the suite's root filesystem + the packages of
# `packaging/build-repo V` through examples/debian/Dockerfile. sid-patched (v262) is built in (harness.images).
for _version, _suite, _kind in patched_versions():
    if _kind not in IMAGE_KINDS:
        register_image_kind(ImageKind(
            name=_kind, suite=_suite, systemd=_version, patched=True,
            description=f"Debian {_suite} + systemd {_version} with patches/v{_version.split('.')[0]} (packages)"))
PATCHED = tuple(kind for _, _, kind in patched_versions())
MAJOR = {kind: int(version.split(".")[0]) for version, _, kind in patched_versions()}

# sid-patched plus libpam-systemd, so that `su -l` registers a logind session (patched-session).
register_image_kind(ImageKind(
    name="sid-patched-pam", suite="sid", packages=DEFAULT_PACKAGES + ["libpam-systemd"],
    systemd=IMAGE_KINDS["sid-patched"].systemd, patched=True,
    description="sid-patched + libpam-systemd (logind sessions through pam_systemd)"))
MARKER = "NIXOS2DOCKER_PATCHED_SYSTEMD="


def _all_logs(ctx, c) -> str:
    return ctx.docker.logs(c, tail=100000)


@scenario("patched-boot", images=PATCHED, order=100,
          doc="patched systemd with only the 3 --tmpfs flags: is-system-running --wait = running, "
              "systemctl --failed empty, journald active and journalctl works, CapEff = Docker default, "
              "the marker is in PID 1's binary and its boot log; docker stop → exit 0")
def patched_boot(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS)
    if state not in BOOTED_STATES:
        return
    failed = failed_units(ctx, c)
    r.extra["failed_units"] = failed
    r.check("systemctl --failed is empty", not failed, " ".join(failed) or "none")
    p = ctx.docker.exec(c, ["systemctl", "is-active", "systemd-journald.service"], timeout=30, expect=None)
    r.check("systemd-journald active", p.stdout.strip() == "active", p.output().strip())
    p = ctx.docker.exec(c, ["journalctl", "-b", "--no-pager", "-n", "5", "-o", "cat"], timeout=30, expect=None)
    r.check("journalctl -b answers", p.returncode == 0 and p.stdout.strip() != "", p.output().strip()[-300:])
    ctx.check_capeff(c, r)
    p = ctx.docker.exec(c, ["grep", "-a", "-c", MARKER, "/lib/systemd/systemd"], timeout=30, expect=None)
    r.check("marker in /lib/systemd/systemd", p.returncode == 0, p.output().strip())
    logs = _all_logs(ctx, c)
    r.check("boot log names the patch series", "Container patches: " + MARKER in logs,
            "no 'Container patches:' line in docker logs")
    stop(ctx, c, r)
    r.note(f"boot {r.boot_s:.2f}s, docker stop {r.stop_s:.2f}s")
    r.evidence(_all_logs(ctx, c), "docker logs")


# Boot milestones on both sides of journald's start: status lines before, log lines forwarded after.
HANDOVER_MILESTONES = ("Listening on Journal Socket (/dev/log).", "Started Journal Service.",
                       "Reached target Local File Systems.", "Reached target Multi-User System.", "Startup finished")


@scenario("patched-logs", images=PATCHED, order=101,
          doc="without -t: docker logs shows PID 1's banner, 'Reached target' status lines and the "
              "stdout of a test service (StandardOutput=tty → the container log); a service's "
              "StandardOutput=journal line is in journalctl")
def patched_logs(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS)
    if state not in BOOTED_STATES:
        return
    tag = uuid.uuid4().hex[:12]
    p = ctx.docker.exec(c, ["systemd-run", "--wait", "--unit", "n2d-hello-tty", "-p", "StandardOutput=tty",
                            "/bin/echo", f"n2d-hello-tty-{tag}"], timeout=60, expect=None)
    r.check("test service (StandardOutput=tty) ran", p.returncode == 0, p.output().strip()[-300:])
    p = ctx.docker.exec(c, ["systemd-run", "--wait", "--unit", "n2d-hello-journal",
                            "/bin/echo", f"n2d-hello-journal-{tag}"], timeout=60, expect=None)
    r.check("test service (StandardOutput=journal) ran", p.returncode == 0, p.output().strip()[-300:])
    time.sleep(0.5)
    logs = _all_logs(ctx, c)
    r.check("docker logs: PID 1 banner", "running in system mode" in logs, logs[:200])
    r.check("docker logs: 'Reached target' lines", "Reached target" in logs, "")
    r.check("docker logs: test service stdout", f"n2d-hello-tty-{tag}" in logs, logs[-300:])
    r.check("docker logs: no escape sequences", "\x1b[" not in logs,
            "found ESC[ in docker logs")
    # The hand-over to journald (status lines before it, PID 1's log lines through it after): every
    # milestone exactly once — nothing lost, nothing twice.
    for milestone in HANDOVER_MILESTONES:
        n = sum(milestone in ln for ln in logs.splitlines())
        r.check(f"docker logs: '{milestone}' exactly once", n == 1, f"{n} times")
    p = ctx.docker.exec(c, ["journalctl", "--no-pager", "-o", "cat", "-u", "n2d-hello-journal"], timeout=30, expect=None)
    r.check("journalctl -u shows the journal test service", f"n2d-hello-journal-{tag}" in p.stdout,
            p.output().strip()[-300:])
    stop(ctx, c, r)
    r.evidence(logs, "docker logs")


@scenario("patched-stop", images=PATCHED, order=102,
          doc="`docker stop` (image StopSignal SIGRTMIN+3) and `docker kill -s TERM` (SIGTERM, what "
              "Kubernetes sends) each end in a clean shutdown: exited, code 0 (not 137); times printed")
def patched_stop(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS, label="stop")
    if state in BOOTED_STATES:
        stop(ctx, c, r)
        logs = _all_logs(ctx, c)
        r.check("docker stop: shutdown reached 'Exiting container.'/'Halting'",
                "Exiting container." in logs or "Halting system." in logs, logs[-300:])
    c2, boot2, state2 = boot(ctx, img, r, ctx.TMPFS_FLAGS, label="kill -s TERM")
    if state2 in BOOTED_STATES:
        s2, code2 = kill_and_wait(ctx, c2, "TERM", timeout=60)
        r.check("docker kill -s TERM → exited", code2 is not None, f"still running after {s2:.1f}s")
        r.check("docker kill -s TERM → exit 0", code2 == 0, f"exit {code2} after {s2:.2f}s")
        logs = _all_logs(ctx, c2)
        r.check("SIGTERM started poweroff (not reexec)", "powering off" in logs, logs[-300:])
        r.extra.update({"boot_s_term": round(boot2, 3), "stop_s_term": round(s2, 3), "exit_term": code2})
        r.note(f"docker stop {r.stop_s or 0:.2f}s exit {r.exit_code}; kill -s TERM {s2:.2f}s exit {code2}")
        r.evidence(logs, "docker logs (kill -s TERM)")


@scenario("patched-stop-exec", images=PATCHED, order=102,
          doc="`docker stop` while a `docker exec` process is still shutting down (its parent is outside the "
              "container, so systemd-shutdown gets no SIGCHLD for it): exit 0, not SIGKILL after Docker's "
              "10 s grace (exit 137); time printed")
def patched_stop_exec(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS)
    if state not in BOOTED_STATES:
        return
    p = ctx.docker.exec(c, ["sh", "-c", 'trap "sleep 0.3; exit 0" TERM; while :; do sleep 0.1; done'],
                        flags=["-d"], timeout=30, expect=None)
    r.check("docker exec -d accepted", p.returncode == 0, p.output().strip())
    time.sleep(0.5)
    stop(ctx, c, r, "docker stop → exit 0 (not 137)")
    r.note(f"docker stop {r.stop_s:.2f}s")
    r.evidence(_all_logs(ctx, c)[-2000:], "docker logs (end)")


@scenario("patched-exit-code", images=PATCHED, order=103,
          doc="`systemctl exit 42` inside → the container exits with code 42")
def patched_exit_code(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS)
    if state not in BOOTED_STATES:
        return
    t0 = time.monotonic()
    ctx.docker.exec(c, ["systemctl", "exit", "42"], timeout=30, expect=None)
    code = ctx.docker.wait_exit(c, timeout=60)
    r.stop_s = time.monotonic() - t0
    r.exit_code = code
    r.check("container exit code 42", code == 42, f"exit {code} after {r.stop_s:.2f}s")
    r.evidence(_all_logs(ctx, c), "docker logs")


@scenario("patched-reload", images=PATCHED, order=104,
          doc="`systemctl daemon-reload` and `systemctl daemon-reexec` keep it running (PID 1 still "
              "systemd, no failed units, PID 1 keeps logging to docker logs after the re-exec)")
def patched_reload(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS)
    if state not in BOOTED_STATES:
        return
    for verb in ("daemon-reload", "daemon-reexec"):
        p = ctx.docker.exec(c, ["systemctl", verb], timeout=60, expect=None)
        r.check(f"systemctl {verb} exit 0", p.returncode == 0, p.output().strip())
        dt, st = ctx.docker.wait_booted(c, timeout=60)
        r.check(f"running after {verb}", st == "running", f"state {st}")
        p = ctx.docker.exec(c, ["cat", "/proc/1/comm"], timeout=30, expect=None)
        r.check(f"PID 1 is systemd after {verb}", p.stdout.strip() == "systemd", p.output().strip())
        failed = failed_units(ctx, c)
        r.check(f"no failed units after {verb}", not failed, " ".join(failed) or "none")
    logs = _all_logs(ctx, c)
    r.check("banner logged again after re-exec", logs.count("running in system mode") >= 2,
            f"{logs.count('running in system mode')} banner lines")
    stop(ctx, c, r)
    r.evidence(logs, "docker logs")


@scenario("patched-zero-flags", images=PATCHED, order=105,
          doc="`docker run -d IMG` with no flags at all (the image declares /run, /run/lock, /tmp as "
              "Volumes) boots to running; `docker restart` boots again; docker stop → exit 0")
def patched_zero_flags(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, [])
    if state not in BOOTED_STATES:
        return
    failed = failed_units(ctx, c)
    r.check("systemctl --failed is empty", not failed, " ".join(failed) or "none")
    ctx.check_capeff(c, r)
    t0 = time.monotonic()
    p = ctx.docker.cli(["restart", c.name], timeout=90, expect=None)
    r.check("docker restart accepted", p.ok, p.output().strip())
    dt, st = ctx.docker.wait_booted(c, t0, timeout=90)
    r.check("running after docker restart", st == "running", f"state {st} after {dt:.2f}s")
    r.extra["restart_s"] = round(dt, 3)
    stop(ctx, c, r)
    r.note(f"boot {r.boot_s:.2f}s, restart→running {dt:.2f}s, stop {r.stop_s:.2f}s")
    r.evidence(_all_logs(ctx, c), "docker logs")


def _wait_inactive(ctx, c, unit, tries=50):
    """Poll `systemctl is-active UNIT` (every 0.1 s) until it is no longer active: (ended, last answer)."""
    out = ""
    for _ in range(tries):
        q = ctx.docker.exec(c, ["systemctl", "is-active", unit], timeout=30, expect=None)
        out = q.output().strip()
        if q.stdout.strip() != "active":
            return True, out
        time.sleep(0.1)
    return False, out


def _booted(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS)
    return c if state in BOOTED_STATES else None


def _finish(ctx, c, r):
    stop(ctx, c, r)


@scenario("patched-dynamicuser", images=PATCHED, order=110,
          doc="known limit fixed by 0011/0012: DynamicUser=yes units run without CAP_SYS_ADMIN (no "
              "226/NAMESPACE), get a dynamic UID, their StateDirectory= is writable and persists across "
              "runs; a User=nobody unit with SystemCallFilter= runs (no 217/USER)")
def patched_dynamicuser(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    run = ["systemd-run", "--wait", "--pipe", "-q", "-p", "DynamicUser=yes", "-p", "StateDirectory=n2d-dyn"]
    p = ctx.docker.exec(c, run + ["/bin/sh", "-c", "id -u; echo persisted > /var/lib/n2d-dyn/f"], timeout=60, expect=None)
    uid = p.stdout.strip().splitlines()[0] if p.stdout.strip() else ""
    r.check("DynamicUser=yes unit exits 0", p.returncode == 0, p.output().strip()[-300:])
    r.check("runs under a dynamic UID (61184–65519)", uid.isdigit() and 61184 <= int(uid) <= 65519, uid)
    p = ctx.docker.exec(c, run + ["/bin/cat", "/var/lib/n2d-dyn/f"], timeout=60, expect=None)
    r.check("StateDirectory= content persists to the next run", p.stdout.strip() == "persisted",
            p.output().strip()[-300:])
    p = ctx.docker.exec(c, ["systemd-run", "--wait", "--pipe", "-q", "-p", "User=nobody", "-p",
                            "SystemCallFilter=@system-service", "/bin/id", "-un"], timeout=60, expect=None)
    r.check("User=nobody + SystemCallFilter= unit runs", p.returncode == 0 and p.stdout.strip() == "nobody",
            p.output().strip()[-300:])
    _finish(ctx, c, r)


# How many scopes the race check of patched-scope starts at once (their processes all exit together).
SCOPE_RACE_N = 40


@scenario("patched-scope", images=PATCHED, order=111,
          doc="known limit fixed by 0010: `systemd-run --scope` works without a cgroup; the scope is "
              "active while its process runs and goes away when it exits, also when "
              f"{SCOPE_RACE_N} scopes' processes exit together")
def patched_scope(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    p = ctx.docker.exec(c, ["systemd-run", "--scope", "-q", "/bin/echo", "in-scope"], timeout=60, expect=None)
    r.check("systemd-run --scope echo → exit 0", p.returncode == 0 and "in-scope" in p.stdout,
            p.output().strip()[-300:])
    p = ctx.docker.exec(c, ["sh", "-c", "systemd-run --scope -q --unit n2d-sc sleep 2 & sleep 1; "
                            "systemctl is-active n2d-sc.scope; wait"], timeout=60, expect=None)
    r.check("scope active while its process runs", p.stdout.strip().startswith("active"), p.output().strip())
    ended, state = _wait_inactive(ctx, c, "n2d-sc.scope")
    r.check("scope gone after its process exited", ended, state)
    # Across a daemon-reexec the scope's PIDs are deserialized and watched again.
    p = ctx.docker.exec(c, ["sh", "-c", "systemd-run --scope -q --unit n2d-sc2 sleep 3 & sleep 1; "
                            "systemctl daemon-reexec; systemctl is-active n2d-sc2.scope; wait"], timeout=60, expect=None)
    r.check("scope still active after daemon-reexec", p.stdout.strip().endswith("active"), p.output().strip())
    ended, state = _wait_inactive(ctx, c, "n2d-sc2.scope")
    r.check("scope gone after its process exited (after daemon-reexec)", ended, state)
    # Many scopes whose processes exit at once: each exit wakes PID 1 through the pidfd while the process's
    # parent (sh) reaps it; a scope must end even when PID 1 looks at /proc during the reaping (state X).
    n = SCOPE_RACE_N
    p = ctx.docker.exec(c, ["sh", "-c", f"for i in $(seq 1 {n}); do systemd-run --scope -q --unit n2d-race$i "
                            "sleep 1 & done; wait"], timeout=120, expect=None)
    r.check(f"{n} concurrent scopes ran", p.returncode == 0, p.output().strip()[-300:])
    left = []
    for _ in range(50):
        q = ctx.docker.exec(c, ["systemctl", "list-units", "--plain", "--no-legend", "--state=active",
                                "n2d-race*.scope"], timeout=30, expect=None)
        left = [ln.split()[0] for ln in q.stdout.splitlines() if ln.strip()]
        if q.ok and not left:
            break
        time.sleep(0.1)
    r.check(f"all {n} scopes gone after their processes exited together", q.ok and not left,
            " ".join(left) or q.output().strip()[-300:])
    failed = failed_units(ctx, c)
    r.check("no failed units", not failed, " ".join(failed) or "none")
    _finish(ctx, c, r)


@scenario("patched-session", images=("sid-patched-pam",), order=112,
          doc="known limit fixed by 0010: `su -l` gets a logind session (pam_systemd) without a cgroup; "
              "a regular user gets user@UID.service with a running `systemctl --user`")
def patched_session(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    p = ctx.docker.exec(c, ["su", "-l", "root", "-c", "echo sid=$XDG_SESSION_ID rt=$XDG_RUNTIME_DIR"], timeout=60, expect=None)
    r.check("su -l root: XDG_SESSION_ID set", "sid=" in p.stdout and "sid= " not in p.stdout,
            p.output().strip()[-300:])
    p = ctx.docker.exec(c, ["useradd", "-m", "n2duser"], timeout=30, expect=None)
    r.check("useradd n2duser", p.returncode == 0, p.output().strip())
    p = ctx.docker.exec(c, ["su", "-l", "n2duser", "-c",
                            "systemctl --user is-system-running --wait"], timeout=90, expect=None)
    r.check("su -l n2duser: systemctl --user is-system-running = running",
            p.stdout.strip().endswith("running"), p.output().strip()[-300:])
    failed = failed_units(ctx, c)
    r.check("no failed units", not failed, " ".join(failed) or "none")
    _finish(ctx, c, r)


@scenario("patched-forking-stop", images=PATCHED, order=113,
          doc="known limit fixed by 0009: `systemctl stop` of a service whose main process forked "
              "children also stops the children (same session), not only the main PID")
def patched_forking_stop(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    p = ctx.docker.exec(c, ["systemd-run", "-q", "--unit", "n2d-forky", "/bin/sh", "-c",
                            "sleep 1001 & sleep 1002 & exec sleep 1003"], timeout=60, expect=None)
    r.check("forking test service started", p.returncode == 0, p.output().strip())
    time.sleep(0.5)
    before = ctx.docker.exec(c, ["pgrep", "-c", "-f", "sleep 100[123]"], timeout=30, expect=None).stdout.strip()
    r.check("3 processes before stop", before == "3", before)
    p = ctx.docker.exec(c, ["systemctl", "stop", "n2d-forky"], timeout=60, expect=None)
    r.check("systemctl stop exit 0", p.returncode == 0, p.output().strip())
    left = "?"
    for _ in range(30):
        left = ctx.docker.exec(c, ["pgrep", "-c", "-f", "sleep 100[123]"], timeout=30, expect=None).stdout.strip()
        if left == "0":
            break
        time.sleep(0.1)
    r.check("no process of the service left", left == "0", f"{left} left")
    _finish(ctx, c, r)


def _pid1_lines(ctx, c, unit) -> list:
    """Messages PID 1 logged about UNIT (journalctl -u matches UNIT= of PID 1's messages too)."""
    out = ctx.docker.exec(c, ["journalctl", "--no-pager", "-o", "json", "-u", unit], timeout=30, expect=None).stdout
    entries = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    return [e.get("MESSAGE", "") for e in entries if e.get("_PID") == "1"]


@scenario("patched-journal", images=PATCHED, order=114,
          doc="the journal is complete without cgroups: PID 1's own messages are in it ('Reached target', "
              "and `journalctl -u UNIT` shows PID 1's lines about UNIT); a unit's syslog and native-protocol "
              "messages, also from a child of its main process, carry _SYSTEMD_UNIT (`journalctl -u`, "
              "`systemctl status`)")
def patched_journal(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    tag = uuid.uuid4().hex[:12]
    out = journal(ctx, c, "-b", "_PID=1")
    r.check("journal has PID 1's 'Reached target' lines", "Reached target" in out, out[-300:])
    # Senders stay alive a moment after sending (like a daemon): journald identifies a sender from /proc,
    # which is gone for a process that has already exited when its message is read — as with cgroups.
    script = (f"{{ echo syslog-{tag}; sleep 3; }} | logger -t n2d-syslog & "
              f"{{ echo native-{tag}; sleep 3; }} | systemd-cat -t n2d-native & "
              f"sh -c '{{ echo child-{tag}; sleep 3; }} | logger -t n2d-child' & "
              "sleep 30")
    p = ctx.docker.exec(c, ["systemd-run", "-q", "--unit", "n2d-logs", "/bin/sh", "-c", script], timeout=60, expect=None)
    r.check("test service started", p.returncode == 0, p.output().strip())
    out = journal(ctx, c, "-u", "n2d-logs", until=lambda o: all(f"{k}-{tag}" in o for k in ("syslog", "native", "child")))
    pid1 = _pid1_lines(ctx, c, "n2d-logs")
    r.check("journalctl -u: PID 1's 'Started' line about the unit", any(m.startswith("Started") for m in pid1),
            " | ".join(pid1)[-400:] or "no message of PID 1")
    r.check("journalctl -u: syslog(3) message of the unit", f"syslog-{tag}" in out, out[-400:])
    r.check("journalctl -u: native-protocol message (systemd-cat)", f"native-{tag}" in out, out[-400:])
    r.check("journalctl -u: syslog message of a child process", f"child-{tag}" in out, out[-400:])
    p = ctx.docker.exec(c, ["systemctl", "status", "--no-pager", "-n", "20", "n2d-logs"], timeout=30, expect=None)
    r.check("systemctl status shows the unit's log lines", f"syslog-{tag}" in p.stdout, p.output()[-400:])
    ctx.docker.exec(c, ["systemctl", "stop", "n2d-logs"], timeout=60, expect=None)
    _finish(ctx, c, r)


# A classic daemon: forks, the daemon starts a session of its own (setsid, like pg_ctl) and writes its PID
# file as its service user; a worker child stays in its session.
FORKING_SCRIPT = """setsid /bin/sh -c 'sleep 2001 & echo $$ > /run/n2d-forking/daemon.pid; exec sleep 2000' >/dev/null 2>&1 &
sleep 0.5
"""
# The same daemon without PIDFile= (postfix.service, trixie's apache2.service), its environment cleaned
# like postfix's master does (no INVOCATION_ID=): systemd must guess the main PID.
GUESS_SCRIPT = """env -i setsid /bin/sh -c 'sleep 2003 & exec sleep 2002' >/dev/null 2>&1 &
sleep 0.5
"""
GUESS_UNIT = """[Service]
Type=forking
ExecStart=/bin/sh /run/n2d-guess.sh
"""
FORKING_UNIT = """[Service]
Type=forking
User=nobody
RuntimeDirectory=n2d-forking
PIDFile=/run/n2d-forking/daemon.pid
ExecStart=/bin/sh /run/n2d-forking.sh
"""


@scenario("patched-pidfile", images=PATCHED, order=115,
          doc="a Type=forking unit whose daemon writes its PID file as its service user (PostgreSQL's "
              "way) is active with that main PID (not Result: protocol); one without PIDFile= whose daemon "
              "cleans its environment (postfix's way) stays active with a guessed main PID, also with "
              "GuessMainPID=no (bookworm's postfix@.service; one notice); `systemctl stop` leaves none of their "
              "processes")
def patched_pidfile(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    ok = write_file(ctx, c, "/run/n2d-forking.sh", FORKING_SCRIPT).returncode == 0
    ok = ok and write_file(ctx, c, "/run/systemd/system/n2d-forking.service", FORKING_UNIT).returncode == 0
    p = ctx.docker.exec(c, ["systemctl", "daemon-reload"], timeout=60, expect=None)
    r.check("unit installed", ok and p.returncode == 0, p.output().strip())
    p = ctx.docker.exec(c, ["systemctl", "start", "n2d-forking"], timeout=60, expect=None)
    r.check("systemctl start exit 0", p.returncode == 0, p.output().strip()[-400:])
    p = ctx.docker.exec(c, ["systemctl", "show", "-p", "ActiveState,Result,MainPID", "n2d-forking"], timeout=30, expect=None)
    props = dict(ln.split("=", 1) for ln in p.stdout.split() if "=" in ln)
    r.check("active, Result=success", props.get("ActiveState") == "active" and props.get("Result") == "success",
            p.stdout.strip())
    pid = ctx.docker.exec(c, ["cat", "/run/n2d-forking/daemon.pid"], timeout=30, expect=None).stdout.strip()
    r.check("MainPID is the PID file's PID", pid and props.get("MainPID") == pid,
            f"MainPID={props.get('MainPID')} file={pid}")
    p = ctx.docker.exec(c, ["systemctl", "stop", "n2d-forking"], timeout=60, expect=None)
    r.check("systemctl stop exit 0", p.returncode == 0, p.output().strip())
    left = ctx.docker.exec(c, ["pgrep", "-c", "-f", "sleep 200[01]"], timeout=30, expect=None).stdout.strip()
    r.check("no process of the daemon left", left == "0", f"{left} left")
    r.evidence(journal(ctx, c, "-u", "n2d-forking"), "journalctl -u n2d-forking")

    # Type=forking without PIDFile=: the main PID is guessed, the unit stays active, stop stops it all; the
    # same with GuessMainPID=no (Debian bookworm's postfix@.service), which only a cgroup could honour: the
    # guess is made anyway, with one notice naming the option.
    ok = write_file(ctx, c, "/run/n2d-guess.sh", GUESS_SCRIPT).returncode == 0
    for unit, extra in (("n2d-guess", ""), ("n2d-guess-no", "GuessMainPID=no\n")):
        what = "forking unit without PIDFile=" + (" and with GuessMainPID=no" if extra else "")
        ok = ok and write_file(ctx, c, f"/run/systemd/system/{unit}.service", GUESS_UNIT + extra).returncode == 0
        p = ctx.docker.exec(c, ["sh", "-c", f"systemctl daemon-reload && systemctl start {unit} && sleep 1 && "
                                f"systemctl show -p ActiveState,MainPID {unit} && pgrep -x -f 'sleep 2002'"],
                            timeout=60, expect=None)
        props = dict(ln.split("=", 1) for ln in p.stdout.split() if "=" in ln)
        daemon = p.stdout.split()[-1] if p.stdout.split() else ""
        r.check(f"{what}: stays active", ok and props.get("ActiveState") == "active", p.output().strip()[-400:])
        r.check(f"{what}: its main PID is the daemonized process", daemon.isdigit() and props.get("MainPID") == daemon,
                f"MainPID={props.get('MainPID')} daemon={daemon}")
        if extra:
            def notices(out):
                return [ln for ln in out.splitlines() if "GuessMainPID=no configured, but" in ln]
            out = journal(ctx, c, "-u", unit, until=notices)
            r.check(f"{what}: one notice naming GuessMainPID=no", len(notices(out)) == 1, out.strip()[-400:])
        p = ctx.docker.exec(c, ["systemctl", "stop", unit], timeout=60, expect=None)
        left = ctx.docker.exec(c, ["pgrep", "-c", "-f", "sleep 200[23]"], timeout=30, expect=None).stdout.strip()
        r.check(f"{what}: stop leaves none of its processes", p.returncode == 0 and left == "0", f"{left} left")
    _finish(ctx, c, r)


# Option → the name its notice mentions. Bind mounts degrade with the mount-namespace notice.
NAMESPACE_OPTIONS = (
    ("PrivateUsers=yes", "PrivateUsers="),
    # the Ex name: systemd-run of 257 takes only a boolean for ProtectControlGroups= (262 both names)
    ("ProtectControlGroupsEx=private", "ProtectControlGroups="),
    ("PrivateNetwork=yes", "PrivateNetwork="),
    ("PrivateIPC=yes", "PrivateIPC="),
    ("BindReadOnlyPaths=/dev/log:/run/n2d-chroot/dev/log", "BindReadOnlyPaths="),
)


@scenario("patched-namespaces", images=PATCHED, order=116,
          doc="namespacing Docker's seccomp refuses degrades with one notice naming the option instead of "
              "failing the unit: PrivateUsers=yes (Debian's redis-server), ProtectControlGroups=private, "
              "PrivateNetwork=, PrivateIPC=, BindReadOnlyPaths= (Debian's haproxy)")
def patched_namespaces(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    for i, (prop, named) in enumerate(NAMESPACE_OPTIONS):
        unit = f"n2d-ns-{i}"
        if prop.startswith("ProtectControlGroupsEx=") and MAJOR.get(img.kind.name, 262) < 257:
            r.note(f"{prop}: not in systemd {MAJOR[img.kind.name]} (ProtectControlGroups= is a boolean there, "
                   "no cgroup namespace)")
            continue
        run = ctx.docker.exec(c, ["systemd-run", "-q", "--unit", unit, "-p", prop, "-p", "User=nobody",
                                  "/bin/sleep", "30"], timeout=60, expect=None)
        p = ctx.docker.exec(c, ["systemctl", "is-active", unit], timeout=30, expect=None)
        st = ctx.docker.exec(c, ["systemctl", "status", "--no-pager", "-n", "10", unit], timeout=30, expect=None)
        r.check(f"{prop}: unit active", p.stdout.strip() == "active",
                (run.output().strip() + "\n" + st.output().strip())[-600:])

        def notices(out, named=named):
            return [ln for ln in out.splitlines() if "configured, but" in ln and named in ln]
        out = journal(ctx, c, "-u", unit, until=notices)
        r.check(f"{prop}: exactly one notice naming {named} in journalctl -u", len(notices(out)) == 1,
                out.strip()[-400:])
        ctx.docker.exec(c, ["systemctl", "stop", unit], timeout=60, expect=None)
    _finish(ctx, c, r)


# The built-in restart scenario (5× docker restart with the image's Volumes) also on the patched kind.
add_images("restart", PATCHED)

# The series that carry v262's 0013-0016 (journald forwarding, PID files, namespaces, attribution).
for _name in ("patched-journal", "patched-pidfile", "patched-namespaces"):
    add_images(_name, ["trixie-261-patched", "bookworm-patched"])
