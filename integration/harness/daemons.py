"""The daemons of the workload image (integration/workload) and the checks run on each in a booted container:
the unit is ``active``; it answers one real ``request`` on loopback; ``systemctl restart`` → active and
answering again; ``journalctl -u UNIT`` has a line; ``systemctl stop`` leaves no process of the daemon.
Shared by the workload scenario (scenarios/workload.py, over ``docker exec``) and the CRI pods
(scenarios/cri.py, over CRI ExecSync): ``Checker`` only needs ``ctx.docker.exec(container, argv, timeout=,
expect=)``."""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass

from .helpers import unit_names

# The daemons ------------------------------------------------------------------------------------------
@dataclass
class Daemon:
    name: str
    unit: str               # a unit name, a glob resolved in the container (postgresql@*-main.service), or
                            # alternatives "a|b": the first loaded one that is not a Type=oneshot wrapper
    request: str            # shell command run inside the container (sh -c)
    expect: str             # regex its stdout must match
    comm: str = ""          # regex on /proc/PID/comm (or argv[0]'s basename) of the daemon's processes
    users: tuple = ()       # users owning the daemon's processes (any process of them counts)
    socket: str = ""        # the unit's socket when socket-activated: "active" is the socket listening
    also_stop: tuple = ()   # units stopped with it (a socket that would start it again)
    kind: str = ""          # what it is, for the table


def _bash_tcp(port: int, send: str, lines: int = 1) -> str:
    """A request over TCP to 127.0.0.1:PORT with bash's /dev/tcp (no client package needed): SEND (printf
    %b escapes) is written, the first LINES lines of the answer are printed."""
    script = (f"exec 3<>/dev/tcp/127.0.0.1/{port}; printf %b {shlex.quote(send)} >&3; "
              f"head -n {lines} <&3")
    return f"timeout 10 bash -c {shlex.quote(script)}"


def _smtp_dialogue(port: int, commands) -> str:
    """An SMTP conversation over bash's /dev/tcp: read a complete reply (up to the line "NNN text"),
    then send the next command; every reply is printed (Postfix rejects commands sent ahead of a reply)."""
    send = "; ".join(f"expect; printf '%s\\r\\n' {shlex.quote(c)} >&3" for c in commands)
    script = (f"exec 3<>/dev/tcp/127.0.0.1/{port}; "
              "expect() { while IFS= read -r -t 10 line <&3; do echo \"$line\"; "
              "case \"$line\" in [0-9][0-9][0-9]\\ *) return 0;; esac; done; return 1; }; "
              f"{send}; expect")
    return f"timeout 20 bash -c {shlex.quote(script)}"


SMTP_COMMANDS = ["EHLO probe.n2d", "MAIL FROM:<probe@n2d.localdomain>", "RCPT TO:<root@localhost>", "DATA",
                 "Subject: n2d probe\r\n\r\nhello from the harness\r\n.", "QUIT"]

DAEMONS = [
    Daemon("nginx", "nginx.service", "curl -sS -m 10 -D - http://127.0.0.1:80/n2d-probe.txt",
           r"(?s)Server: nginx.*n2d-probe-web", comm=r"nginx", kind="web server"),
    Daemon("apache2", "apache2.service", "curl -sS -m 10 -D - http://127.0.0.1:8080/n2d-probe.txt",
           r"(?s)Server: Apache.*n2d-probe-web", comm=r"apache2", kind="web server"),
    Daemon("php-fpm", "php*-fpm.service",
           "SCRIPT_FILENAME=/var/www/html/n2d-probe.php REQUEST_METHOD=GET "
           "cgi-fcgi -bind -connect /run/php/php-fpm.sock",
           r"n2d-probe-php \d", comm=r"php-fpm.*", kind="FastCGI"),
    Daemon("haproxy", "haproxy.service", "curl -sS -m 10 http://127.0.0.1:8081/", r"n2d-probe-haproxy",
           comm=r"haproxy", kind="proxy"),
    Daemon("ssh", "ssh.service", _bash_tcp(22, "SSH-2.0-n2d-probe\\r\\n"), r"^SSH-2\.0-OpenSSH_",
           comm=r"sshd.*", kind="remote login"),
    Daemon("postgresql", "postgresql@*-main.service",
           "runuser -u postgres -- psql -h /run/postgresql -tAc 'SELECT 40 + 2'", r"^42$",
           comm=r"postgres", users=("postgres",), kind="database"),
    Daemon("mariadb", "mariadb.service", "mariadb -N -B -e 'SELECT 40 + 2'", r"^42$",
           comm=r"mariadbd|mysqld", users=("mysql",), kind="database"),
    Daemon("redis", "redis-server.service", "redis-cli -h 127.0.0.1 -p 6379 ping", r"^PONG$",
           comm=r"redis-server", users=("redis",), kind="cache"),
    Daemon("memcached", "memcached.service", _bash_tcp(11211, "version\\r\\n"), r"^VERSION \d",
           comm=r"memcached", users=("memcache",), kind="cache"),
    Daemon("postfix", "postfix.service|postfix@-.service", _smtp_dialogue(25, SMTP_COMMANDS),
           r"250 2\.0\.0 Ok: queued", comm=r"master|qmgr|pickup|smtpd|cleanup|trivial-rewrite|local",
           users=("postfix",), kind="mail (SMTP)"),
    Daemon("unbound", "unbound.service", "dig +short +time=3 +tries=2 @127.0.0.1 probe.n2d.test A",
           r"^192\.0\.2\.53$", comm=r"unbound", users=("unbound",), kind="DNS"),
    Daemon("rsyslog", "rsyslog.service",
           "t=n2d-$(date +%s%N); logger -n 127.0.0.1 -P 514 -d -t n2d-probe \"$t\" && "
           "for i in $(seq 50); do grep -q \"$t\" /var/log/n2d-probe.log 2>/dev/null && "
           "echo \"logged $t\" && break; sleep 0.1; done",
           r"^logged n2d-", comm=r"rsyslogd", also_stop=("syslog.socket",), kind="syslog"),
    Daemon("atd", "atd.service",
           "f=/var/tmp/n2d-at-$(date +%s%N); echo \"echo ran > $f\" | at now 2>/dev/null && "
           "for i in $(seq 100); do [ -s \"$f\" ] && echo \"at job $(cat \"$f\")\" && break; sleep 0.1; done",
           r"^at job ran$", comm=r"atd", kind="job scheduler"),
    Daemon("journal-gatewayd", "systemd-journal-gatewayd.service",
           "curl -sS -m 10 http://127.0.0.1:19531/machine", r'"machine_id"',
           comm=r"systemd-journal-gatewayd", users=("systemd-journal-gateway",),
           socket="systemd-journal-gatewayd.socket", also_stop=("systemd-journal-gatewayd.socket",),
           kind="HTTP (DynamicUser=)"),
]


# Checking one booted container --------------------------------------------------------------------------
class Checker:
    """Runs the checks of every daemon in one container; rows[daemon][check] = (ok, detail)."""

    def __init__(self, ctx, container, evidence):
        self.ctx = ctx
        self.c = container
        self.rows: dict = {}
        self.evidence = evidence   # daemon -> list of text blocks (failure evidence)

    def sh(self, cmd: str, timeout: float = 30):
        return self.ctx.docker.exec(self.c, ["sh", "-c", cmd], timeout=timeout, expect=None)

    def record(self, daemon: str, check: str, ok: bool, detail: str) -> bool:
        self.rows.setdefault(daemon, {})[check] = (bool(ok), str(detail).strip()[:600])
        return bool(ok)

    def resolve_unit(self, d: Daemon) -> str:
        if "|" in d.unit:
            alternatives = d.unit.split("|")
            for u in alternatives:
                p = self.ctx.docker.exec(self.c, ["systemctl", "show", "-p", "LoadState,Type", u], timeout=30, expect=None)
                props = dict(ln.split("=", 1) for ln in p.stdout.splitlines() if "=" in ln)
                if props.get("LoadState") == "loaded" and props.get("Type") != "oneshot":
                    return u
            return alternatives[-1]
        if not any(ch in d.unit for ch in "*?["):
            return d.unit
        p = self.ctx.docker.exec(self.c, ["systemctl", "list-units", "--all", "--plain", "--no-legend",
                                          "--full", d.unit], timeout=30, expect=None)
        names = unit_names(p.stdout)
        if not names:
            p = self.ctx.docker.exec(self.c, ["systemctl", "list-unit-files", "--plain", "--no-legend",
                                              d.unit], timeout=30, expect=None)
            names = unit_names(p.stdout)
        return names[0] if names else d.unit

    def is_active(self, unit: str, wait: float = 10) -> tuple:
        deadline = time.monotonic() + wait
        while True:
            p = self.ctx.docker.exec(self.c, ["systemctl", "is-active", unit], timeout=30, expect=None)
            state = p.stdout.strip() or p.output().strip()
            if state == "active" or time.monotonic() > deadline or state in ("failed", "inactive"):
                return state == "active", state
            time.sleep(0.2)

    def request(self, d: Daemon, tries: int = 3) -> tuple:
        last = ""
        for i in range(tries):
            p = self.sh(d.request, timeout=30)
            out = p.stdout.strip()
            if re.search(d.expect, out, re.M):
                return True, out.splitlines()[-1] if out else ""
            last = (p.output().strip() or f"(no output, exit {p.returncode})")
            time.sleep(1)
        return False, last

    def processes(self, d: Daemon) -> list:
        """Processes of the daemon, read from /proc inside the container: 'pid user comm args'."""
        p = self.ctx.docker.exec(self.c, ["ps", "-e", "-o", "pid=,user:32=,comm=,args="], timeout=30, expect=None)
        out = []
        comm_re = re.compile(rf"^(?:{d.comm})$") if d.comm else None
        for ln in p.stdout.splitlines():
            parts = ln.split(None, 3)
            if len(parts) < 3:
                continue
            pid, user, comm = parts[0], parts[1], parts[2]
            args = parts[3] if len(parts) > 3 else ""
            argv0 = os.path.basename(args.split()[0]) if args.split() else ""
            if (d.users and user in d.users) or (comm_re and (comm_re.match(comm) or comm_re.match(argv0))):
                out.append(f"{pid} {user} {comm} {args[:80]}")
        return out

    def unit_evidence(self, d: Daemon, unit: str) -> str:
        p = self.ctx.docker.exec(self.c, ["systemctl", "status", "--no-pager", "--full", "-n", "15", unit],
                                 timeout=30, expect=None)
        j = self.ctx.docker.exec(self.c, ["journalctl", "--no-pager", "-n", "20", "-u", unit], timeout=30, expect=None)
        props = self.ctx.docker.exec(self.c, ["systemctl", "show", unit, "-p",
                                              "Result,ExecMainStatus,ExecMainCode,MainPID,User,DynamicUser,"
                                              "PrivateUsers,PrivateNetwork,PrivateTmp,PrivateDevices,"
                                              "ProtectSystem,ProtectHome,RestrictNamespaces,"
                                              "SystemCallFilter,NoNewPrivileges,PIDFile,Type"], timeout=30, expect=None)
        g = self.sh(f"journalctl --no-pager -b -o cat | grep -F -e '{unit}' | tail -n 15", timeout=30)
        return (f"$ systemctl status {unit}\n{p.output().rstrip()}\n"
                f"$ journalctl -u {unit} -n 20\n{j.output().rstrip()}\n"
                f"$ journalctl -b | grep {unit} | tail\n{g.output().rstrip()}\n"
                f"$ systemctl show {unit} (excerpt)\n"
                + "\n".join(ln for ln in props.stdout.splitlines()
                            if ln.split("=", 1)[-1] not in ("", "no", "0", "[not set]")))

    def check_daemon(self, d: Daemon) -> None:
        unit = self.resolve_unit(d)
        bad = False
        ok, state = self.is_active(d.socket or unit)
        bad |= not self.record(d.name, "active", ok, f"{d.socket or unit}: {state}")
        ok, detail = self.request(d)
        if d.socket:  # the request started the service
            act, state = self.is_active(unit)
            ok, detail = ok and act, f"{detail}; {unit}: {state}"
        bad |= not self.record(d.name, "request", ok, detail)
        p = self.ctx.docker.exec(self.c, ["systemctl", "restart", unit], timeout=90, expect=None)
        act, state = self.is_active(unit)
        answered, detail = self.request(d) if act else (False, "not active")
        bad |= not self.record(d.name, "restart", p.returncode == 0 and act and answered,
                               f"restart exit {p.returncode} {p.output().strip()[:200]}; {state}; {detail}")
        # -o short-unix: "TIME HOST IDENT[PID]: MESSAGE"; PID 1's own lines about the unit count too
        j = self.ctx.docker.exec(self.c, ["journalctl", "--no-pager", "-q", "-o", "short-unix", "-u", unit],
                                 timeout=30, expect=None)
        lines = [ln for ln in j.stdout.splitlines() if ln.strip()]
        own = [ln for ln in lines if len(ln.split(None, 3)) > 2 and not ln.split(None, 3)[2].endswith("[1]:")]
        bad |= not self.record(d.name, "journal", bool(lines),
                               f"{len(lines)} lines ({len(own)} from the unit's processes, "
                               f"{len(lines) - len(own)} from PID 1)"
                               + (f", last: {lines[-1][:150]}" if lines else f": {j.output().strip()[:200]}"))
        if bad:
            self.evidence.setdefault(d.name, []).append(self.unit_evidence(d, unit))
        p = self.ctx.docker.exec(self.c, ["systemctl", "stop", unit, *d.also_stop], timeout=90, expect=None)
        left = self.processes(d)
        for _ in range(50):
            if not left:
                break
            time.sleep(0.1)
            left = self.processes(d)
        ok = self.record(d.name, "stop", p.returncode == 0 and not left,
                         f"stop exit {p.returncode} {p.output().strip()[:200]}; "
                         + (f"{len(left)} processes left: " + "; ".join(left[:6]) if left else "no process left"))
        if not ok:
            self.evidence.setdefault(d.name, []).append(self.unit_evidence(d, unit))
