"""The workload proof: a Debian system with the daemons people containerize, checked daemon by daemon.

One instance per patched systemd version (patches/versions): image kinds ``sid-workload`` /
``trixie-workload`` / ``bookworm-workload`` (stock systemd 262 / 257 / 252) with their ``-patched`` twins
(the same + the packages of ``packaging/build-repo V`` through examples/debian/Dockerfile), and ``trixie-261-workload-patched`` (261.2 over trixie; no
stock twin, see INSTANCES).  The root filesystem is mmdebstrap's
minbase with the packages of ``integration/workload/packages`` (cached by its inputs like every kind), the
configuration is the file tree ``integration/workload/rootfs/`` laid over it as an overlay tarball (so a
configuration change never re-runs mmdebstrap).  Every daemon answers on loopback: the harness runs
containers with ``--network none``, so each request is made with ``docker exec`` inside the container.

Per daemon (``DAEMONS``) and mode, the checks are: the unit is ``active``; it answers one real
``request``; ``systemctl restart`` → active and answering again (``restart``); ``journalctl -u UNIT``
shows at least one line (``journal``); ``systemctl stop`` → no process of the daemon is left, by
process name or user read from /proc (``stop``).  Plus ``systemctl is-system-running`` = ``running``.

Modes (``MODES``): ``ours`` (patched systemd, only the three --tmpfs flags); ``stock-rw`` (stock systemd
with the insecure ``--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw``); ``stock-writable-cgroups``
(stock systemd with Docker ≥ 28's ``--security-opt writable-cgroups=true``; on an older engine every
check of that mode FAILS with "engine missing").  The scenario passes when ``ours`` passes every check;
the baselines' results are recorded (result ``extra.modes``, the tables printed) but are not fatal.
``NIXOS2DOCKER_WORKLOAD_MODES=ours,stock-rw`` limits a run to some modes (the others are reported as
not run).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass

from harness.daemons import DAEMONS, Checker
from harness.docker import BOOTED_STATES
from harness.helpers import FAILED_UNITS_CMD, unit_names
from harness.images import (DEFAULT_PACKAGES, STOCK_RW_FLAGS, SUITE_SYSTEMD, TMPFS_FLAGS,
                            patched_versions)
from harness.engines import DEFAULT_ENGINE
from harness.registry import ImageKind, add_core, register_image_kind, scenario
from harness.util import HarnessError, Skip

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # integration/
WORKLOAD_DIR = os.path.join(HERE, "workload")

CHECKS = ("active", "request", "restart", "journal", "stop")
SYSTEM_ROW = "system"  # the row of `systemctl is-system-running`


def workload_packages() -> list:
    """DEFAULT_PACKAGES + integration/workload/packages (one name per line, '#' comments)."""
    out = list(DEFAULT_PACKAGES)
    with open(os.path.join(WORKLOAD_DIR, "packages")) as f:
        for line in f:
            name = line.split("#", 1)[0].strip()
            if name and name not in out:
                out.append(name)
    return out


# Units enabled by the configuration overlay (symlinks are generated, not stored in the repository).
ENABLE_LINKS = {
    "etc/systemd/system/sockets.target.wants/systemd-journal-gatewayd.socket":
        "/usr/lib/systemd/system/systemd-journal-gatewayd.socket",
}


def config_tarball(cache_dir: str) -> str:
    """integration/workload/rootfs/ (+ ENABLE_LINKS) as a tarball, cached under <cache>/overlays/ by
    the content of every file; owners root, modes as in the tree, a fixed mtime."""
    src = os.path.join(WORKLOAD_DIR, "rootfs")
    entries = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        rel = os.path.relpath(dirpath, src)
        if rel != ".":
            entries.append((rel, None))
        for fn in sorted(filenames):
            entries.append((os.path.normpath(os.path.join(rel, fn)), os.path.join(dirpath, fn)))
    h = hashlib.sha256(b"workload-config:v1\n")
    for rel, path in entries:
        h.update(rel.encode() + b"\0")
        if path:
            h.update(open(path, "rb").read() + b"\0")
    for link, target in sorted(ENABLE_LINKS.items()):
        h.update(f"{link}->{target}\n".encode())
    out_dir = os.path.join(cache_dir, "overlays")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, f"workload-config-{h.hexdigest()[:16]}.tar")
    if os.path.isfile(out):
        return out
    tmp = out + f".tmp{os.getpid()}"
    made_dirs = set()

    def add_dir(t, name):
        if name in made_dirs:
            return
        parent = os.path.dirname(name)
        if parent:
            add_dir(t, parent)
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
        t.addfile(ti)
        made_dirs.add(name)

    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as t:
        for rel, path in entries:
            if path is None:
                add_dir(t, rel)
                continue
            add_dir(t, os.path.dirname(rel))
            data = open(path, "rb").read()
            ti = tarfile.TarInfo(rel)
            ti.size, ti.mtime = len(data), 0
            ti.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            t.addfile(ti, io.BytesIO(data))
        for link, target in sorted(ENABLE_LINKS.items()):
            add_dir(t, os.path.dirname(link))
            ti = tarfile.TarInfo(link)
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, 0
            t.addfile(ti)
    os.replace(tmp, out)
    return out


def config_overlay(ctx) -> str:
    return config_tarball(ctx.cache_dir)


config_overlay.__name__ = "workload configuration (integration/workload/rootfs)"

def _major(version: str) -> str:
    return version.split(".", 1)[0]


# One instance per line of patches/versions (every patched systemd runs the workload).  Where the suite's
# own systemd is the same major as the patched version (sid 262, trixie 257, bookworm 252), the instance's
# image is the stock one: the baselines run on it and "ours" on its -patched twin.  Where it is not (261.2
# installed over trixie, whose systemd is 257), the instance's image is the patched one and the baselines
# are not run: they would repeat the trixie instance's stock 257 under another name.
INSTANCES: list = []
VERSION_OF: dict = {}   # patched workload kind -> the systemd version its PID 1 must report
for _version, _suite, _pkind in patched_versions():
    _stem = _pkind.removesuffix("-patched")
    VERSION_OF[f"{_stem}-workload-patched"] = _version
    _stock = f"{_suite}-workload"
    register_image_kind(ImageKind(
        name=f"{_stem}-workload-patched", suite=_suite, packages=workload_packages(),
        overlays=[config_overlay], systemd=_version, patched=True,
        description=f"{_stock} + systemd {_version} with patches/v{_major(_version)}"))
    if _major(SUITE_SYSTEMD.get(_suite, "")) == _major(_version):
        register_image_kind(ImageKind(
            name=_stock, suite=_suite, packages=workload_packages(), overlays=[config_overlay],
            description=f"Debian {_suite} + the workload daemons (integration/workload), stock systemd "
                        f"{SUITE_SYSTEMD[_suite]}"))
        INSTANCES.append(_stock)
    else:
        INSTANCES.append(f"{_stem}-workload-patched")


# Modes ------------------------------------------------------------------------------------------------
@dataclass
class Mode:
    name: str
    patched: bool
    flags: list
    min_docker: int = 0     # engine requirement (Docker major version)
    doc: str = ""


MODES = [
    Mode("ours", True, list(TMPFS_FLAGS), doc="patched systemd, only the 3 --tmpfs flags"),
    Mode("stock-rw", False, list(TMPFS_FLAGS) + list(STOCK_RW_FLAGS),
         doc="stock systemd + --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw (insecure)"),
    Mode("stock-writable-cgroups", False, list(TMPFS_FLAGS) + ["--security-opt", "writable-cgroups=true"],
         min_docker=28, doc="stock systemd + --security-opt writable-cgroups=true (Docker >= 28)"),
]


def selected_modes(on_default_engine: bool = True) -> list:
    """The modes to run: NIXOS2DOCKER_WORKLOAD_MODES if set; else all on the default engine and only
    ``ours`` on the others (the baselines are recorded once, on the default engine)."""
    env = os.environ.get("NIXOS2DOCKER_WORKLOAD_MODES", "").strip()
    if not env:
        return [m.name for m in MODES] if on_default_engine else ["ours"]
    names = [n.strip() for n in env.split(",") if n.strip()]
    unknown = [n for n in names if n not in [m.name for m in MODES]]
    if unknown:
        raise HarnessError(f"NIXOS2DOCKER_WORKLOAD_MODES: unknown mode(s) {unknown} "
                           f"(known: {', '.join(m.name for m in MODES)})")
    return names


def engine_missing(ctx, mode: Mode) -> str:
    """Why the engine under test cannot run MODE ('' when it can)."""
    if not mode.min_docker:
        return ""
    eng = getattr(ctx, "engine", None)
    if eng is None:
        return f"engine missing: needs Docker >= {mode.min_docker}, no engine information"
    if not eng.is_docker or not eng.version_at_least(mode.min_docker):
        return (f"engine missing: needs Docker >= {mode.min_docker}, this engine is {eng.name} "
                f"({eng.kind} {eng.version or '?'}); run it with --engine docker28")
    return ""


def run_mode(ctx, mode: Mode, img, r) -> dict:
    """Boot IMG with the mode's flags and check every daemon; {rows, boot_s, state, failed_units, ...}."""
    res = {"flags": mode.flags, "image": img.tag, "doc": mode.doc, "rows": {}, "evidence": {}}
    c, t0 = ctx.docker.run_detached(img, mode.flags)
    res["boot_s"], state = ctx.docker.wait_booted(c, t0, timeout=180)
    res["boot_s"] = round(res["boot_s"], 2)
    res["state"] = state
    ck = Checker(ctx, c, res["evidence"])
    if mode.patched:  # judged by the scenario: PID 1 is the series' build
        res["pid1_version"] = ctx.docker.exec(c, ["systemctl", "show", "-p", "Version", "--value"], timeout=30,
                                              expect=None).stdout.strip()
    if state not in BOOTED_STATES:
        ck.record(SYSTEM_ROW, "running", False, f"state {state} after {res['boot_s']}s")
        res["evidence"][SYSTEM_ROW] = [ctx.docker.logs(c, tail=80)]
        for d in DAEMONS:
            for name in CHECKS:
                ck.record(d.name, name, False, f"not booted ({state})")
        res["rows"] = {k: {n: list(v) for n, v in row.items()} for k, row in ck.rows.items()}
        return res
    p = ctx.docker.exec(c, FAILED_UNITS_CMD, timeout=30, expect=None)
    res["failed_units"] = unit_names(p.stdout)
    ck.record(SYSTEM_ROW, "running", state == "running",
              f"{state} after {res['boot_s']}s; failed units: {' '.join(res['failed_units']) or 'none'}")
    if state != "running":
        res["evidence"][SYSTEM_ROW] = [p.stdout]
    for d in DAEMONS:
        ck.check_daemon(d)
    res["stop_s"], res["exit_code"] = ctx.docker.timed_stop(c)
    res["rows"] = {k: {n: list(v) for n, v in row.items()} for k, row in ck.rows.items()}
    return res


def failed_rows(reason: str) -> dict:
    """Every check of a mode that could not run, failed with REASON."""
    rows = {SYSTEM_ROW: {"running": [False, reason]}}
    for d in DAEMONS:
        rows[d.name] = {n: [False, reason] for n in CHECKS}
    return rows


# Tables -------------------------------------------------------------------------------------------------
def row_names() -> list:
    return [SYSTEM_ROW] + [d.name for d in DAEMONS]


def mode_table(rows: dict) -> str:
    """daemon × check → pass/FAIL (one mode)."""
    w = max(len(n) for n in row_names())
    head = f"{'daemon':<{w}}  " + "  ".join(f"{c:<7}" for c in CHECKS)
    out = [head, "-" * len(head)]
    for name in row_names():
        row = rows.get(name, {})
        names = ["running"] if name == SYSTEM_ROW else list(CHECKS)
        cells = []
        for c in names:
            v = row.get(c)
            cells.append(f"{'-' if v is None else ('pass' if v[0] else 'FAIL'):<7}")
        out.append(f"{name:<{w}}  " + "  ".join(cells))
    return "\n".join(out)


def passed(rows: dict) -> tuple:
    checks = [v[0] for row in rows.values() for v in row.values()]
    return sum(1 for ok in checks if ok), len(checks)


def side_by_side(modes: dict) -> str:
    """One line per daemon, one column per mode: checks passed / checks (and which failed)."""
    names = list(modes)
    w = max(len(n) for n in row_names())
    out = ["| daemon | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for name in row_names():
        cells = []
        for m in names:
            row = modes[m]["rows"].get(name, {})
            if not row:
                cells.append("not run")
                continue
            ok = [c for c, v in row.items() if v[0]]
            bad = [c for c, v in row.items() if not v[0]]
            cells.append(f"{len(ok)}/{len(row)}" + (f" (fails: {', '.join(bad)})" if bad else ""))
        out.append(f"| {name:<{w}} | " + " | ".join(cells) + " |")
    totals = []
    for m in names:
        p, n = passed(modes[m]["rows"])
        totals.append(f"**{p}/{n}**")
    out.append("| **checks passed** | " + " | ".join(totals) + " |")
    return "\n".join(out)


@scenario("workload", images=INSTANCES, order=200,
          doc="14 Debian daemons (web, FastCGI, proxy, sshd, SQL, caches, SMTP, DNS, syslog, at, a "
              "DynamicUser= HTTP service) in one container; per daemon active, answers a request on "
              "loopback, restart, journalctl -u, stop leaves no process; is-system-running = running. "
              "Modes: ours (patched, 3 --tmpfs flags) must pass every check; stock-rw and "
              "stock-writable-cgroups baselines are recorded side by side")
def workload(ctx, img, r):
    engine = getattr(ctx, "engine_name", None)
    wanted = selected_modes(engine in (None, DEFAULT_ENGINE))
    ours_kind = img.kind.name if img.kind.patched else img.kind.name + "-patched"
    modes: dict = {}
    for mode in MODES:
        if mode.name not in wanted:
            why = ("not selected (NIXOS2DOCKER_WORKLOAD_MODES)" if os.environ.get("NIXOS2DOCKER_WORKLOAD_MODES")
                   else f"baselines are recorded on the default engine ({DEFAULT_ENGINE})")
            modes[mode.name] = {"rows": {}, "not_run": why}
            r.note(f"mode {mode.name}: not run ({why})")
            continue
        if img.kind.patched and not mode.patched:
            why = (f"Debian {img.kind.suite} ships systemd {SUITE_SYSTEMD.get(img.kind.suite, '?')}: its stock "
                   f"baselines are the workload@{img.kind.suite}-workload instance's")
            modes[mode.name] = {"rows": {}, "not_run": why}
            r.note(f"mode {mode.name}: not run ({why})")
            continue
        reason = engine_missing(ctx, mode)
        if reason:
            modes[mode.name] = {"rows": failed_rows(reason), "flags": mode.flags, "doc": mode.doc,
                                "engine_missing": reason}
            r.note(f"mode {mode.name}: FAIL — {reason}")
        else:
            t0 = time.monotonic()
            try:
                mimg = ctx.image(ours_kind) if mode.patched and ours_kind != img.kind.name else img
            except (Skip, HarnessError) as e:  # e.g. patches/build failed: this mode fails, the others run
                reason = f"no patched image: {str(e).strip().splitlines()[0] if str(e).strip() else e}"
                modes[mode.name] = {"rows": failed_rows(reason), "flags": mode.flags, "doc": mode.doc,
                                    "image_error": str(e)[-2000:]}
                r.note(f"mode {mode.name}: FAIL — {reason}")
            else:
                modes[mode.name] = run_mode(ctx, mode, mimg, r)
            modes[mode.name]["seconds"] = round(time.monotonic() - t0, 1)
        rows = modes[mode.name]["rows"]
        p, n = passed(rows)
        table = mode_table(rows)
        why = modes[mode.name].get("engine_missing") or modes[mode.name].get("image_error", "")
        print(f"\n--- workload@{img.kind.name} mode {mode.name} ({mode.doc}): {p}/{n} checks pass"
              + (f" — FAILED: {why.strip().splitlines()[0]}" if why.strip() else "") + f"\n{table}", flush=True)
        r.evidence(table, f"mode {mode.name}: {p}/{n}")
        if mode.name == "ours":
            want = f"{VERSION_OF[ours_kind]}-nixos2docker"
            got = modes[mode.name].get("pid1_version", "")
            r.check(f"ours: PID 1 is systemd {want}", got == want, f"systemctl show -p Version: {got!r}")
            for name, row in rows.items():
                for check, (ok, detail) in row.items():
                    r.check(f"ours: {name} {check}", ok, detail)
            r.boot_s = modes[mode.name].get("boot_s")
            r.stop_s = modes[mode.name].get("stop_s")
            r.exit_code = modes[mode.name].get("exit_code")
    if "ours" not in wanted:
        r.check("ours: mode selected", False, "NIXOS2DOCKER_WORKLOAD_MODES does not include ours")
    else:
        ours = modes["ours"]["rows"]
        for m, res in modes.items():
            if m == "ours":
                continue
            beaten = [f"{name} {c}" for name, row in res["rows"].items() for c, v in row.items()
                      if v[0] and not ours.get(name, {}).get(c, (False,))[0]]
            if beaten:
                r.note(f"{m} passes where ours fails: {', '.join(beaten)}")
    summary = side_by_side(modes)
    print(f"\n--- workload@{img.kind.name}: checks passed per mode\n{summary}", flush=True)
    r.extra["modes"] = modes
    r.extra["summary_table"] = summary
    r.extra["daemons"] = {d.name: {"unit": d.unit, "kind": d.kind} for d in DAEMONS}
    # Written at once (the run's result file comes only at its end): every check with its evidence.
    out = os.path.join(os.path.dirname(os.path.abspath(ctx.args.results)),
                       f"{engine + '-' if engine else ''}workload@{img.kind.name}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"key": r.key, "image": img.tag, "modes": modes, "summary_table": summary}, f, indent=1)
    r.note(f"every check with its evidence: {out}")


# Real daemons on every engine (Docker 28.5 + crun, 26.1, 20.10, podman 5.8, 4.3): sid's instance, mode ours.
add_core("workload@sid-workload")
