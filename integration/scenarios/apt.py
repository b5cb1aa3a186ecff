"""apt-upgrade: the patched systemd packages survive what a Debian user does to a running container.

Every patched kind is built the user's way (examples/debian/Dockerfile + the repository of
``packaging/build-repo``).  In a running container (only the three ``--tmpfs`` flags) the suite's Debian
archive is replaced by a local one, bind-mounted read-only at /srv/point-release (the containers have no
network): Debian's own, unpatched packages of source systemd with the version raised as a point release
raises it (``packaging/build-repo V --point-release DIR dbus-user-session``), plus dbus-user-session, a
package of another source that depends on systemd and libpam-systemd.  Then, each followed by
``docker restart`` and a check that PID 1 is the patched build again (the marker of patches/vN/0001 in
/proc/1/exe), that dpkg has the +n2d version, and that ``dpkg --verify`` is clean:

  1. ``apt-get update && apt-get -y upgrade``
  2. ``apt-get install -y dbus-user-session systemd-timesyncd`` (both depend on systemd)
  3. ``apt-get install -y --reinstall systemd``

Without the preferences file of the repository, step 1 installs the point release's stock systemd and the
container no longer boots (exit 15): ``NIXOS2DOCKER_APT_NO_PIN=1`` removes the file first, to see that.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import subprocess

from harness.docker import BOOTED_STATES
from harness.images import patched_versions
from harness.registry import scenario
from harness.util import HarnessError, log

PATCHED = [kind for _, _, kind in patched_versions()]
EXTRA = ["dbus-user-session"]
STEPS = [
    ("apt-get update && apt-get -y upgrade", "apt-get update && apt-get -y upgrade"),
    ("apt-get install -y dbus-user-session systemd-timesyncd",
     "apt-get install -y --no-install-recommends dbus-user-session systemd-timesyncd"),
    ("apt-get install -y --reinstall systemd", "apt-get install -y --reinstall systemd"),
]
MARKER_RE = r"NIXOS2DOCKER_PATCHED_SYSTEMD=[0-9][0-9.]*[0-9]"


def expected_marker(repo: str, version: str) -> str:
    """The marker the series of VERSION puts into PID 1: the one its patch 0001 adds (a `+` line of the
    diff; the commit message may name it too, and could lag behind)."""
    for p in sorted(glob.glob(os.path.join(repo, "patches", f"v{version.split('.')[0]}", "0001-*.patch"))):
        added = [ln for ln in open(p, errors="replace").read().splitlines() if ln.startswith("+")]
        m = re.search(MARKER_RE, "\n".join(added))
        if m:
            return m.group(0)
    raise HarnessError(f"no marker in patches/v{version.split('.')[0]}/0001-*.patch")


def point_release(ctx, version: str) -> str:
    dest = os.path.join(ctx.cache_dir, "packages", "point-release", version)
    cmd = [os.path.join(ctx.repo, "packaging", "build-repo"), version, "--point-release", dest] + EXTRA
    logfile = os.path.join(ctx.cache_dir, "logs", "point-release.log")
    os.makedirs(os.path.dirname(logfile), exist_ok=True)
    log(f"{' '.join(cmd[1:])} (log {logfile})")
    with open(logfile, "ab") as lf:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=lf, timeout=1800,
                           env=dict(os.environ, NIXOS2DOCKER_CACHE=ctx.cache_dir))
    if p.returncode != 0:
        raise HarnessError(f"packaging/build-repo --point-release exited {p.returncode}; see {logfile}")
    return dest


def _sh(ctx, c, script: str, timeout: float = 300):
    return ctx.docker.exec(c, ["sh", "-ec", script], timeout=timeout, expect=None,
                           flags=["-e", "DEBIAN_FRONTEND=noninteractive"])


def _still_patched(ctx, c, r, want: str, label: str) -> bool:
    p = ctx.docker.cli(["restart", c.name], timeout=120, expect=None)
    r.check(f"docker restart ({label})", p.ok, p.output().strip()[-300:])
    dt, state = ctx.docker.wait_booted(c, timeout=90)
    ok = state in BOOTED_STATES
    r.check(f"booted again after {label}", state == "running", f"state {state} after {dt:.2f}s")
    if not ok:
        r.evidence(ctx.docker.logs(c, tail=40), f"docker logs after {label}")
        return False
    p = _sh(ctx, c, f"grep -a -o -E '{MARKER_RE}' /proc/1/exe | head -n1")
    r.check(f"PID 1 is the patched build ({label})", p.stdout.strip() == want,
            f"PID 1: {p.stdout.strip() or p.output().strip()[-200:]!r}, want {want!r}")
    p = _sh(ctx, c, "dpkg-query -W -f '${Version}' systemd")
    r.check(f"dpkg: systemd is the +n2d build ({label})", "+n2d" in p.stdout, p.output().strip())
    _verify(ctx, c, r, label)
    return True


def _verify(ctx, c, r, label: str) -> None:
    """`dpkg --verify` reports nothing but the files the image's dpkg configuration keeps out
    (path-exclude= in /etc/dpkg/dpkg.cfg.d/, e.g. the base's documentation): those are "missing" for
    every package, Debian's and ours alike, and are counted, not failed."""
    p = _sh(ctx, c, "dpkg --verify || true")
    cfg = _sh(ctx, c, "cat /etc/dpkg/dpkg.cfg.d/* 2>/dev/null || true").stdout
    excl = [ln.split("=", 1)[1].strip() for ln in cfg.splitlines() if ln.startswith("path-exclude=")]
    incl = [ln.split("=", 1)[1].strip() for ln in cfg.splitlines() if ln.startswith("path-include=")]
    bad, kept_out = [], 0
    for line in p.stdout.splitlines():
        parts = line.split()
        path = parts[-1] if parts else ""
        if parts[:1] == ["missing"] and any(fnmatch.fnmatch(path, e) for e in excl) \
                and not any(fnmatch.fnmatch(path, i) for i in incl):
            kept_out += 1
        elif line.strip():
            bad.append(line)
    r.check(f"dpkg --verify clean ({label})", not bad,
            ("\n".join(bad)[-600:] if bad else "clean") + f" ({kept_out} paths kept out by path-exclude)")


@scenario("apt-upgrade", images=PATCHED, order=106,
          doc="the user's image (examples/debian/Dockerfile + packaging/build-repo): apt-get upgrade to a "
              "simulated point release, installing packages that depend on systemd and reinstalling systemd "
              "each keep the patched PID 1 across docker restart (marker checked), dpkg --verify clean")
def apt_upgrade(ctx, img, r):
    want = expected_marker(ctx.repo, img.kind.systemd)
    pr = point_release(ctx, img.kind.systemd)
    c, t0 = ctx.docker.run_detached(img, list(img.boot_flags) + ["-v", f"{pr}:/srv/point-release:ro"])
    r.boot_s, state = ctx.docker.wait_booted(c, t0, timeout=90)
    r.check("boots", state == "running", state)
    if state not in BOOTED_STATES:
        r.evidence(ctx.docker.logs(c, tail=60), "docker logs")
        return
    _verify(ctx, c, r, "the image as built")
    no_pin = os.environ.get("NIXOS2DOCKER_APT_NO_PIN") == "1"
    setup = ("mkdir -p /etc/apt/debian-archive.off && "
             "for f in /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources; do "
             "[ ! -e \"$f\" ] || mv \"$f\" /etc/apt/debian-archive.off/; done && "
             "echo 'deb [trusted=yes] file:/srv/point-release ./' > /etc/apt/sources.list.d/point-release.list")
    if no_pin:
        setup += " && rm /etc/apt/preferences.d/nixos2docker.pref"
        r.note("NIXOS2DOCKER_APT_NO_PIN=1: the preferences file was removed (break on purpose)")
    p = _sh(ctx, c, setup)
    r.check("the archive replaced by the point release (file: source)", p.returncode == 0, p.output().strip())
    for label, script in STEPS:
        p = _sh(ctx, c, script, timeout=600)
        r.check(label, p.returncode == 0, p.output().strip()[-800:])
        pol = _sh(ctx, c, "apt-cache policy systemd libsystemd0 | head -n 12")
        r.evidence(pol.output(), f"apt-cache policy after {label}")
        if not _still_patched(ctx, c, r, want, label):
            return
    r.stop_s, r.exit_code = ctx.docker.timed_stop(c)
    r.check("docker stop → exit 0", r.exit_code == 0, f"exit {r.exit_code} after {r.stop_s:.2f}s")
