"""Adversarial scenarios for what the patch series relaxes (patches/README.md, "Threat model"): an
unprivileged user inside the container (here `nobody`, through `docker exec -u`) or a writer of /run must not
make PID 1 adopt, signal or attribute across units. Each scenario runs on every patched version; each check
failed on the series before the hardening (the record is in patches/README.md).

Only the three --tmpfs flags, like every patched scenario; the checks are on MainPID, on which processes
survive a stop, on `journalctl -u` and on `docker logs` lines.
"""

from __future__ import annotations

import re
import time
import uuid

from harness.docker import BOOTED_STATES
from harness.helpers import boot, journal, stop, unit_props, write_file
from harness.images import patched_versions
from harness.registry import scenario

PATCHED = tuple(kind for _, _, kind in patched_versions())

NOBODY = ["-u", "65534:65534"]


def _booted(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS)
    return c if state in BOOTED_STATES else None


def _sh(ctx, c, script, user=False, timeout=60):
    """`sh -c SCRIPT` in C, as root or (user=True) as nobody, like a service user would."""
    return ctx.docker.exec(c, ["sh", "-c", script], timeout=timeout, flags=NOBODY if user else (), expect=None)


def _pid(ctx, c, pattern) -> str:
    """The PID of the one process whose full command line is PATTERN ('' if none or several)."""
    out = ctx.docker.exec(c, ["pgrep", "-x", "-f", pattern], timeout=30, expect=None).stdout.split()
    return out[0] if len(out) == 1 else ""


def _show(ctx, c, unit) -> dict:
    return unit_props(ctx, c, unit, ("ActiveState", "Result", "MainPID"))


def _wait_file(ctx, c, path, tries=100) -> bool:
    for _ in range(tries):
        if ctx.docker.exec(c, ["test", "-e", path], timeout=30, expect=None).returncode == 0:
            return True
        time.sleep(0.1)
    return False


def _install(ctx, c, r, files) -> bool:
    ok = all(write_file(ctx, c, path, text).returncode == 0 for path, text in files)
    p = ctx.docker.exec(c, ["systemctl", "daemon-reload"], timeout=60, expect=None)
    r.check("test units installed", ok and p.returncode == 0, p.output().strip())
    return ok


# --- PID files ------------------------------------------------------------------------------------------

# A service user's unit whose PID file it writes itself (the case "accept a PID file's PID owned by the
# service user" relaxes). ExecStart hands over to whatever the scenario's attacker writes into the file.
PIDFILE_UNIT = """[Service]
Type=forking
User=nobody
RuntimeDirectory={name}
PIDFile=/run/{name}/daemon.pid
ExecStart=/bin/sh -c 'touch /run/{name}/go; for i in $(seq 100); do [ -s /run/{name}/daemon.pid ] && exit 0; sleep 0.1; done; exit 1'
"""
# Run as nobody inside a session whose leader has exited (a double fork) and that also holds a root
# process: once the unit starts, fork a process in that session and name it in the unit's PID file.
LEADERLESS_ATTACKER = """while [ ! -e /run/n2d-adv-ll/go ]; do sleep 0.1; done
sleep 6002 </dev/null >/dev/null 2>&1 &
echo $! > /run/n2d-adv-ll/daemon.pid
"""


@scenario("adversarial-pidfile", images=PATCHED, order=130,
          doc="a service user cannot steer a stop through its PID file: a root PID written into it is "
              "refused; a PID in a session whose leader has exited (double fork; the session also holds a root "
              "process) is refused, and no root process is signalled by the unit's stop")
def adversarial_pidfile(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    if not _install(ctx, c, r, [
            ("/run/systemd/system/n2d-adv-root.service", PIDFILE_UNIT.format(name="n2d-adv-root")),
            ("/run/systemd/system/n2d-adv-ll.service", PIDFILE_UNIT.format(name="n2d-adv-ll")),
            ("/run/n2d-ll-attacker.sh", LEADERLESS_ATTACKER)]):
        return

    # 1. The service user writes the PID of a root daemon (started during the unit's start) into its file.
    ctx.docker.exec(c, ["systemctl", "start", "--no-block", "n2d-adv-root"], timeout=60, expect=None)
    started = _wait_file(ctx, c, "/run/n2d-adv-root/go")
    _sh(ctx, c, "setsid -f sleep 7001 </dev/null >/dev/null 2>&1")
    root_pid = ""
    for _ in range(50):
        root_pid = _pid(ctx, c, "sleep 7001")
        if root_pid:
            break
        time.sleep(0.1)
    _sh(ctx, c, f"echo {root_pid} > /run/n2d-adv-root/daemon.pid", user=True)
    time.sleep(1.5)
    props = _show(ctx, c, "n2d-adv-root")
    r.check("root PID in a service user's PID file: not taken as MainPID",
            started and root_pid != "" and props.get("MainPID") != root_pid,
            f"MainPID={props.get('MainPID')} root daemon={root_pid} {props}")
    ctx.docker.exec(c, ["systemctl", "stop", "n2d-adv-root"], timeout=60, expect=None)
    r.check("root PID in a service user's PID file: the root daemon survives the unit's stop",
            _pid(ctx, c, "sleep 7001") == root_pid != "", f"root daemon {root_pid} gone")
    _sh(ctx, c, "pkill -x -f 'sleep 7001'")

    # 2. A session whose leader is gone, holding a root process and the service user's attacker.
    p = _sh(ctx, c, "setsid -f sh -c 'sleep 6001 </dev/null >/dev/null 2>&1 & "
                    "setpriv --reuid=65534 --regid=65534 --clear-groups sh /run/n2d-ll-attacker.sh "
                    "</dev/null >/dev/null 2>&1 & exit 0'")
    time.sleep(0.5)
    root_pid = _pid(ctx, c, "sleep 6001")
    r.check("leaderless session with a root process set up", p.returncode == 0 and root_pid != "",
            p.output().strip())
    ctx.docker.exec(c, ["systemctl", "start", "n2d-adv-ll"], timeout=60, expect=None)
    time.sleep(0.5)
    props = _show(ctx, c, "n2d-adv-ll")
    attacker = _pid(ctx, c, "sleep 6002")
    r.evidence(journal(ctx, c, "-u", "n2d-adv-ll"), "journalctl -u n2d-adv-ll")
    r.check("PID in a leaderless session: not taken as MainPID",
            attacker != "" and props.get("MainPID") != attacker,
            f"MainPID={props.get('MainPID')} attacker's process={attacker} {props}")
    ctx.docker.exec(c, ["systemctl", "stop", "n2d-adv-ll"], timeout=60, expect=None)
    time.sleep(0.5)
    r.check("PID in a leaderless session: the session's root process survives the unit's stop",
            _pid(ctx, c, "sleep 6001") == root_pid != "", f"root process {root_pid} gone after the stop")
    _sh(ctx, c, "pkill -x -f 'sleep 600[12]'")
    stop(ctx, c, r)


# --- main-PID guess -------------------------------------------------------------------------------------

# A User= forking service without PIDFile= whose daemon cleans its environment (postfix's master does): the
# main PID is guessed. It waits until the scenario's foreign daemon exists, so both are candidates.
GUESS_UNIT = """[Service]
Type=forking
User=daemon
ExecStart=/bin/sh -c 'env -i sleep 3001 </dev/null >/dev/null 2>&1 & touch /tmp/n2d-adv-started; for i in $(seq 100); do [ -e /tmp/n2d-adv-foreign ] && exit 0; sleep 0.1; done; exit 1'
"""


@scenario("adversarial-guess", images=PATCHED, order=131,
          doc="another user's setsid() daemon started while a User= Type=forking unit without PIDFile= starts "
              "is never guessed as its main PID (also with GuessMainPID=no): MainPID is the unit's own daemon, "
              "and the unit's stop leaves the other user's daemon running")
def adversarial_guess(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    if not _install(ctx, c, r, [("/run/systemd/system/n2d-adv-guess.service", GUESS_UNIT),
                                ("/run/systemd/system/n2d-adv-guess-no.service", GUESS_UNIT + "GuessMainPID=no\n")]):
        return
    for unit in ("n2d-adv-guess", "n2d-adv-guess-no"):
        what = "User=daemon forking unit" + (", GuessMainPID=no" if unit.endswith("-no") else "")
        _sh(ctx, c, "rm -f /tmp/n2d-adv-started /tmp/n2d-adv-foreign")
        ctx.docker.exec(c, ["systemctl", "start", "--no-block", unit], timeout=60, expect=None)
        started = _wait_file(ctx, c, "/tmp/n2d-adv-started")
        # nobody's daemon: reparented to PID 1, a session leader of its own, no INVOCATION_ID=.
        _sh(ctx, c, "env -i setsid -f sleep 9001 </dev/null >/dev/null 2>&1; touch /tmp/n2d-adv-foreign", user=True)
        props = {}
        for _ in range(50):
            props = _show(ctx, c, unit)
            if props.get("ActiveState") not in ("activating", "deactivating"):
                break
            time.sleep(0.1)
        own, foreign = _pid(ctx, c, "sleep 3001"), _pid(ctx, c, "sleep 9001")
        r.evidence(journal(ctx, c, "-u", unit), f"journalctl -u {unit}")
        r.check(f"{what}: the foreign daemon is not its MainPID", started and foreign != "" and
                props.get("MainPID") != foreign, f"MainPID={props.get('MainPID')} foreign={foreign} own={own}")
        r.check(f"{what}: active with its own daemon as MainPID",
                props.get("ActiveState") == "active" and own != "" and props.get("MainPID") == own,
                f"{props} own daemon={own}")
        ctx.docker.exec(c, ["systemctl", "stop", unit], timeout=60, expect=None)
        time.sleep(0.5)
        r.check(f"{what}: its stop leaves nobody's daemon running", _pid(ctx, c, "sleep 9001") == foreign != "",
                f"nobody's daemon {foreign} gone after the stop")
        r.check(f"{what}: its stop stops its own daemon", _pid(ctx, c, "sleep 3001") == "", "sleep 3001 left")
        _sh(ctx, c, "pkill -x -f 'sleep 9001'; pkill -x -f 'sleep 3001'")
    stop(ctx, c, r)


# --- docker logs ----------------------------------------------------------------------------------------

@scenario("adversarial-logs", images=PATCHED, order=132,
          doc="`docker logs` lines forwarded by journald cannot be forged by a client: `logger -t sshd` as "
              "nobody shows the sender's UID (a unit's line its unit), not a bare `sshd[PID]:` line; a newline or "
              "escape sequence in a message cannot start a line of its own")
def adversarial_logs(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    tag = uuid.uuid4().hex[:10]
    forged = f"Accepted password for root from 192.0.2.66 port 4711 ssh2 {tag}"
    _sh(ctx, c, f"{{ echo '{forged}'; sleep 2; }} | logger -t sshd", user=True)
    _sh(ctx, c, f"logger -t n2d-esc \"$(printf 'first-{tag}\\nsshd[1]: second-{tag}\\033[2J')\"; sleep 1", user=True)
    p = ctx.docker.exec(c, ["systemd-run", "-q", "--wait", "--unit", "n2d-adv-logs", "-p", "User=nobody",
                            "/bin/sh", "-c", f"{{ echo unit-line-{tag}; sleep 2; }} | logger -t sshd"], timeout=60, expect=None)
    r.check("test unit ran", p.returncode == 0, p.output().strip()[-300:])
    logs = ""
    for _ in range(30):
        logs = ctx.docker.logs(c, tail=100000)
        if f"unit-line-{tag}" in logs and forged in logs:
            break
        time.sleep(0.2)
    lines = logs.splitlines()
    hits = [ln for ln in lines if forged in ln]
    r.check("the forged line reaches docker logs (nothing hidden)", len(hits) == 1, "\n".join(hits) or logs[-400:])
    r.check("it does not read as sshd's own line: `sshd[PID]: Accepted ...`",
            not any(re.search(r"(^|\s)sshd\[\d+\]: Accepted password", ln) for ln in hits), "\n".join(hits))
    r.check("it names the sender's UID", any("uid 65534" in ln for ln in hits), "\n".join(hits))
    unit_hits = [ln for ln in lines if f"unit-line-{tag}" in ln]
    r.check("a unit's line names its unit", any("n2d-adv-logs.service" in ln for ln in unit_hits),
            "\n".join(unit_hits) or logs[-400:])
    r.check("a newline in a message does not start a forged line",
            not any(ln.startswith(f"sshd[1]: second-{tag}") for ln in lines) and
            any(f"first-{tag}" in ln and f"second-{tag}" in ln for ln in lines),
            "\n".join(ln for ln in lines if tag in ln))
    r.check("no escape sequence from a client in docker logs", "\x1b[2J" not in logs,
            "ESC[2J found in docker logs")
    stop(ctx, c, r)


# --- /run/systemd/units ---------------------------------------------------------------------------------

# As nobody: a process that logs once /tmp/n2d-adv-go-N exists, so that a link can be planted for it first.
# The logger stays alive a moment after sending (journald reads a sender's metadata from /proc).
LOGGER = "echo $$ > /tmp/n2d-adv-sh-{n}; while [ ! -e /tmp/n2d-adv-go-{n} ]; do sleep 0.1; done; " \
         "{{ echo planted-{n}-{tag}; sleep 2; }} | logger -t n2d-planted"


@scenario("adversarial-links", images=PATCHED, order=133,
          doc="symlinks planted under /run/systemd/units do not attribute a process's messages to a unit: "
              "nobody cannot write there; a stale link (no start time: a reused PID), a link not owned by "
              "root, and the directory replaced by a symlink to another directory are all ignored")
def adversarial_links(ctx, img, r):
    c = _booted(ctx, img, r)
    if not c:
        return
    tag = uuid.uuid4().hex[:10]
    p = _sh(ctx, c, "ln -s ssh.service /run/systemd/units/pid:$$", user=True)
    r.check("nobody cannot plant a link in /run/systemd/units", p.returncode != 0, p.output().strip())

    def planted(n, plant):
        """Start nobody's logger N, let PLANT (a root shell script, $P = its PID) plant a link for it,
        let it log; True when its message is filed under n2d-victim.service."""
        _sh(ctx, c, "sh -c '" + LOGGER.format(n=n, tag=tag) + "' </dev/null >/dev/null 2>&1 &", user=True)
        _wait_file(ctx, c, f"/tmp/n2d-adv-sh-{n}")
        _sh(ctx, c, f"P=$(cat /tmp/n2d-adv-sh-{n}); {plant}")
        _sh(ctx, c, f"touch /tmp/n2d-adv-go-{n}")
        out = journal(ctx, c, "-t", "n2d-planted", until=lambda o: f"planted-{n}-{tag}" in o)
        logged = f"planted-{n}-{tag}" in out
        victim = journal(ctx, c, "-u", "n2d-victim.service")
        r.evidence(_sh(ctx, c, f"P=$(cat /tmp/n2d-adv-sh-{n}); ls -ld /run/systemd/units; "
                               "ls -l /run/systemd/units/pid:$P; journalctl -o json -t n2d-planted").output(),
                   f"planted link {n}")
        return logged, f"planted-{n}-{tag}" in victim

    # A stale link, as left for a PID that a later process reuses: no start time of the current process.
    logged, attributed = planted(1, "ln -sfn n2d-victim.service /run/systemd/units/pid:$P")
    r.check("stale link (no start time): the message is logged", logged, "")
    r.check("stale link (no start time): not filed under the link's unit", not attributed,
            "journalctl -u n2d-victim.service has nobody's message")
    # A link in the current form (unit, start time) that root did not write.
    start = "$(( $(cut -d')' -f2 /proc/$P/stat | awk '{print $20}') * 1000000 / $(getconf CLK_TCK) ))"
    logged, attributed = planted(2, f"ln -sfn \"n2d-victim.service {start}\" /run/systemd/units/pid:$P && "
                                    "chown -h 65534:65534 /run/systemd/units/pid:$P")
    r.check("link owned by nobody: the message is logged", logged, "")
    r.check("link owned by nobody: not filed under the link's unit", not attributed,
            "journalctl -u n2d-victim.service has nobody's message")
    # The directory swapped for a symlink to a directory nobody controls.
    logged, attributed = planted(3, "mkdir -p /tmp/n2d-adv-evil && chown 65534 /tmp/n2d-adv-evil && "
                                    "ln -sfn n2d-victim.service /tmp/n2d-adv-evil/pid:$P && "
                                    "mv /run/systemd/units /run/systemd/units.real && "
                                    "ln -s /tmp/n2d-adv-evil /run/systemd/units")
    _sh(ctx, c, "rm /run/systemd/units && mv /run/systemd/units.real /run/systemd/units")
    r.check("directory replaced by a symlink: the message is logged", logged, "")
    r.check("directory replaced by a symlink: not followed", not attributed,
            "journalctl -u n2d-victim.service has nobody's message")
    stop(ctx, c, r)
